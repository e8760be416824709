package local

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shipgate/shipgate/shared/inodes"
)

// DataDir is the layout of the local stack's data directory. Everything the stack keeps
// lives here, so stopping and starting again on it finds runs, approvals, audit and
// artifacts where they were.
type DataDir struct{ Root string }

func (d DataDir) path(p ...string) string { return filepath.Join(append([]string{d.Root}, p...)...) }

// Paths of the stack's stores and files.
func (d DataDir) Lock() string          { return d.path("lock") }
func (d DataDir) Endpoints() string     { return d.path("endpoints.json") }
func (d DataDir) DynamoDB() string      { return d.path("dynamodb") }
func (d DataDir) S3() string            { return d.path("s3.db") }
func (d DataDir) Engine() string        { return d.path("engine.db") }
func (d DataDir) Outbox() string        { return d.path("outbox") }
func (d DataDir) SigningKey() string    { return d.path("keys", "link-signing.key") }
func (d DataDir) WebhookSecret() string { return d.path("keys", "github-webhook.secret") }
func (d DataDir) WatchState() string    { return d.path("watch-refs.json") }
func (d DataDir) Log() string           { return d.path("shipgate.log") }

// Lock takes the data directory for this process. A second `shipgate local` on the same
// data gets a clear refusal instead of two servers writing the same stores. The lock is
// an flock, so a killed process (kill -9) leaves nothing to clean up.
func (d DataDir) TakeLock() (release func(), err error) {
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", d.Root, err)
	}
	f, err := os.OpenFile(d.Lock(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", d.Lock(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(d.Lock())
		f.Close()
		who := strings.TrimSpace(string(b))
		if who != "" {
			who = " (pid " + who + ")"
		}
		return nil, fmt.Errorf("another shipgate local%s is already using %s; stop it first, or pass --data to use another directory", who, d.Root)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Endpoints is <data>/endpoints.json: how the CLI and scripts find the running stack.
type Endpoints struct {
	Console       string `json:"console"`
	StepFunctions string `json:"stepfunctions"`
	DynamoDB      string `json:"dynamodb"`
	S3            string `json:"s3"`
	Table         string `json:"table"`
	Bucket        string `json:"bucket"`
	StateMachine  string `json:"stateMachine"`
	Pipeline      string `json:"pipeline"`
	User          string `json:"user"`
	PID           int    `json:"pid"`
}

// WriteEndpoints writes the file atomically.
func (d DataDir) WriteEndpoints(e Endpoints) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(d.Endpoints(), append(b, '\n'), 0o600)
}

// ReadEndpoints reads <data>/endpoints.json.
func (d DataDir) ReadEndpoints() (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(d.Endpoints())
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

// Secret returns the random secret kept in path, creating it (0600) on first use.
func Secret(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 16 {
			return nil, fmt.Errorf("secret file %s is too short (%d bytes); delete it to generate a new one", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b = make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// hex keeps the file printable: users paste the webhook secret into GitHub.
	hexed := []byte(fmt.Sprintf("%x", b))
	if err := writeAtomic(path, hexed, 0o600); err != nil {
		return nil, err
	}
	return hexed, nil
}

// writeAtomic replaces path's content whole (a crash leaves the old file or the new):
// inodes.Replace, with every file made on the spot.
func writeAtomic(path string, b []byte, mode fs.FileMode) error {
	var onTheSpot *inodes.Pool
	return onTheSpot.Replace(path, b, mode)
}
