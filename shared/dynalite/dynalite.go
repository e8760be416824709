// Package dynalite starts and stops a local DynamoDB-protocol server (the npm package
// dynalite, installed by `make deps` under node_modules) so that the exact DynamoDB code
// that runs on AWS runs locally: conditional writes, GSIs and Query behave as on AWS.
package dynalite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a running dynalite process.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs bytes.Buffer
}

// Options configure Start.
type Options struct {
	// Path keeps the data on disk under this directory; empty keeps it in memory.
	Path string
	// Addr is host:port to listen on; empty picks a free port on 127.0.0.1.
	Addr string
	// Bin is the dynalite executable; empty searches node_modules/.bin upwards from the
	// working directory and from the executable, then $PATH.
	Bin string
}

// Start launches dynalite and waits until it answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin := o.Bin
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	host, port := "127.0.0.1", 0
	if o.Addr != "" {
		h, p, err := net.SplitHostPort(o.Addr)
		if err != nil {
			return nil, fmt.Errorf("dynalite address %q: %w", o.Addr, err)
		}
		host = h
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("dynalite address %q: bad port", o.Addr)
		}
	}
	if port == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port for dynalite: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	args := []string{"--port", strconv.Itoa(port), "--host", host, "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	if o.Path != "" {
		if err := os.MkdirAll(o.Path, 0o700); err != nil {
			return nil, fmt.Errorf("dynalite data dir: %w", err)
		}
		args = append(args, "--path", o.Path)
	}
	s := &Server{URL: "http://" + net.JoinHostPort(host, strconv.Itoa(port)), done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = &lockedWriter{s}
	s.cmd.Stderr = &lockedWriter{s}
	// Its own process group, so a Ctrl-C in the terminal reaches shipgate first and
	// shipgate stops dynalite in order (after the last write), not mid-write.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite (%s): %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Ready only when this process says it listens and the port answers: another
		// server on a port that dynalite failed to take must not pass for it.
		if strings.Contains(s.output(), "listening at") {
			if err := ping(ctx, s.URL); err == nil {
				select {
				case <-s.done:
				default:
					return s, nil
				}
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("dynalite exited at start: %s", strings.TrimSpace(s.output()))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("dynalite did not answer within 15s: %s", strings.TrimSpace(s.output()))
		}
	}
}

// ping sends an unsigned request; any HTTP answer means the server is up.
func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Stop ends the server gracefully (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return nil
}

// Kill ends the server at once, as a crash would (tests of durability use it).
func (s *Server) Kill() {
	if s != nil && s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

type lockedWriter struct{ s *Server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.logs.Len() < 64<<10 {
		w.s.logs.Write(p)
	}
	return len(p), nil
}

// Find locates the dynalite executable: $SHIPGATE_DYNALITE, node_modules/.bin in the
// working directory or a parent, next to the shipgate executable, then $PATH.
func Find() (string, error) {
	if p := os.Getenv("SHIPGATE_DYNALITE"); p != "" {
		return p, nil
	}
	var roots []string
	if wd, err := os.Getwd(); err == nil {
		roots = append(roots, wd)
	}
	if exe, err := os.Executable(); err == nil {
		roots = append(roots, filepath.Dir(exe))
	}
	for _, r := range roots {
		for dir := r; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, "node_modules", ".bin", "dynalite")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p, nil
	}
	return "", errors.New("dynalite not found: run `make deps` (npm install) in the shipgate checkout, or set SHIPGATE_DYNALITE")
}
