package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxExecutionName is Step Functions' limit on execution names.
const MaxExecutionName = 80

// ExecutionName is the Step Functions execution name, and so the run id, of the push of
// commit to ref in repo. It is a readable slug (repository base name, branch, short commit)
// followed by 16 hex digits of SHA-256 over the exact triple: the slug may lose information
// to truncation and sanitizing, the hash does not, so distinct pushes get distinct names.
// The result is at most 80 characters from [A-Za-z0-9-_], which Step Functions accepts and
// which keeps CloudWatch log stream names valid.
func ExecutionName(repo, ref, commit string) string {
	sum := sha256.Sum256([]byte(repo + "\x00" + ref + "\x00" + commit))
	suffix := "-" + hex.EncodeToString(sum[:8])
	if c := sanitize(commit); c != "" {
		if len(c) > 8 {
			c = c[:8]
		}
		suffix = "-" + c + suffix
	}
	base := repo
	if i := strings.LastIndexAny(strings.TrimRight(base, `/\`), `/\`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.TrimSuffix(strings.TrimRight(base, `/\`), ".git")
	slug := sanitize(base + "-" + strings.TrimPrefix(ref, "refs/heads/"))
	if max := MaxExecutionName - len(suffix); len(slug) > max {
		slug = strings.TrimRight(slug[:max], "-_")
	}
	if slug == "" {
		slug = "run"
	}
	return slug + suffix
}

// sanitize keeps [A-Za-z0-9_] and turns every other run of bytes into one '-'.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteByte(c)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
