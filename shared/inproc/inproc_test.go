package inproc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/inproc"
	"github.com/shipgate/shipgate/shared/s3local"
)

func TestRoutesRegisteredHostsInProcessAndTheRestToTheNetwork(t *testing.T) {
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "network")
	}))
	defer remote.Close()
	var tr inproc.Transport
	var seen *http.Request
	var body string
	if err := tr.Handle("http://127.0.0.1:9", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Answer", "42")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "in process")
	})); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &tr}
	resp, err := c.Post("http://127.0.0.1:9/a/b?x=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, tc := range []struct{ name, got, want string }{
		{"status", resp.Status, "201 Created"},
		{"header", resp.Header.Get("X-Answer"), "42"},
		{"body", string(got), "in process"},
		{"request body", body, "hello"},
		{"request URI", seen.RequestURI, "/a/b?x=1"},
		{"host", seen.Host, "127.0.0.1:9"},
		{"content length", seen.Header.Get("Content-Length"), "5"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	resp, err = c.Get(remote.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "network" {
		t.Errorf("unregistered host: got %q, want the network's answer", got)
	}
}

func TestStreamsTheResponseAsTheHandlerWritesIt(t *testing.T) {
	var tr inproc.Transport
	release := make(chan struct{})
	tr.Handle("http://stream:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		<-release
		io.WriteString(w, "-second")
	}))
	resp, err := (&http.Client{Transport: &tr}).Get("http://stream:1/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first chunk before the handler finished: %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "-second" {
		t.Errorf("rest: got %q", rest)
	}
}

func TestHeadAndHandlerFailures(t *testing.T) {
	var tr inproc.Transport
	tr.Handle("http://h:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/slow":
			time.Sleep(time.Second)
		}
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
	}))
	c := &http.Client{Transport: &tr}
	resp, err := c.Head("http://h:1/x")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != 1000 || resp.Body != http.NoBody {
		t.Errorf("HEAD: length %d body %T, want 1000 and no body", resp.ContentLength, resp.Body)
	}
	if _, err := c.Get("http://h:1/panic"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("panic: got %v, want an error saying the handler panicked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://h:1/slow", nil)
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: got %v, want the context's error", err)
	}
	if err := tr.Handle("not a url", http.NotFoundHandler()); err == nil {
		t.Error("Handle accepted a relative URL")
	}
}

// TestTheAWSSDKThroughTheTransport puts and gets a 20 MiB object on the S3 stand-in
// with the real SDK, in process.
func TestTheAWSSDKThroughTheTransport(t *testing.T) {
	srv, err := s3local.Start(s3local.Options{Buckets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	ep := awsclient.Endpoints{S3: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	tr := &inproc.Transport{Next: failing{t}}
	tr.Handle(srv.URL, srv.Handler())
	cfg.HTTPClient = &http.Client{Transport: tr}
	c := awsclient.S3(cfg, ep)
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<16)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("GetObject: %d bytes, err %v; want the %d bytes put", len(got), err, len(data))
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("missing")}); err == nil {
		t.Error("HeadObject of a missing key succeeded")
	}
}

// failing fails the test if a request leaves the process.
type failing struct{ t *testing.T }

func (f failing) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("request to %s went to the network", r.URL)
	return nil, errors.New("no network in this test")
}

func TestBodyEndsAsOverAConnection(t *testing.T) {
	var tr inproc.Transport
	block := make(chan struct{})
	defer close(block)
	tr.Handle("http://b:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345") // the handler gives up half way
		case "/hang":
			io.WriteString(w, "x")
			<-block
		default:
			io.WriteString(w, "ok")
		}
	}))
	c := &http.Client{Transport: &tr}

	resp, err := c.Get("http://b:1/short")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: got %v, want io.ErrUnexpectedEOF", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://b:1/hang", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); read <- err }()
	cancel()
	select {
	case err := <-read:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled request's body read did not end")
	}

	resp, err = c.Get("http://b:1/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Errorf("Date header %q: %v", resp.Header.Get("Date"), err)
	}
}

// TestBufferedAnswersAsTheStreamingPathDoes: a handler registered with HandleBuffered
// gives the caller what the same handler registered with Handle gives: status, headers,
// body, the request as a server sees it, a short body's error, a panic's, a HEAD's and a
// 204's empty body, and a cancelled request's error; and, as net/http's server for an
// answer written whole, the length of a body whose handler declared none.
func TestBufferedAnswersAsTheStreamingPathDoes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			return
		case "/nothing":
			return
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.Header().Set("X-Seen", r.Method+" "+r.Host+" "+r.RequestURI+" "+r.Header.Get("Content-Length")+" "+string(b))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "answer")
	})
	var tr inproc.Transport
	tr.Handle("http://streaming:1", h)
	tr.HandleBuffered("http://buffered:1", h)
	c := &http.Client{Transport: &tr}
	type answer struct {
		status, header, body, err string
		length                    int64
	}
	ask := func(ctx context.Context, host, method, path, body string) answer {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+host+":1"+path, strings.NewReader(body))
		if body == "" {
			req.Body = nil
		}
		resp, err := c.Do(req)
		if err != nil {
			return answer{err: strings.ReplaceAll(err.Error(), host, "HOST")}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.Header.Get("Date") == "" {
			t.Errorf("%s %s: no Date header", host, path)
		}
		h := resp.Header.Clone()
		h.Del("Date")
		if host == "buffered" && h.Get("Content-Length") == strconv.Itoa(len(b)) && resp.ContentLength == int64(len(b)) &&
			path != "/short" && method != http.MethodHead {
			// The length the streaming path leaves out (-1), the buffered one declares.
			h.Del("Content-Length")
			resp.ContentLength = -1
		}
		a := answer{status: resp.Status, header: strings.ReplaceAll(fmt.Sprint(h), host, "HOST"), body: string(b), length: resp.ContentLength}
		if err != nil {
			a.err = err.Error()
		}
		return a
	}
	background := func() context.Context { return context.Background() }
	cancelled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	soon := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	for _, tc := range []struct {
		name, method, path, body string
		ctx                      func() context.Context
	}{
		{"post", http.MethodPost, "/a?x=1", "hello", background},
		{"get", http.MethodGet, "/b", "", background},
		{"head", http.MethodHead, "/c", "", background},
		{"panic", http.MethodGet, "/panic", "", background},
		{"short body", http.MethodGet, "/short", "", background},
		{"nothing written", http.MethodGet, "/nothing", "", background},
		{"no content", http.MethodGet, "/nocontent", "", background},
		{"cancelled before", http.MethodGet, "/b", "", cancelled},
		{"cancelled while answering", http.MethodGet, "/slow", "", soon},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ask(tc.ctx(), "streaming", tc.method, tc.path, tc.body)
			got := ask(tc.ctx(), "buffered", tc.method, tc.path, tc.body)
			if got != want {
				t.Errorf("buffered: %+v\nstreaming: %+v", got, want)
			}
		})
	}
}
