//go:build linux && !lambda.norpc

package source

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/gitobj"
)

// PushCommits lists the commits a push of newCommit over oldCommit brought, reading the
// repository's objects (objects is its objects directory) in Go, as
//
//	git log --first-parent --name-status --no-renames --max-count=max+1 newCommit ^oldCommit
//
// lists them through trigger.GitCommits: oldest first, at most max of the newest, with
// truncated set when there were more. It sits between a push landing and its run
// starting, where a git process costs several milliseconds on a small VM. So it covers
// the usual push, a few plain commits on top of the branch's tip, and ok is false for
// everything else, which goes to git: a new branch, a history that is not a line of
// single-parent commits down to oldCommit within max+1 of them, an object this reader
// does not handle, a header or an identity git might print otherwise (an encoding, a
// name or an email with angle brackets, an unusual time zone), and a path git would
// quote or trim. (What the repository's layout or configuration may change is the
// caller's to check: local's plainGitDir refuses shallow and grafted repositories and
// replace refs, and GitCommits pins the settings that change its output.)
// TestPushCommitsMatchesGit holds the result to git's.
func PushCommits(objects, newCommit, oldCommit string, max int) (commits []domain.Commit, truncated, ok bool) {
	if max < 1 || !gitobj.IsID([]byte(newCommit), 2*sha1.Size) || !gitobj.IsID([]byte(oldCommit), 2*sha1.Size) ||
		strings.Trim(oldCommit, "0") == "" {
		return nil, false, false
	}
	store, err := newObjectStore(objects)
	if err != nil {
		return nil, false, false
	}
	defer store.close()
	l := &pushLog{store: store, read: map[string]object{}}
	if _, ok := l.tree(newCommit); !ok {
		return nil, false, false // git fails on what is not a commit, even pushed over itself
	}
	for id := newCommit; id != oldCommit; {
		if len(commits) == max+1 {
			return nil, false, false // more than git would list: git decides
		}
		c, parent, ok := l.commit(id)
		if !ok {
			return nil, false, false
		}
		commits = append(commits, c)
		id = parent
	}
	// git reads the old tip's parents too, to leave them out, and fails on one it has
	// met as another kind of object: such a push goes to git.
	if !l.parentsAreCommits(oldCommit) {
		return nil, false, false
	}
	if len(commits) > max {
		commits, truncated = commits[:max], true
	}
	for i, j := 0, len(commits)-1; i < j; i, j = i+1, j-1 {
		commits[i], commits[j] = commits[j], commits[i]
	}
	return commits, truncated, true
}

// pushLog reads the commits of a push and the trees they changed.
type pushLog struct {
	store *objectStore
	// read holds every object read: a commit is read as one commit's parent and then
	// as the next one listed, and a tree as one commit's and as its child's parent's.
	read  map[string]object
	paths int // paths listed so far, bounded by maxTreeFiles
}

// object is an object read, with the error reading it gave.
type object struct {
	typ  string
	body []byte
	err  error
}

// object reads object id once.
func (l *pushLog) object(id string) (typ string, body []byte, err error) {
	o, ok := l.read[id]
	if !ok {
		o.typ, o.body, o.err = l.store.read(id)
		l.read[id] = o
	}
	return o.typ, o.body, o.err
}

