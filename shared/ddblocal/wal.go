package ddblocal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// The log is one JSON object per line, appended with a single write per request before
// the request is acknowledged. The kernel keeps it across a kill -9 of the process; Close
// syncs it to disk. It is not synced per write (that would cost a millisecond a call on
// a local disk): after a power loss or a kernel crash the last writes may be lost, and
// the zeros a file system can leave in their place end the log. On start it is replayed,
// a torn last line (the process died in the middle of a write that was never
// acknowledged) is cut off, and a log that has grown well beyond the live data is
// rewritten as a snapshot.

// LogName is the log's file name under Options.Path.
const LogName = "dynamodb.log"

type walRecord struct {
	Op    string    `json:"op"` // create, drop, put, del
	Def   *tableDef `json:"def,omitempty"`
	Table string    `json:"table,omitempty"`
	Item  Item      `json:"item,omitempty"`
	Key   Item      `json:"key,omitempty"`
}

// logFile is what the log needs of its file (an *os.File; tests inject failing writes).
type logFile interface {
	io.Writer
	io.Seeker
	io.Closer
	Truncate(size int64) error
	Sync() error
}

type wal struct {
	path string
	f    logFile
	// end is the offset after the last complete write: a write that fails part way (disk
	// full, I/O error) is cut back to it, so the next one does not land behind a
	// fragment. broken is set when even that fails; every later write is then refused.
	end    int64
	broken error
}

func openWAL(dir string, s *Server) (*wal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local DynamoDB: %w", err)
	}
	path := filepath.Join(dir, LogName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local DynamoDB: open %s: %w", path, err)
	}
	// One server per log: two appending to it would interleave their lines.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("local DynamoDB: %s is in use by another process", path)
	}
	records, good, err := replay(f, path, s)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("local DynamoDB: cut the torn end of %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	w := &wal{path: path, f: f, end: good}
	live := 0
	for _, t := range s.tables {
		live += t.count + 1
	}
	if records > 2*live+1000 {
		if err := w.compact(s); err != nil {
			w.f.Close()
			return nil, err
		}
	}
	return w, nil
}

// replay applies the log to s and returns the record count and the offset after the
// last complete line.
func replay(f *os.File, path string, s *Server) (int, int64, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	n := 0
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// No newline: a write cut short by a crash; it was never acknowledged.
			return n, off, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("local DynamoDB: read %s: %w", path, err)
		}
		var rec walRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			if b[0] == 0 {
				// A file system that allocates blocks lazily can leave zeros where the
				// last writes were when the machine (not just the process) stopped:
				// those writes are lost, what came before them is kept.
				return n, off, nil
			}
			return 0, 0, fmt.Errorf("local DynamoDB: %s line %d is corrupt (%v); move the file away to start empty", path, line, err)
		}
		if err := s.apply(rec); err != nil {
			return 0, 0, fmt.Errorf("local DynamoDB: %s line %d: %w", path, line, err)
		}
		off += int64(len(b))
		n++
	}
}

func (s *Server) apply(rec walRecord) error {
	switch rec.Op {
	case "create":
		if rec.Def == nil {
			return errors.New("create without a table definition")
		}
		s.tables[rec.Def.Name] = newTable(*rec.Def)
		return nil
	case "drop":
		delete(s.tables, rec.Table)
		return nil
	}
	t := s.tables[rec.Table]
	if t == nil {
		return fmt.Errorf("%s on unknown table %q", rec.Op, rec.Table)
	}
	switch rec.Op {
	case "put":
		t.put(rec.Item)
	case "del":
		t.remove(rec.Key)
	default:
		return fmt.Errorf("unknown operation %q", rec.Op)
	}
	return nil
}

// commit makes writes durable and then applies them: the records are appended to the log
// in one write and applied by the same code that replays the log on start, so a live
// write and its replay cannot differ.
func (s *Server) commit(recs ...walRecord) error {
	if err := s.logRecords(recs...); err != nil {
		return err
	}
	for _, r := range recs {
		if err := s.apply(r); err != nil {
			return &apiError{Type: "InternalServerError", Msg: "apply a logged write: " + err.Error(), Status: 500}
		}
	}
	return nil
}

// logRecords appends records in one write. Without a log (in memory) it does nothing.
func (s *Server) logRecords(recs ...walRecord) error {
	if s.log == nil {
		return nil
	}
	if s.closed {
		return &apiError{Type: "InternalServerError", Msg: "the local DynamoDB is closed", Status: 500}
	}
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return s.log.append(buf.Bytes())
}

func (w *wal) append(b []byte) error {
	if w.broken != nil {
		return &apiError{Type: "InternalServerError", Msg: "the local DynamoDB log is unusable after a failed write (" + w.broken.Error() + "); restart shipgate", Status: 500}
	}
	n, err := w.f.Write(b)
	if err == nil {
		w.end += int64(n)
		return nil
	}
	if n > 0 {
		if terr := w.f.Truncate(w.end); terr != nil {
			w.broken = terr
		} else if _, serr := w.f.Seek(w.end, io.SeekStart); serr != nil {
			w.broken = serr
		}
	}
	return &apiError{Type: "InternalServerError", Msg: "write the local DynamoDB log: " + err.Error(), Status: 500}
}

// compact rewrites the log as the current tables and items, atomically.
func (w *wal) compact(s *Server) error {
	tmp := w.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("local DynamoDB: compact: %w", err)
	}
	// The new file becomes the log: it is locked before it takes the old one's place.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("local DynamoDB: compact: lock %s: %w", tmp, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	err = func() error {
		for _, name := range sortedKeys(s.tables) {
			t := s.tables[name]
			def := t.def
			if err := enc.Encode(walRecord{Op: "create", Def: &def}); err != nil {
				return err
			}
			for _, pk := range sortedKeys(t.parts) {
				for _, it := range t.parts[pk].items {
					if err := enc.Encode(walRecord{Op: "put", Table: name, Item: it}); err != nil {
						return err
					}
				}
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return f.Sync()
	}()
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("local DynamoDB: compact %s: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	w.f.Close()
	w.f = f
	w.end, err = f.Seek(0, io.SeekEnd)
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (w *wal) close() error {
	return errors.Join(w.f.Sync(), w.f.Close())
}
