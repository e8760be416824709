// Package gitserver serves real git repositories over smart HTTP(S) for tests: `git
// http-backend` runs behind a Go http.Handler that first checks the credentials a hosting
// provider expects (a GitHub token, CodeCommit's SigV4-derived password). Tests of the
// source fetcher, the build stage and whole local runs talk to it with the real git
// client, so what they prove is what happens against GitHub or CodeCommit, minus the
// network. It also creates repositories with commits, with git isolated from the
// user's configuration.
package gitserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Auth checks a request's credentials; a non-nil error refuses it.
type Auth func(r *http.Request) error

// Options configure a Server.
type Options struct {
	// Root holds the bare repositories; a request for /a/b.git serves Root/a/b.git.
	Root string
	// Auth, when set, must accept every request.
	Auth Auth
	// DeniedStatus answers refused requests: 401 (GitHub) or 403 (CodeCommit).
	// 0 means 401.
	DeniedStatus int
	// Delay holds every request this long (or until the client gives up) before
	// answering, to test timeouts.
	Delay time.Duration
	// Git is the git binary; "" means "git" on PATH.
	Git string
	// ProtocolV0 ignores the client's request for protocol v2, so the server, like older
	// or stricter hosts, refuses to send commits no ref points at.
	ProtocolV0 bool
}

// Server is a running HTTPS git server on 127.0.0.1 with a self-signed certificate.
type Server struct {
	// URL is https://127.0.0.1:PORT (no trailing slash).
	URL string
	// CAFile is a PEM file holding the server's certificate, for git's http.sslCAInfo.
	CAFile string
	srv    *httptest.Server
	dir    string
	// Denied and Served count requests, for tests that assert credentials were checked.
	Denied, Served atomic.Int64
}

// Start serves opts.Root over HTTPS on 127.0.0.1:0.
func Start(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("gitserver: Options.Root is required")
	}
	h, err := NewHandler(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.Auth != nil {
			if err := opts.Auth(r); err != nil {
				s.Denied.Add(1)
				status := opts.DeniedStatus
				if status == 0 {
					status = http.StatusUnauthorized
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
				http.Error(w, "denied: "+err.Error(), status)
				return
			}
		}
		s.Served.Add(1)
		h.ServeHTTP(w, r)
	}))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients killed mid-transfer are expected
	s.srv.StartTLS()
	s.URL = s.srv.URL
	s.dir, err = os.MkdirTemp("", "gitserver-ca-")
	if err != nil {
		s.srv.Close()
		return nil, err
	}
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, pemBytes, 0o600); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server and removes its certificate file.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// NewHandler returns the smart-HTTP handler alone (no authentication), running `git
// http-backend` as a CGI program over opts.Root.
func NewHandler(opts Options) (http.Handler, error) {
	git := opts.Git
	if git == "" {
		var err error
		if git, err = exec.LookPath("git"); err != nil {
			return nil, fmt.Errorf("gitserver: git not found: %w", err)
		}
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	cg := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Root: "/",
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"HOME=" + root, // global config is /dev/null; nothing is read from HOME
		},
		Stderr: io.Discard,
	}
	delay := opts.Delay
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.ProtocolV0 {
			r.Header.Del("Git-Protocol")
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		// net/http/cgi refuses chunked bodies, which git sends for large negotiations;
		// buffer them (bounded) so the CGI sees a Content-Length.
		if len(r.TransferEncoding) > 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.TransferEncoding = nil
		}
		cg.ServeHTTP(w, r)
	}), nil
}

// basic extracts HTTP Basic credentials.
func basic(r *http.Request) (user, pass string, err error) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", errors.New("no credentials")
	}
	return u, p, nil
}

// GitHubToken accepts what GitHub accepts for HTTPS git with an installation or personal
// access token: Basic auth whose password is the token (GitHub ignores the user name;
// x-access-token is customary).
func GitHubToken(token string) Auth {
	return func(r *http.Request) error {
		_, p, err := basic(r)
		if err != nil {
			return err
		}
		if !hmac.Equal([]byte(p), []byte(token)) {
			return errors.New("bad token")
		}
		return nil
	}
}

// CodeCommitKeys are the IAM credentials a CodeCommit stand-in trusts.
type CodeCommitKeys struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Region          string
	// Now is the server's clock; nil means time.Now. Signatures older or newer than 15
	// minutes are refused, as CodeCommit does.
	Now func() time.Time
}

// CodeCommitSigV4 accepts CodeCommit's IAM-derived git credentials: user name
// "ACCESSKEYID" or "ACCESSKEYID%SESSIONTOKEN", password "<yyyymmddThhmmss>Z<hex
// signature>", the signature being SigV4 over the pseudo request "GIT <repo path>" with
// only the host header signed, for service "codecommit".
func CodeCommitSigV4(k CodeCommitKeys) Auth {
	return func(r *http.Request) error {
		user, pass, err := basic(r)
		if err != nil {
			return err
		}
		akid, token, _ := strings.Cut(user, "%")
		if akid != k.AccessKeyID || token != k.SessionToken {
			return errors.New("unknown access key or session token")
		}
		stamp, sig, ok := strings.Cut(pass, "Z")
		if !ok || len(stamp) != 15 {
			return errors.New("malformed password")
		}
		t, err := time.Parse("20060102T150405", stamp)
		if err != nil {
			return errors.New("malformed timestamp")
		}
		now := time.Now
		if k.Now != nil {
			now = k.Now
		}
		if d := now().Sub(t); d > 15*time.Minute || d < -15*time.Minute {
			return errors.New("signature expired")
		}
		want := codeCommitSignature(k.SecretAccessKey, k.Region, r.Host, repoPath(r.URL.Path), t)
		if !hmac.Equal([]byte(sig), []byte(want)) {
			return errors.New("signature mismatch")
		}
		return nil
	}
}

// repoPath strips the smart-HTTP endpoint from a request path: CodeCommit signs the
// repository's path, not each request's.
func repoPath(p string) string {
	for _, suffix := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
		if strings.HasSuffix(p, suffix) {
			return strings.TrimSuffix(p, suffix)
		}
	}
	return p
}

func codeCommitSignature(secret, region, host, path string, t time.Time) string {
	t = t.UTC()
	canonical := "GIT\n" + path + "\n\nhost:" + host + "\n\nhost\n"
	sum := sha256.Sum256([]byte(canonical))
	scope := t.Format("20060102") + "/" + region + "/codecommit/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + t.Format("20060102T150405") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac([]byte("AWS4"+secret), t.Format("20060102"))
	key = mac(key, region)
	key = mac(key, "codecommit")
	key = mac(key, "aws4_request")
	return hex.EncodeToString(mac(key, toSign))
}

// BasicHeader is the Authorization header value for user and password, for tests that
// call the server directly.
func BasicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
