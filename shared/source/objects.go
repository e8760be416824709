//go:build linux && !lambda.norpc

package source

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/shipgate/shipgate/shared/gitobj"
)

// objectStore reads the objects of a SHA-1 repository on this machine, loose or packed,
// for the checkout that local pushes take without a git process (checkout.go). Anything
// it does not fully understand is errUnsupported, and the caller leaves the work to git:
// git stays the reference for what a checkout contains.
type objectStore struct {
	dir   string // the objects directory
	packs []*packFile
	// loaded says whether the pack indexes were read: a push of a few objects is all
	// loose, and then no index is opened.
	loaded bool
}

// errUnsupported means "ask git": an object or layout this reader does not handle.
var errUnsupported = errors.New("not handled without git")

// Limits past which git is asked instead: a blob this large is streamed by git, not held
// in memory here, and a delta chain this long is no packing git makes by default (50).
const (
	maxObjectBytes = 32 << 20
	maxDeltaDepth  = 64
)

func newObjectStore(dir string) (*objectStore, error) {
	// Objects borrowed from yet another repository (or a partial clone's promisor) are
	// git's to find.
	for _, f := range []string{"info/alternates", "info/http-alternates"} {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f))); !errors.Is(err, fs.ErrNotExist) {
			return nil, errUnsupported
		}
	}
	return &objectStore{dir: dir}, nil
}

// read returns object id's type and content, verified against id.
func (s *objectStore) read(id string) (typ string, data []byte, err error) { return s.readAt(id, 0) }

// readAt is read for the base of a delta depth deltas down.
func (s *objectStore) readAt(id string, depth int) (typ string, data []byte, err error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != sha1.Size {
		return "", nil, errUnsupported
	}
	typ, data, err = gitobj.ReadLoose(s.dir, id, maxObjectBytes)
	switch {
	case err == nil:
		return typ, data, nil // checked against its id
	case !errors.Is(err, fs.ErrNotExist):
		return "", nil, errUnsupported
	}
	if typ, data, err = s.readPacked(raw, depth); err != nil {
		return "", nil, err
	}
	if hex.EncodeToString(objectHash(typ, data)) != id {
		return "", nil, fmt.Errorf("%w: object %s does not hash to its name", errUnsupported, id)
	}
	return typ, data, nil
}

func objectHash(typ string, data []byte) []byte {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", typ, len(data))
	h.Write(data)
	return h.Sum(nil)
}

// packFile is one pack and its version 2 index.
type packFile struct {
	path    string // the .pack
	fanout  [256]uint32
	names   []byte   // sorted 20-byte ids
	offsets []byte   // 4-byte offsets (high bit: index into large)
	large   []byte   // 8-byte offsets
	f       *os.File // the pack, opened once needed
	size    int64
	idx     []byte // the mapped index the slices above are in
}

func (p *packFile) open() error {
	f, err := os.Open(p.path)
	if err != nil {
		return errUnsupported
	}
	head := make([]byte, 8)
	st, err := f.Stat()
	if err != nil || st.Size() < 12+sha1.Size {
		f.Close()
		return errUnsupported
	}
	if _, err := f.ReadAt(head, 0); err != nil || !bytes.Equal(head, []byte{'P', 'A', 'C', 'K', 0, 0, 0, 2}) {
		f.Close()
		return errUnsupported
	}
	p.f, p.size = f, st.Size()
	return nil
}

func (s *objectStore) loadPacks() error {
	s.loaded = true
	idxs, err := filepath.Glob(filepath.Join(s.dir, "pack", "*.idx"))
	if err != nil {
		return errUnsupported
	}
	sort.Strings(idxs)
	for _, idx := range idxs {
		p, err := openIndex(idx)
		if err != nil {
			return err // the packs opened so far are released by close
		}
		s.packs = append(s.packs, p)
	}
	return nil
}