// commit reads commit id: its entry as git log prints it, and its one parent.
func (l *pushLog) commit(id string) (domain.Commit, string, bool) {
	typ, body, err := l.object(id)
	if err != nil || typ != "commit" || bytes.IndexByte(body, 0) >= 0 || bytes.IndexByte(body, 0x1e) >= 0 {
		// A NUL ends git's reading of the commit; 0x1e separates the records GitCommits
		// parses.
		return domain.Commit{}, "", false
	}
	tree, parents, ok := gitobj.CommitHeader(body, 2*sha1.Size)
	if !ok || len(parents) != 1 {
		return domain.Commit{}, "", false // a root or a merge: git decides
	}
	head, msg, found := bytes.Cut(body, []byte("\n\n"))
	if !found {
		return domain.Commit{}, "", false // no message: git prints part of the header
	}
	c := domain.Commit{ID: id, Message: strings.TrimRight(string(msg), "\n")}
	authors := 0
	for _, line := range bytes.Split(head, []byte{'\n'}) {
		switch {
		case bytes.HasPrefix(line, []byte("encoding ")):
			return domain.Commit{}, "", false // git re-encodes the message
		case bytes.HasPrefix(line, []byte("author ")):
			authors++
			if c.Author, c.Timestamp, ok = ident(line[len("author "):]); !ok {
				return domain.Commit{}, "", false
			}
		}
	}
	if authors != 1 || !utf8.Valid(body) {
		return domain.Commit{}, "", false
	}
	ptree, ok := l.tree(parents[0])
	if !ok || !l.diff(ptree, tree, "", &c) {
		return domain.Commit{}, "", false
	}
	return c, parents[0], true
}

// parentsAreCommits reports whether id is a commit whose parents are all commits.
func (l *pushLog) parentsAreCommits(id string) bool {
	typ, body, err := l.object(id)
	if err != nil || typ != "commit" {
		return false
	}
	_, parents, ok := gitobj.CommitHeader(body, 2*sha1.Size)
	if !ok {
		return false
	}
	for _, p := range parents {
		if typ, _, err := l.object(p); err != nil || typ != "commit" {
			return false
		}
	}
	return true
}

// tree is the tree of commit id.
func (l *pushLog) tree(id string) (string, bool) {
	typ, body, err := l.object(id)
	if err != nil || typ != "commit" {
		return "", false
	}
	tree, _, ok := gitobj.CommitHeader(body, 2*sha1.Size)
	return tree, ok
}

