package trigger_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/trigger"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestExecutionNameIsValidReadableAndStable(t *testing.T) {
	long := strings.Repeat("very-long-name", 20)
	cases := []struct {
		name, repo, ref, commit string
		wantPrefix              string
	}{
		{"github", "Codertocat/Hello-World", "refs/heads/master", sha1, "Hello-World-master-6113728f-"},
		{"codecommit", "MyDemoRepo", "refs/heads/feature/login", sha2, "MyDemoRepo-feature-login-3e5983a5-"},
		{"local dir", "/home/dev/src/app.git", "refs/heads/main", sha3, "app-main-26a8f2b1-"},
		{"windows-ish dir", `C:\src\app`, "refs/heads/main", sha3, "app-main-26a8f2b1-"},
		{"long names truncated", long + "/" + long, "refs/heads/" + long, sha1, "very-long-name"},
		{"unicode and spaces", "acme/ünïcode repo", "refs/heads/fix bug✓", sha1, "n-code-repo-fix-bug-6113728f-"},
		{"empty everything", "", "", "", "run-"},
		{"invalid utf-8", "a\xff\xfeb", "refs/heads/\xc3", "xyz", "a-b-xyz-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := trigger.ExecutionName(c.repo, c.ref, c.commit)
			if !validName.MatchString(got) {
				t.Errorf("ExecutionName = %q (len %d): not a valid execution name", got, len(got))
			}
			if !strings.HasPrefix(got, c.wantPrefix) {
				t.Errorf("ExecutionName = %q, want prefix %q", got, c.wantPrefix)
			}
			if again := trigger.ExecutionName(c.repo, c.ref, c.commit); again != got {
				t.Errorf("not stable: %q then %q", got, again)
			}
		})
	}
}

func TestExecutionNamesOfDistinctPushesDiffer(t *testing.T) {
	// Each pair sanitizes or truncates to the same slug; the hash must still tell them apart.
	long := strings.Repeat("x", 100)
	pairs := []struct {
		name string
		a, b [3]string
	}{
		{"slash vs dash in branch", [3]string{"r", "refs/heads/a/b", sha1}, [3]string{"r", "refs/heads/a-b", sha1}},
		{"owner differs", [3]string{"alice/app", "refs/heads/main", sha1}, [3]string{"bob/app", "refs/heads/main", sha1}},
		{"commit differs after 8 chars", [3]string{"r", "refs/heads/main", sha1}, [3]string{"r", "refs/heads/main", sha1[:39] + "7"}},
		{"branch differs past truncation", [3]string{"r", "refs/heads/" + long + "1", sha1}, [3]string{"r", "refs/heads/" + long + "2", sha1}},
		{"field boundary", [3]string{"ab", "refs/heads/c", sha1}, [3]string{"a", "brefs/heads/c", sha1}},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a := trigger.ExecutionName(p.a[0], p.a[1], p.a[2])
			b := trigger.ExecutionName(p.b[0], p.b[1], p.b[2])
			if a == b {
				t.Errorf("both pushes named %q", a)
			}
		})
	}
}
