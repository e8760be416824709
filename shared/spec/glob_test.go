package spec

import (
	"strings"
	"testing"
)

func TestCheckGlob(t *testing.T) {
	tests := []struct {
		glob    string
		wantErr string // "" means valid
	}{
		{"main", ""},
		{"release/*", ""},
		{"src/**/*.go", ""},
		{"**", ""},
		{"docs/[a-z]?.md", ""},
		{"", "empty pattern"},
		{"/etc/passwd", "must be relative"},
		{"dist/", "ends with /"},
		{"a//b", "empty path segment"},
		{"./bin/app", `"." segments`},
		{"src/../..", `".." segments`},
		{"src/**.go", "** must be a whole path segment"},
		{"[a-", "malformed pattern"},
		{`trailing\`, "malformed pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.glob, func(t *testing.T) {
			err := checkGlob(tt.glob)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("checkGlob(%q): got %v, want nil", tt.glob, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("checkGlob(%q): got %v, want an error containing %q", tt.glob, err, tt.wantErr)
			}
		})
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"release/*", "release/1.2", true},
		{"release/*", "release/1.2/hotfix", false},
		{"release/**", "release/1.2/hotfix", true},
		{"release/**", "release", true}, // ** matches zero segments
		{"*", "feature/x", false},       // * stays within a segment
		{"**", "feature/x", true},
		{"src/**/*.go", "src/main.go", true},
		{"src/**/*.go", "src/a/b/c.go", true},
		{"src/**/*.go", "src/a/b/c.txt", false},
		{"src/**/*.go", "lib/a.go", false},
		{"**/*.md", "README.md", true},
		{"**/*.md", "docs/x/README.md", true},
		{"docs/**/**/x", "docs/x", true},
		{"go.mod", "go.mod", true},
		{"go.mod", "sub/go.mod", false},
		{"[ab]?.txt", "b1.txt", true},
		{"[a-", "[a-", false}, // malformed matches nothing
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			if got := MatchGlob(tt.pattern, tt.name); got != tt.want {
				t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	filtered := &Spec{Branches: []string{"main", "release/*"}, Paths: []string{"src/**", "go.mod"}}
	tests := []struct {
		name       string
		spec       *Spec
		branch     string
		changed    []string
		want       bool
		wantReason string
	}{
		{"no filters", &Spec{}, "anything", []string{"x"}, true, ""},
		{"nil spec", nil, "main", nil, true, ""},
		{"branch and path match", filtered, "main", []string{"README.md", "src/a/b.go"}, true, ""},
		{"branch glob", filtered, "release/2.0", []string{"go.mod"}, true, ""},
		{"branch skipped", filtered, "feature/x", []string{"src/a.go"}, false, "branch feature/x matches none of [main release/*]"},
		{"nested branch not matched by *", filtered, "release/2.0/rc", []string{"go.mod"}, false, "branch release/2.0/rc matches none of [main release/*]"},
		{"paths skipped", filtered, "main", []string{"README.md", "docs/a.md"}, false, "none of the 2 changed files (README.md, docs/a.md) matches paths [src/** go.mod]"},
		{"many changed files are summarized", filtered, "main", []string{"a", "b", "c", "d", "e"}, false, "none of the 5 changed files (a, b, c and 2 more) matches paths [src/** go.mod]"},
		{"unknown changes run", filtered, "main", nil, true, ""},
		{"no branch (a tag push)", filtered, "", []string{"src/a.go"}, false, "the push is not to a branch, and branches [main release/*] are required"},
		{"no branch, no branch filter", &Spec{}, "", nil, true, ""},
		{"no changes skip", filtered, "main", []string{}, false, "the push changes no files, and paths [src/** go.mod] are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Matches(tt.spec, tt.branch, tt.changed)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("Matches(%q, %q) = %v, %q; want %v, %q", tt.branch, tt.changed, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}
