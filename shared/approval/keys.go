package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/workflow"
)

// LoadOrCreateKeyFile returns the link signing key kept in path (hex text), creating the
// file with a fresh random key, mode 0600, if it does not exist. Local mode keeps it under
// the data directory so links mailed before a restart still verify after it.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, MinKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		// O_EXCL: when two processes race to create it, one wins and the other reads it.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateKeyFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("signing key %s: %w", path, werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: not hex: %w", path, err)
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("signing key %s: %d bytes, want at least %d", path, len(key), MinKeyLen)
	}
	return key, nil
}

// SecretsAPI is the part of the Secrets Manager client LoadKeyFromSecret uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadKeyFromSecret reads the link signing key from a Secrets Manager secret: a binary
// secret is used as is; a string secret is hex-decoded when it is hex, else its bytes are
// the key (CDK's generated secrets are random printable strings).
func LoadKeyFromSecret(ctx context.Context, api SecretsAPI, secretID string) ([]byte, error) {
	if secretID == "" {
		return nil, errors.New("signing key: secret id is empty")
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, fmt.Errorf("signing key: read secret %s: %w", secretID, err)
	}
	var key []byte
	switch {
	case len(out.SecretBinary) > 0:
		key = out.SecretBinary
	case out.SecretString != nil:
		s := strings.TrimSpace(*out.SecretString)
		if h, err := hex.DecodeString(s); err == nil {
			key = h
		} else {
			key = []byte(s)
		}
	}
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("signing key: secret %s holds %d bytes, want at least %d", secretID, len(key), MinKeyLen)
	}
	return key, nil
}

// EnsureSigningKey fills deps.SigningKey from Secrets Manager (cfg.SigningKeySec) when it
// is not set yet. Lambda mains call it once at start; local mode sets the key from
// LoadOrCreateKeyFile instead.
func EnsureSigningKey(ctx context.Context, cfg app.Config, deps *app.Deps) error {
	if len(deps.SigningKey) > 0 {
		return nil
	}
	if cfg.SigningKeySec == "" {
		return errors.New("signing key: neither a key nor " + workflow.EnvSigningKeySec + " is set")
	}
	key, err := LoadKeyFromSecret(ctx, secretsmanager.NewFromConfig(deps.AWS), cfg.SigningKeySec)
	if err != nil {
		return err
	}
	deps.SigningKey = key
	return nil
}
