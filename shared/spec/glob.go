package spec

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Globs are path.Match patterns applied per '/'-separated segment, plus "**" as a whole
// segment matching zero or more segments. The same syntax serves branch names
// ("release/*", "feature/**") and repository paths ("src/**/*.go").

// checkGlob reports why a pattern is unusable, or nil.
func checkGlob(g string) error {
	if g == "" {
		return errors.New("empty pattern")
	}
	if strings.HasPrefix(g, "/") {
		return errors.New("must be relative to the repository root (no leading /)")
	}
	if strings.HasSuffix(g, "/") {
		return fmt.Errorf("ends with / (write %s** to match everything under it)", g)
	}
	for _, seg := range strings.Split(g, "/") {
		switch {
		case seg == "":
			return errors.New("empty path segment (//)")
		case seg == "." || seg == "..":
			return fmt.Errorf("%q segments are not allowed; paths are relative to the repository root", seg)
		case seg != "**" && strings.Contains(seg, "**"):
			return errors.New("** must be a whole path segment (like src/**/*.go)")
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("malformed pattern (unclosed [ or trailing \\)")
		}
	}
	return nil
}

// MatchGlob reports whether name matches the glob pattern. A malformed pattern matches
// nothing (Parse has rejected it already).
func MatchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse runs of ** and try every split point.
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if MatchGlob(g, name) {
			return true
		}
	}
	return false
}

// Matches reports whether a push to branch changing the given files runs the pipeline.
// changed == nil means the changed files are unknown (first push, force push): the path
// filter is not applied, since skipping a build on a guess would hide a change. When it
// returns false, reason says why, for the run's record and the person reading it.
func Matches(s *Spec, branch string, changed []string) (ok bool, reason string) {
	if s == nil {
		return true, ""
	}
	if len(s.Branches) > 0 && branch == "" {
		return false, fmt.Sprintf("the push is not to a branch, and branches [%s] are required", strings.Join(s.Branches, " "))
	}
	if len(s.Branches) > 0 && !matchAny(s.Branches, branch) {
		return false, fmt.Sprintf("branch %s matches none of [%s]", branch, strings.Join(s.Branches, " "))
	}
	if len(s.Paths) == 0 || changed == nil {
		return true, ""
	}
	for _, f := range changed {
		if matchAny(s.Paths, f) {
			return true, ""
		}
	}
	if len(changed) == 0 {
		return false, fmt.Sprintf("the push changes no files, and paths [%s] are required", strings.Join(s.Paths, " "))
	}
	shown := changed
	more := ""
	if len(shown) > 3 {
		shown = shown[:3]
		more = fmt.Sprintf(" and %d more", len(changed)-3)
	}
	return false, fmt.Sprintf("none of the %d changed files (%s%s) matches paths [%s]",
		len(changed), strings.Join(shown, ", "), more, strings.Join(s.Paths, " "))
}
