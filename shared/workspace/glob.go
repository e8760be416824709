package workspace

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shipgate/shipgate/shared/spec"
)

// Matcher reports whether a slash-separated relative path matches any of patterns, with
// Glob's rule for .git.
func Matcher(patterns []string) func(rel string) bool {
	return func(rel string) bool {
		inGit := rel == ".git" || strings.HasPrefix(rel, ".git/")
		for _, p := range patterns {
			if inGit && !namesGit(p) {
				continue
			}
			if spec.MatchGlob(p, rel) {
				return true
			}
		}
		return false
	}
}

func namesGit(pattern string) bool { return pattern == ".git" || strings.HasPrefix(pattern, ".git/") }

// Glob returns the regular files under dir whose slash-separated path relative to dir
// matches pattern (the spec's glob syntax, "**" included), sorted. The .git directory is
// searched only by patterns that name it, so "**" means the user's files.
func Glob(dir, pattern string) ([]string, error) {
	var out []string
	wantGit := namesGit(pattern)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" && !wantGit {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if spec.MatchGlob(pattern, rel) {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