// openIndex maps a pack's index: a large repository's indexes run to hundreds of
// megabytes, of which a checkout reads a few pages.
func openIndex(path string) (*packFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errUnsupported
	}
	defer f.Close()
	st, err := f.Stat()
	const head = 8 + 256*4
	if err != nil || st.Size() < head+2*sha1.Size || st.Size() > 1<<40 {
		return nil, errUnsupported
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, errUnsupported
	}
	p := &packFile{path: path[:len(path)-len(".idx")] + ".pack", idx: b}
	if !bytes.Equal(b[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		p.close()
		return nil, errUnsupported
	}
	for i := range p.fanout {
		p.fanout[i] = binary.BigEndian.Uint32(b[8+4*i:])
		if i > 0 && p.fanout[i] < p.fanout[i-1] {
			p.close()
			return nil, errUnsupported
		}
	}
	n := int(p.fanout[255])
	rest := b[head : len(b)-2*sha1.Size]
	if n > len(rest)/(sha1.Size+8) {
		p.close()
		return nil, errUnsupported
	}
	p.names = rest[:n*sha1.Size]
	rest = rest[n*sha1.Size+n*4:] // past the CRCs
	p.offsets = rest[:n*4]
	p.large = rest[n*4:]
	if len(p.large)%8 != 0 {
		p.close()
		return nil, errUnsupported
	}
	return p, nil
}

// close unmaps the index and closes the pack.
func (p *packFile) close() {
	if p.idx != nil {
		syscall.Munmap(p.idx)
		p.idx = nil
	}
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

// find returns the offset of id in the pack, or -1.
func (p *packFile) find(id []byte) int64 {
	lo := 0
	if id[0] > 0 {
		lo = int(p.fanout[id[0]-1])
	}
	hi := int(p.fanout[id[0]])
	i := lo + sort.Search(hi-lo, func(i int) bool {
		return bytes.Compare(p.names[(lo+i)*sha1.Size:(lo+i+1)*sha1.Size], id) >= 0
	})
	if i >= hi || !bytes.Equal(p.names[i*sha1.Size:(i+1)*sha1.Size], id) {
		return -1
	}
	off := binary.BigEndian.Uint32(p.offsets[i*4:])
	if off&0x80000000 == 0 {
		return int64(off)
	}
	j := int(off &^ 0x80000000)
	if (j+1)*8 > len(p.large) {
		return -1
	}
	return int64(binary.BigEndian.Uint64(p.large[j*8:]))
}

// close releases the packs opened.
func (s *objectStore) close() {
	for _, p := range s.packs {
		p.close()
	}
}

func (s *objectStore) readPacked(id []byte, depth int) (string, []byte, error) {
	if !s.loaded {
		if err := s.loadPacks(); err != nil {
			return "", nil, err
		}
	}
	for _, p := range s.packs {
		if off := p.find(id); off >= 0 {
			if p.f == nil {
				if err := p.open(); err != nil {
					return "", nil, err
				}
			}
			return s.entry(p, off, depth)
		}
	}
	return "", nil, errUnsupported // missing: git says why
}

// Pack entry types.
const (
	packCommit   = 1
	packTree     = 2
	packBlob     = 3
	packTag      = 4
	packOfsDelta = 6
	packRefDelta = 7
)

// entry inflates the pack entry at off, applying deltas to their bases.
func (s *objectStore) entry(p *packFile, off int64, depth int) (string, []byte, error) {
	end := p.size - sha1.Size
	if depth > maxDeltaDepth || off < 12 || off >= end {
		return "", nil, errUnsupported
	}
	// An entry's header (type, size, and a delta's base) fits in 32 bytes.
	b := make([]byte, min(32, end-off))
	if _, err := p.f.ReadAt(b, off); err != nil {
		return "", nil, errUnsupported
	}
	c := b[0]
	kind := int(c>>4) & 7
	size := int64(c & 15)
	i, shift := 1, 4
	for c&0x80 != 0 {
		if i >= len(b) || shift > 56 {
			return "", nil, errUnsupported
		}
		c = b[i]
		size |= int64(c&0x7f) << shift
		shift += 7
		i++
	}
	if size > maxObjectBytes {
		return "", nil, errUnsupported
	}
	var baseType string
	var base []byte
	var err error
	switch kind {
	case packOfsDelta:
		if i >= len(b) {
			return "", nil, errUnsupported
		}
		c = b[i]
		i++
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if i >= len(b) || rel > 1<<48 {
				return "", nil, errUnsupported
			}
			c = b[i]
			i++
			rel = (rel+1)<<7 | int64(c&0x7f)
		}
		if rel <= 0 || rel > off {
			return "", nil, errUnsupported
		}
		baseType, base, err = s.entry(p, off-rel, depth+1)
	case packRefDelta:
		if i+sha1.Size > len(b) {
			return "", nil, errUnsupported
		}
		baseID := hex.EncodeToString(b[i : i+sha1.Size])
		i += sha1.Size
		if depth+1 > maxDeltaDepth {
			return "", nil, errUnsupported
		}
		baseType, base, err = s.readAt(baseID, depth+1)
	case packCommit, packTree, packBlob, packTag:
	default:
		return "", nil, errUnsupported
	}
	if err != nil {
		return "", nil, err
	}
	data, err := inflate(io.NewSectionReader(p.f, off+int64(i), end-off-int64(i)), size)
	if err != nil {
		return "", nil, err
	}
	switch kind {
	case packOfsDelta, packRefDelta:
		out, err := applyDelta(base, data)
		return baseType, out, err
	case packCommit:
		return "commit", data, nil
	case packTree:
		return "tree", data, nil
	case packBlob:
		return "blob", data, nil
	default:
		return "tag", data, nil
	}
}

