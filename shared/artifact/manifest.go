package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/shipgate/shipgate/shared/domain"
)

// MaxManifestBytes bounds a manifest read back from S3 (thousands of artifacts fit).
const MaxManifestBytes = 16 << 20

// Digest is the manifest digest form used in decisions and state: "sha256:<hex>".
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// EncodeManifest returns the bytes that are stored and digested. The digest is over these
// exact bytes, so nothing re-encodes a manifest before comparing digests.
func EncodeManifest(m domain.Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// PutManifest stores m at its ManifestKey and returns the key and the digest.
func (s *Store) PutManifest(ctx context.Context, m domain.Manifest) (key, digest string, err error) {
	b, err := EncodeManifest(m)
	if err != nil {
		return "", "", err
	}
	key = ManifestKey(m.Pipeline, m.Commit, m.Run)
	if _, err := s.PutBytes(ctx, key, b, "application/json"); err != nil {
		return "", "", err
	}
	return key, Digest(b), nil
}

// GetManifest reads the manifest at key and the digest of the bytes actually read.
func (s *Store) GetManifest(ctx context.Context, key string) (domain.Manifest, string, error) {
	b, err := s.ReadAll(ctx, key, MaxManifestBytes)
	if err != nil {
		return domain.Manifest{}, "", err
	}
	var m domain.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return domain.Manifest{}, "", domain.Errorf(domain.ArtifactMismatch, "manifest s3://%s/%s is not valid JSON: %v", s.bucket, key, err)
	}
	return m, Digest(b), nil
}
