// Package gitobj reads git's loose objects and commit headers for the fast paths that
// spare a git process: the pusher's identity (shared/local) and the checkout of a local
// push (shared/source). It refuses whatever it does not fully understand, and its
// callers then ask git, which stays the reference.
package gitobj

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// ErrUnreadable is a loose object that is there but not read here: damaged, larger than
// the caller's bound, of an unknown type, or not hashing to its name.
var ErrUnreadable = errors.New("loose object not readable here")

// IsID reports whether b is an object id of n lowercase hex digits.
func IsID(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ReadLoose reads object id (SHA-1 or SHA-256, by its length) from the objects
// directory: its type and content, checked against the id. max bounds the whole
// inflated object, header included. An object that is not there loose is
// fs.ErrNotExist; anything else wrong with it is ErrUnreadable.
func ReadLoose(objects, id string, max int) (typ string, body []byte, err error) {
	var h hash.Hash
	switch {
	case IsID([]byte(id), 2*sha1.Size):
		h = sha1.New()
	case IsID([]byte(id), 2*sha256.Size):
		h = sha256.New()
	default:
		return "", nil, ErrUnreadable
	}
	f, err := os.Open(filepath.Join(objects, id[:2], id[2:]))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	if err != nil {
		return "", nil, ErrUnreadable
	}
	defer f.Close()
	// Deflate grows incompressible input only slightly, so twice the bound is ample for
	// any object accepted, and stops a hostile file being read at length.
	zr, err := zlib.NewReader(io.LimitReader(f, 2*int64(max)))
	if err != nil {
		return "", nil, ErrUnreadable
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 64)
	// "<type> <size>\x00": a known type and the size written as git writes it.
	head, err := br.ReadSlice(0)
	if err != nil {
		return "", nil, ErrUnreadable
	}
	t, size, ok := bytes.Cut(head[:len(head)-1], []byte{' '})
	n, err := strconv.Atoi(string(size))
	if !ok || !knownType(string(t)) || err != nil || n < 0 || strconv.Itoa(n) != string(size) || len(head)+n > max {
		return "", nil, ErrUnreadable
	}
	typ = string(t)
	h.Write(head)
	body = make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", nil, ErrUnreadable
	}
	// Nothing may follow the content, and the stream must end with its checksum intact.
	if k, err := br.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		return "", nil, ErrUnreadable
	}
	h.Write(body)
	if hex.EncodeToString(h.Sum(nil)) != id {
		return "", nil, ErrUnreadable
	}
	return typ, body, nil
}

func knownType(t string) bool { return t == "blob" || t == "tree" || t == "commit" || t == "tag" }

// CommitHeader reads the start of a commit's body as git requires it before anything
// else: a tree line first, then any parent lines, each naming an id of idLen lowercase
// hex digits and ending in a newline. ok is false when the header does not have that
// shape.
func CommitHeader(body []byte, idLen int) (tree string, parents []string, ok bool) {
	line, rest, found := bytes.Cut(body, []byte{'\n'})
	t, isTree := bytes.CutPrefix(line, []byte("tree "))
	if !found || !isTree || !IsID(t, idLen) {
		return "", nil, false
	}
	for bytes.HasPrefix(rest, []byte("parent ")) {
		line, rest, found = bytes.Cut(rest, []byte{'\n'})
		p := line[len("parent "):]
		if !found || !IsID(p, idLen) {
			return "", nil, false
		}
		parents = append(parents, string(p))
	}
	return string(t), parents, true
}