func inflate(r io.Reader, size int64) ([]byte, error) {
	zr, err := zlib.NewReader(bufio.NewReaderSize(r, 16<<10))
	if err != nil {
		return nil, errUnsupported
	}
	defer zr.Close()
	out := make([]byte, size)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, errUnsupported
	}
	return out, nil
}

// applyDelta rebuilds an object from its base and a git delta: the two sizes, then
// copy-from-base and insert instructions.
func applyDelta(base, delta []byte) ([]byte, error) {
	i := 0
	varint := func() (int64, bool) {
		var v int64
		for shift := 0; i < len(delta) && shift < 63; shift += 7 {
			c := delta[i]
			i++
			v |= int64(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	// operand reads a copy instruction's offset (4 bytes) or size (3): little-endian, with
	// only the bytes its bits name present.
	operand := func(bits byte, width int) (int64, bool) {
		var v int64
		for k := range width {
			if bits&(1<<k) != 0 {
				if i >= len(delta) {
					return 0, false
				}
				v |= int64(delta[i]) << (8 * k)
				i++
			}
		}
		return v, true
	}
	srcSize, ok1 := varint()
	dstSize, ok2 := varint()
	if !ok1 || !ok2 || srcSize != int64(len(base)) || dstSize > maxObjectBytes {
		return nil, errUnsupported
	}
	out := make([]byte, 0, dstSize)
	for i < len(delta) {
		c := delta[i]
		i++
		switch {
		case c&0x80 != 0: // copy from the base
			off, ok1 := operand(c, 4)
			n, ok2 := operand(c>>4, 3)
			if !ok1 || !ok2 {
				return nil, errUnsupported
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > int64(len(base)) || int64(len(out))+n > dstSize {
				return nil, errUnsupported
			}
			out = append(out, base[off:off+n]...)
		case c != 0: // insert the next c bytes
			n := int(c)
			if i+n > len(delta) || int64(len(out)+n) > dstSize {
				return nil, errUnsupported
			}
			out = append(out, delta[i:i+n]...)
			i += n
		default:
			return nil, errUnsupported // reserved
		}
	}
	if int64(len(out)) != dstSize {
		return nil, errUnsupported
	}
	return out, nil
}
