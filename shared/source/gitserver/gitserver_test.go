package gitserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, opts Options) (*Server, *http.Client, string) {
	t.Helper()
	work, err := InitRepo(filepath.Join(t.TempDir(), "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := work.Commit("first", map[string]string{"a.txt": "a\n"})
	if err != nil {
		t.Fatal(err)
	}
	opts.Root = t.TempDir()
	if err := work.PushBare(filepath.Join(opts.Root, "acme", "app.git")); err != nil {
		t.Fatal(err)
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	pemBytes, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CAFile holds no certificate")
	}
	return s, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, sha
}

func TestAuth(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keys := CodeCommitKeys{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "eu-west-1", Now: func() time.Time { return at }}
	tests := []struct {
		name       string
		opts       Options
		auth       string
		wantStatus int
	}{
		{"open", Options{}, "", 200},
		{"github right token", Options{Auth: GitHubToken("tok")}, BasicHeader("x-access-token", "tok"), 200},
		{"github wrong token", Options{Auth: GitHubToken("tok")}, BasicHeader("x-access-token", "nope"), 401},
		{"github no credentials", Options{Auth: GitHubToken("tok")}, "", 401},
		{"codecommit wrong signature", Options{Auth: CodeCommitSigV4(keys), DeniedStatus: 403}, BasicHeader("AKIDEXAMPLE", "20260102T030405Z00"), 403},
		{"codecommit other key", Options{Auth: CodeCommitSigV4(keys), DeniedStatus: 403}, BasicHeader("AKIDOTHER", "20260102T030405Z00"), 403},
		{"codecommit malformed password", Options{Auth: CodeCommitSigV4(keys), DeniedStatus: 403}, BasicHeader("AKIDEXAMPLE", "secret"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, client, sha := serve(t, tt.opts)
			req, _ := http.NewRequest("GET", s.URL+"/acme/app.git/info/refs?service=git-upload-pack", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 200 && !strings.Contains(string(body), sha+" refs/heads/main") {
				t.Errorf("advertisement lacks %s refs/heads/main:\n%s", sha, body)
			}
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

// The CodeCommit check recomputes the signature git-remote-codecommit sends; the
// expected value comes from botocore's SigV4Auth over the same canonical request.
func TestCodeCommitSignature(t *testing.T) {
	got := codeCommitSignature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1", "git-codecommit.eu-west-1.amazonaws.com", "/v1/repos/my-repo", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if want := "6632a63f2ab79a3a82dfa158ff5cd1f30200897a54ce483fc8436d66ac1fda20"; got != want {
		t.Errorf("got %s want %s", got, want)
	}
	for path, want := range map[string]string{
		"/v1/repos/app/info/refs":       "/v1/repos/app",
		"/v1/repos/app/git-upload-pack": "/v1/repos/app",
		"/v1/repos/app":                 "/v1/repos/app",
	} {
		if got := repoPath(path); got != want {
			t.Errorf("repoPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// net/http/cgi refuses chunked bodies; the handler buffers them, as git sends large
// negotiation requests chunked.
func TestChunkedRequest(t *testing.T) {
	s, client, sha := serve(t, Options{})
	body := io.MultiReader(strings.NewReader("0014command=ls-refs\n"), strings.NewReader("0000"))
	req, _ := http.NewRequest("POST", s.URL+"/acme/app.git/git-upload-pack", body)
	req.ContentLength = -1 // sent chunked
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Git-Protocol", "version=2")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(out), sha+" refs/heads/main") {
		t.Errorf("got %d %q; want 200 listing refs/heads/main", resp.StatusCode, out)
	}
}

func TestDelayEndsWithTheClient(t *testing.T) {
	s, client, _ := serve(t, Options{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/acme/app.git/info/refs?service=git-upload-pack", nil)
	start := time.Now()
	if _, err := client.Do(req); err == nil {
		t.Fatal("request answered during the delay")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("client waited %v", d)
	}
}

func TestRepoIsDeterministic(t *testing.T) {
	var shas []string
	for range 2 {
		r, err := InitRepo(filepath.Join(t.TempDir(), "r"), "main")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Commit("one", map[string]string{"a/b.txt": "b\n"}); err != nil {
			t.Fatal(err)
		}
		sha, err := r.Remove("two", "a/b.txt")
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, sha)
	}
	if shas[0] != shas[1] {
		t.Errorf("same commits gave different SHAs: %s, %s", shas[0], shas[1])
	}
}
