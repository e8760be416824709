// Package inproc is an http.RoundTripper that hands requests for registered hosts
// straight to their http.Handler in the same process, and everything else to the
// network. Local mode runs the Lambda handlers in the process that also serves the
// DynamoDB, S3 and Step Functions stand-ins; through this transport their AWS SDK
// clients send the very same requests (serialized, with their headers and bodies) and
// read the very same responses, without a loopback socket, a kernel round trip and two
// goroutine wake-ups per call. (Local mode sends them unsigned: the stand-ins accept
// any signature.) A handler that answers at once with a bounded body can be called in
// the caller's own goroutine (HandleBuffered), which spares a goroutine and a pipe too.
// Anything outside the process (the CLI, the AWS CLI, a browser) still reaches the
// stand-ins over TCP.
package inproc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Transport routes requests by host:port.
type Transport struct {
	// Next carries requests for hosts not registered; nil means http.DefaultTransport.
	Next http.RoundTripper

	mu    sync.RWMutex
	hosts map[string]route
}

// route is a registered host's handler, and whether it answers in the caller's goroutine.
type route struct {
	h        http.Handler
	buffered bool
}

var _ http.RoundTripper = (*Transport)(nil)

// Handle serves requests for baseURL's host:port with h, which runs on a goroutine of
// its own and streams its response to the caller as it writes it.
func (t *Transport) Handle(baseURL string, h http.Handler) error {
	return t.handle(baseURL, route{h: h})
}

// HandleBuffered serves requests for baseURL's host:port with h called in the caller's
// goroutine, its whole response held before the caller reads it: for handlers that
// answer at once with bodies of a bounded size (DynamoDB's JSON, 16 MB at most), for
// which a goroutine and a pipe per request cost more than the handler itself. The
// answer carries a Content-Length, as net/http's server gives one written whole. A
// cancelled request is answered with the context's error once h returns: h must
// return when the request's context ends, as the caller cannot leave it earlier.
func (t *Transport) HandleBuffered(baseURL string, h http.Handler) error {
	return t.handle(baseURL, route{h: h, buffered: true})
}

func (t *Transport) handle(baseURL string, r route) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("inproc: %q is not an absolute URL", baseURL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts == nil {
		t.hosts = map[string]route{}
	}
	t.hosts[u.Host] = r
	return nil
}

// RoundTrip serves req in process when its host is registered.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.RLock()
	r := t.hosts[req.URL.Host]
	t.mu.RUnlock()
	h := r.h
	if h == nil {
		next := t.Next
		if next == nil {
			next = http.DefaultTransport
		}
		return next.RoundTrip(req)
	}
	if r.buffered {
		return serveBuffered(h, req)
	}
	sreq := serverRequest(req)
	pr, pw := io.Pipe()
	w := &writer{header: http.Header{}, body: pw, started: make(chan struct{})}
	// As over a connection, a cancelled request also ends a body still being read.
	stop := context.AfterFunc(req.Context(), func() { pw.CloseWithError(req.Context().Err()) })
	go func() {
		defer func() {
			stop()
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the request body, as net/http's does
			}
			if p := recover(); p != nil {
				w.fail(fmt.Errorf("inproc: handler for %s panicked: %v", req.URL.Host, p))
				return
			}
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
			if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil && n != w.written && !bodyless(req.Method, w.status) {
				// A handler that returns before writing the length it declared: the
				// reader sees the short body a dropped connection gives, not a clean EOF.
				pw.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			pw.Close()
		}()
		h.ServeHTTP(w, sreq)
	}()
	select {
	case <-w.started:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	resp := response(req, w.status, w.sent, pr)
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	if bodyless(req.Method, w.status) {
		pr.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

// serveBuffered answers req with h in this goroutine, from a response held whole.
func serveBuffered(h http.Handler, req *http.Request) (resp *http.Response, err error) {
	ctx := req.Context()
	w := &bufferedWriter{header: http.Header{}}
	func() {
		defer func() {
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the request body, as net/http's does
			}
			if p := recover(); p != nil {
				err = fmt.Errorf("inproc: handler for %s panicked: %v", req.URL.Host, p)
			}
		}()
		if ctx.Err() == nil { // a request cancelled already is not served
			h.ServeHTTP(w, serverRequest(req))
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // as over a connection whose answer was cut off
	}
	w.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
	resp = response(req, w.status, w.sent, io.NopCloser(bytes.NewReader(w.body.Bytes())))
	noBody := bodyless(req.Method, w.status)
	if w.sent.Get("Content-Length") == "" && !noBody {
		// As net/http's server declares the length of an answer written whole.
		w.sent.Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
		if n != int64(w.body.Len()) && !noBody {
			// A handler that returns before writing the length it declared: the reader
			// sees the short body a dropped connection gives, not a clean EOF.
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(w.body.Bytes()), failingReader{io.ErrUnexpectedEOF}))
		}
	}
	if noBody {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// response is the HTTP/1.1 answer to req, of unknown length until the caller sets it.
func response(req *http.Request, status int, header http.Header, body io.ReadCloser) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}
}

// bufferedWriter is a handler's http.ResponseWriter that holds the whole response.
type bufferedWriter struct {
	header http.Header
	sent   http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 || w.sent != nil {
		return // informational answers are for the wire; later calls are superfluous
	}
	w.status = code
	w.sent = sent(w.header)
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: the caller reads the response when the handler is done.
func (w *bufferedWriter) Flush() {}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// bodyless reports whether a response to method with status carries no body.
func bodyless(method string, status int) bool {
	return method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
}

// serverRequest is req as a server would receive it: the client's body (read by the
// handler as it streams), Host, RequestURI, Content-Length in the header, a remote
// address on loopback.
func serverRequest(req *http.Request) *http.Request {
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:0"
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	switch {
	case req.ContentLength > 0:
		sreq.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	case req.ContentLength == 0 && (req.Body == nil || req.Body == http.NoBody):
		if req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
			sreq.Header.Set("Content-Length", "0")
		}
	default:
		sreq.ContentLength = -1
		sreq.TransferEncoding = []string{"chunked"}
	}
	return sreq
}

// writer is the handler's http.ResponseWriter: the header goes out on the first
// WriteHeader or Write, the body through a pipe the client reads as it is written.
type writer struct {
	header  http.Header
	sent    http.Header
	status  int
	written int64 // body bytes the reader took
	body    *io.PipeWriter
	started chan struct{}
	once    sync.Once
	err     error
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return // informational answers (100 Continue) are for the wire
	}
	w.once.Do(func() {
		w.status = code
		w.sent = sent(w.header)
		close(w.started)
	})
}

// sent is the header as the handler sends it: its own, from now on, with the Date
// net/http's server adds.
func sent(h http.Header) http.Header {
	h = h.Clone()
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	return h
}

func (w *writer) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	n, err := w.body.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush is a no-op: every Write reaches the reader at once.
func (w *writer) Flush() {}

func (w *writer) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.started)
	})
	w.body.CloseWithError(err)
}
