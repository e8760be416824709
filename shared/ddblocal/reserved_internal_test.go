package ddblocal

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// The reserved words must be DynamoDB's: dynalite carries the same documented list, so
// the two are compared word for word.
func TestReservedWordsMatchDynalite(t *testing.T) {
	var src []byte
	for dir, _ := os.Getwd(); ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "dynalite", "validations", "index.js"))
		if err == nil {
			src = b
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("node_modules/dynalite not installed")
		}
	}
	block := regexp.MustCompile(`(?s)var RESERVED_WORDS = \{(.*?)\n\}`).FindSubmatch(src)
	if block == nil {
		t.Fatal("no RESERVED_WORDS in dynalite's validations/index.js")
	}
	theirs := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*([A-Z_]+): true`).FindAllSubmatch(block[1], -1) {
		theirs[string(m[1])] = true
	}
	var missing, extra []string
	for w := range theirs {
		if !reserved[w] {
			missing = append(missing, w)
		}
	}
	for w := range reserved {
		if !theirs[w] {
			extra = append(extra, w)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(theirs) < 500 || len(missing) > 0 || len(extra) > 0 {
		t.Errorf("dynalite has %d reserved words; ddblocal lacks %v and adds %v", len(theirs), missing, extra)
	}
}
