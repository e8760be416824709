package source

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/source/gitserver"
)

// secretsServer speaks the Secrets Manager JSON protocol for GetSecretValue, so the
// token function is tested through the real SDK client.
func secretsServer(t *testing.T, secrets map[string]string, calls *atomic.Int64) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(secretsConfig(t, secrets, calls))
}

func secretsConfig(t *testing.T, secrets map[string]string, calls *atomic.Int64) aws.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
			http.Error(w, "unexpected target "+got, http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := secrets[in.SecretId]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + in.SecretId, "Name": in.SecretId, "SecretString": v})
	}))
	t.Cleanup(srv.Close)
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	}
}

func TestAWSOptions(t *testing.T) {
	var calls atomic.Int64
	ac := secretsConfig(t, map[string]string{"shipgate/github-token": "ghs_fromsecret"}, &calls)
	o := AWSOptions(ac, "shipgate/github-token")
	if o.CodeCommitRegion != "eu-west-1" || o.CodeCommitCredentials == nil {
		t.Errorf("CodeCommit: got region %q, credentials %v; want the config's", o.CodeCommitRegion, o.CodeCommitCredentials)
	}
	if o.GitHubToken == nil {
		t.Fatal("GitHubToken is nil with a secret named")
	}
	if tok, err := o.GitHubToken(context.Background()); err != nil || tok != "ghs_fromsecret" {
		t.Errorf("GitHubToken: got %q, %v; want the secret's value", tok, err)
	}
	if o := AWSOptions(ac, ""); o.GitHubToken != nil {
		t.Errorf("GitHubToken set without a secret; want nil (anonymous fetches)")
	}
}

func TestSecretsManagerToken(t *testing.T) {
	secrets := map[string]string{
		"plain":     "ghp_plain0123\n",
		"json":      `{"token": "ghs_json0123", "note": "rotated monthly"}`,
		"empty":     "  ",
		"bad-json":  `{"token": `,
		"multiline": "ghp_a\nghp_b",
	}
	tests := []struct {
		secretID string
		want     string
		wantErr  string
	}{
		{"plain", "ghp_plain0123", ""},
		{"json", "ghs_json0123", ""},
		{"empty", "", "secret empty: empty token"},
		{"bad-json", "", "not JSON with a token field"},
		{"multiline", "", "token spans several lines"},
		{"missing", "", "ResourceNotFoundException"},
		{"", "", "no secret configured"},
	}
	for _, tt := range tests {
		t.Run(tt.secretID, func(t *testing.T) {
			var calls atomic.Int64
			tok := SecretsManagerToken(secretsServer(t, secrets, &calls), tt.secretID)
			for range 3 { // later calls come from the cache
				got, err := tok(context.Background())
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("got %q, %v; want error containing %q", got, err, tt.wantErr)
					}
					return
				}
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("GetSecretValue called %d times for 3 tokens; want 1 (cached)", n)
			}
		})
	}
}

// TestGitEnvironmentIsIsolated runs Fetch through a git wrapper that records the
// environment git sees: none of the orchestrator's AWS credentials, no user config,
// credentials only in the env-only config, never on the command line.
func TestGitEnvironmentIsIsolated(t *testing.T) {
	f := sharedFixture(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "orchestrator-secret")
	t.Setenv("AWS_SESSION_TOKEN", "orchestrator-session")
	t.Setenv("GIT_DIR", "/somewhere/else")
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	wrapper := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\n{ env; echo \"ARGS: $*\"; } >> " + filepath.Join(logDir, "log") + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const token = "ghs_isolation0123"
	srv, err := gitserver.Start(gitserver.Options{Root: f.root, Auth: gitserver.GitHubToken(token)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fe := New(Options{Git: wrapper, CAFile: srv.CAFile, GitHubHosts: []string{host(srv.URL)}, GitHubToken: func(context.Context) (string, error) { return token, nil }})
	for _, p := range []domain.Push{
		push(domain.ProviderLocal, f.bare, f.c2, f.c1),
		push(domain.ProviderGitHub, srv.URL+"/acme/app.git", f.c2, f.c1),
	} {
		if _, err := fe.Fetch(context.Background(), p, filepath.Join(t.TempDir(), "ws")); err != nil {
			t.Fatalf("Fetch from %s: %v", p.Provider, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(logDir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, bad := range []string{"orchestrator-secret", "orchestrator-session", "GIT_DIR=", "AWS_"} {
		if strings.Contains(log, bad) {
			t.Errorf("git's environment contains %q", bad)
		}
	}
	for _, want := range []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=file\n", "GIT_ALLOW_PROTOCOL=https\n",
		"=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)), "HOME=" + os.TempDir()} {
		if !strings.Contains(log, want) {
			t.Errorf("git's environment lacks %q", want)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "ARGS:") && (strings.Contains(line, "Authorization") || strings.Contains(line, token)) {
			t.Errorf("credentials on git's command line: %s", line)
		}
	}
}