// ident splits "NAME <EMAIL> SECONDS ZONE" in its plain form, the only one read here:
// git has rules of its own for angle brackets in names, stray spaces and odd zones, and
// prints a time outside the years 1970 to 9999 in its zone in ways RFC 3339 does not
// read (or fails on it).
func ident(b []byte) (domain.Identity, time.Time, bool) {
	s := string(b)
	lt, gt := strings.IndexByte(s, '<'), strings.IndexByte(s, '>')
	if lt < 1 || gt < lt || strings.Count(s, "<") != 1 || strings.Count(s, ">") != 1 || s[lt-1] != ' ' {
		return domain.Identity{}, time.Time{}, false
	}
	name, email, when := s[:lt-1], s[lt+1:gt], s[gt+1:]
	if name == "" || name != strings.TrimSpace(name) || email != strings.TrimSpace(email) {
		return domain.Identity{}, time.Time{}, false
	}
	secs, zone, ok := strings.Cut(strings.TrimPrefix(when, " "), " ")
	if !ok || len(when) == 0 || when[0] != ' ' || len(zone) != 5 || zone[0] != '+' && zone[0] != '-' {
		return domain.Identity{}, time.Time{}, false
	}
	if !digits(zone[1:]) || !digits(secs) || len(secs) > 1 && secs[0] == '0' || len(secs) > 12 {
		return domain.Identity{}, time.Time{}, false
	}
	hh, _ := strconv.Atoi(zone[1:3])
	mm, _ := strconv.Atoi(zone[3:5])
	t, _ := strconv.ParseInt(secs, 10, 64)
	offset := int64(hh*3600 + mm*60)
	if zone[0] == '-' {
		offset = -offset
	}
	if hh > 23 || mm > 59 || t+offset < 0 || t+offset > 253402300799 {
		return domain.Identity{}, time.Time{}, false
	}
	return domain.Identity{Name: name, Email: email}, time.Unix(t, 0).UTC(), true
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// treeEntry is an entry of a tree object.
type treeEntry struct {
	mode, name, id string
}

// nextEntry reads the first entry of a tree object's body, and returns the rest.
func nextEntry(body []byte) (e treeEntry, rest []byte, ok bool) {
	sp, nul := bytes.IndexByte(body, ' '), bytes.IndexByte(body, 0)
	if sp <= 0 || nul < sp || nul+1+sha1.Size > len(body) {
		return treeEntry{}, nil, false
	}
	e = treeEntry{mode: string(body[:sp]), name: string(body[sp+1 : nul]), id: hex.EncodeToString(body[nul+1 : nul+1+sha1.Size])}
	return e, body[nul+1+sha1.Size:], true
}

func (e treeEntry) isTree() bool { return e.mode == "40000" }

// key orders entries as git sorts them in a tree: a tree's name as if it ended in '/'.
func (e treeEntry) key() string {
	if e.isTree() {
		return e.name + "/"
	}
	return e.name
}

// entries parses tree id ("" is the empty tree), holding it to git's order.
func (l *pushLog) entries(id string) ([]treeEntry, bool) {
	if id == "" {
		return nil, true
	}
	typ, body, err := l.object(id)
	if err != nil || typ != "tree" {
		return nil, false
	}
	var es []treeEntry
	for len(body) > 0 {
		e, rest, ok := nextEntry(body)
		if !ok {
			return nil, false
		}
		body = rest
		switch e.mode {
		case "40000", "100644", "100755", "120000":
		default:
			return nil, false // a submodule, or a mode git normalises
		}
		if e.name == "" || strings.IndexByte(e.name, '/') >= 0 || len(es) > 0 && es[len(es)-1].key() >= e.key() {
			return nil, false
		}
		es = append(es, e)
	}
	return es, true
}

// diff adds to c the paths that differ between trees a (the parent's) and b under
// prefix, in git's order, as --name-status --no-renames lists them.
func (l *pushLog) diff(a, b, prefix string, c *domain.Commit) bool {
	if strings.Count(prefix, "/") >= maxTreeDepth {
		return false
	}
	ea, ok1 := l.entries(a)
	eb, ok2 := l.entries(b)
	if !ok1 || !ok2 {
		return false
	}
	for len(ea) > 0 || len(eb) > 0 {
		switch {
		case len(eb) == 0 || len(ea) > 0 && ea[0].key() < eb[0].key():
			if !l.side(ea[0], prefix, &c.Removed) {
				return false
			}
			ea = ea[1:]
		case len(ea) == 0 || eb[0].key() < ea[0].key():
			if !l.side(eb[0], prefix, &c.Added) {
				return false
			}
			eb = eb[1:]
		default:
			x, y := ea[0], eb[0]
			ea, eb = ea[1:], eb[1:]
			switch {
			case x.mode == y.mode && x.id == y.id:
			case x.isTree() && y.isTree():
				if !l.diff(x.id, y.id, prefix+x.name+"/", c) {
					return false
				}
			default: // a file changed in content, mode or type
				if !l.add(prefix+x.name, &c.Modified) {
					return false
				}
			}
		}
	}
	return true
}

// side lists e, or every file under it, as only on one side of the diff.
func (l *pushLog) side(e treeEntry, prefix string, to *[]string) bool {
	if !e.isTree() {
		return l.add(prefix+e.name, to)
	}
	es, ok := l.entries(e.id)
	if !ok || len(es) == 0 || strings.Count(prefix, "/") >= maxTreeDepth {
		return false
	}
	for _, x := range es {
		if !l.side(x, prefix+e.name+"/", to) {
			return false
		}
	}
	return true
}

// add lists path, unless git would print it otherwise: quoted (control characters,
// quotes, backslashes, anything outside ASCII) or with spaces at an end, which
// GitCommits trims.
func (l *pushLog) add(path string, to *[]string) bool {
	if l.paths++; l.paths > maxTreeFiles || path != strings.TrimSpace(path) {
		return false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	*to = append(*to, path)
	return true
}
