package approval

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func TestLinkTokens(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("o", 32)))
	approvers := []string{"ana@example.com", "bo@example.com"}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	exp := now.Add(72 * time.Hour)
	tok, err := s.Mint("ap-1", approvers, 1, exp)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 48 {
		t.Errorf("token is %d characters; want it short enough for mail clients (<= 48)", len(tok))
	}
	flip := func(tok string, i int) string {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		raw[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	otherTok, _ := other.Mint("ap-1", approvers, 1, exp)
	tests := []struct {
		name      string
		id        string
		approvers []string
		tok       string
		now       time.Time
		want      string
		wantErr   error
	}{
		{"valid", "ap-1", approvers, tok, now, "bo@example.com", nil},
		{"valid until just before expiry", "ap-1", approvers, tok, exp.Add(-time.Second), "bo@example.com", nil},
		{"expired", "ap-1", approvers, tok, exp, "", ErrTokenExpired},
		{"other approval (run)", "ap-2", approvers, tok, now, "", ErrTokenSignature},
		{"other approver (index edited)", "ap-1", approvers, flip(tok, 13), now, "", ErrTokenSignature},
		{"approver list differs", "ap-1", []string{"ana@example.com", "eve@example.com"}, tok, now, "", ErrTokenSignature},
		{"expiry edited", "ap-1", approvers, flip(tok, 2), now, "", ErrTokenSignature},
		{"nonce edited", "ap-1", approvers, flip(tok, 7), now, "", ErrTokenSignature},
		{"mac edited", "ap-1", approvers, flip(tok, 20), now, "", ErrTokenSignature},
		{"other key", "ap-1", approvers, otherTok, now, "", ErrTokenSignature},
		{"index out of range", "ap-1", approvers[:1], tok, now, "", ErrTokenSignature},
		{"truncated", "ap-1", approvers, tok[:30], now, "", ErrTokenMalformed},
		{"not base64", "ap-1", approvers, strings.Repeat("*", len(tok)), now, "", ErrTokenMalformed},
		{"empty", "ap-1", approvers, "", now, "", ErrTokenMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Verify(tc.id, tc.approvers, tc.tok, tc.now)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("got (%q, %v), want (%q, %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	if _, err := NewSigner(make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("got %v, want a short-key error", err)
	}
}

func TestFormToken(t *testing.T) {
	s, _ := NewSigner([]byte(strings.Repeat("k", 32)))
	v := s.FormToken("ana@example.com", "ap-1")
	tests := []struct {
		name, user, id, v string
		want              bool
	}{
		{"same user and approval", "ana@example.com", "ap-1", v, true},
		{"other user", "bo@example.com", "ap-1", v, false},
		{"other approval", "ana@example.com", "ap-2", v, false},
		{"empty", "ana@example.com", "ap-1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.CheckFormToken(tc.user, tc.id, tc.v); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "signing.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %o, want 600", got)
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Errorf("reload: got %x (%v), want the same 32-byte key %x", k2, err, k1)
	}
	bad := []struct{ name, content, want string }{
		{"not hex", "zz\n", "not hex"},
		{"too short", "abcd\n", "want at least 32"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			os.WriteFile(p, []byte(tc.content), 0o600)
			if _, err := LoadOrCreateKeyFile(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

type fakeSecrets struct {
	get func(*secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error)
}

func (f fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f.get(in)
}

func TestLoadKeyFromSecret(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		out     *secretsmanager.GetSecretValueOutput
		err     error
		wantLen int
		wantErr string
	}{
		{"hex string", &secretsmanager.GetSecretValueOutput{SecretString: str(hexKey)}, nil, 32, ""},
		{"printable string", &secretsmanager.GetSecretValueOutput{SecretString: str(strings.Repeat("Zq!", 16))}, nil, 48, ""},
		{"binary", &secretsmanager.GetSecretValueOutput{SecretBinary: make([]byte, 40)}, nil, 40, ""},
		{"too short", &secretsmanager.GetSecretValueOutput{SecretString: str("short")}, nil, 0, "want at least 32"},
		{"service error", nil, errors.New("AccessDenied"), 0, "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fakeSecrets{get: func(in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
				if *in.SecretId != "shipgate/link-key" {
					t.Errorf("secret id: got %q", *in.SecretId)
				}
				return tc.out, tc.err
			}}
			key, err := LoadKeyFromSecret(context.Background(), f, "shipgate/link-key")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(key) != tc.wantLen {
				t.Errorf("got %d bytes (%v), want %d", len(key), err, tc.wantLen)
			}
		})
	}
}
