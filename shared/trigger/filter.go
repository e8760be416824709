package trigger

import (
	"regexp"
	"strings"
)

// MatchBranch reports whether branch matches one of globs; no globs match every branch.
// In a glob '*' matches within one path segment (release/* matches release/1.2 but not
// release/1/2), '**' matches across segments and '?' matches one character other than '/';
// everything else is literal. Branch names often contain '/', and a pipeline that says
// "release/*" should not silently pick up "release/old/experiment".
func MatchBranch(globs []string, branch string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if globRE(g).MatchString(branch) {
			return true
		}
	}
	return false
}

func globRE(g string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(g)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '*' && i+1 < len(rs) && rs[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
