package trigger_test

import (
	"testing"

	"github.com/shipgate/shipgate/shared/trigger"
)

func TestMatchBranch(t *testing.T) {
	cases := []struct {
		name   string
		globs  []string
		branch string
		want   bool
	}{
		{"no globs match all", nil, "anything/at/all", true},
		{"literal", []string{"main"}, "main", true},
		{"literal other", []string{"main"}, "mainline", false},
		{"star within segment", []string{"release/*"}, "release/1.2", true},
		{"star does not cross slash", []string{"release/*"}, "release/1/2", false},
		{"double star crosses", []string{"release/**"}, "release/1/2", true},
		{"question mark", []string{"v?"}, "v1", true},
		{"question mark not slash", []string{"a?b"}, "a/b", false},
		{"regexp metacharacters are literal", []string{"fix.(1)+"}, "fix.(1)+", true},
		{"dot is not any char", []string{"fix.1"}, "fixx1", false},
		{"second glob matches", []string{"main", "hotfix/*"}, "hotfix/x", true},
		{"unicode", []string{"fé*"}, "féature", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := trigger.MatchBranch(c.globs, c.branch); got != c.want {
				t.Errorf("MatchBranch(%q, %q) = %v, want %v", c.globs, c.branch, got, c.want)
			}
		})
	}
}
