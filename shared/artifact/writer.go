package artifact

import (
	"context"
	"errors"
	"io"
)

// Writer streams what is written to it into one object, for producers that write rather
// than hand over a reader (a command's output). Close finishes the upload.
type Writer struct {
	pw   *io.PipeWriter
	done chan struct{}
	obj  Object
	err  error
}

// NewWriter starts an upload to key that ends when the Writer is closed.
func (s *Store) NewWriter(ctx context.Context, key, contentType string) *Writer {
	pr, pw := io.Pipe()
	w := &Writer{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.obj, w.err = s.Put(ctx, key, pr, contentType)
		// If the upload failed early, later writes must fail rather than block.
		pr.CloseWithError(errors.Join(errors.New("upload ended"), w.err))
	}()
	return w
}

func (w *Writer) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the object and waits for the upload to complete.
func (w *Writer) Close() error {
	w.pw.Close()
	<-w.done
	return w.err
}

// Object describes the uploaded object; valid after Close returned nil.
func (w *Writer) Object() Object { return w.obj }
