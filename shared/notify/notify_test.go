package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/inodes"
)

func TestOutboxWritesParsableMail(t *testing.T) {
	link := "http://127.0.0.1:8080/approvals/abc?t=" + strings.Repeat("x", 90)
	tests := []struct {
		name      string
		msg       Message
		wantParts []string // content types, in order
	}{
		{"text and html", Message{To: []string{"ana@example.com"}, Subject: "Approve deploy of demo ü", Text: "Open " + link + "\n", HTML: `<p><a href="` + link + `">Approve</a></p>`, Links: []string{link}, Kind: "approval.request", RunID: "r1"},
			[]string{"text/plain", "text/html"}},
		{"text only", Message{To: []string{"ana@example.com", "bo@example.com"}, Subject: "Run succeeded", Text: "done\n", Kind: "run.succeeded"},
			[]string{"text/plain"}},
	}
	for _, tc := range tests {
		// With files kept ahead (where this build keeps any), the message is the
		// same, and it came from them.
		for _, ahead := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ahead=%v", tc.name, ahead), func(t *testing.T) {
				outboxWritesParsableMail(t, tc.msg, tc.wantParts, ahead)
			})
		}
	}
}

func outboxWritesParsableMail(t *testing.T, msg Message, wantParts []string, ahead bool) {
	dir := t.TempDir()
	var term bytes.Buffer
	o, err := NewOutbox(filepath.Join(dir, "outbox"), &term)
	if err != nil {
		t.Fatal(err)
	}
	if ahead {
		// Made in the outbox's own directory, as the local stack makes them in the
		// data directory above it.
		o.Files = inodes.Make(o.Dir, 0, 0)
		defer o.Files.Close()
		o.Files.KeepFilled(2)
		for deadline := time.Now().Add(5 * time.Second); inodes.Available(); time.Sleep(time.Millisecond) {
			if f, _ := o.Files.Held(); f == 2 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the outbox holds %d files ahead after 5 s, want 2", f)
			}
		}
	}
	o.Now = func() time.Time { return time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC) }
	if err := o.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if f, _ := o.Files.FromPool(); ahead && inodes.Available() && f != 1 {
		t.Errorf("the message took %d files from those kept ahead, want 1", f)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "outbox"))
	if len(entries) != 1 {
		t.Fatalf("the outbox holds %v, want one .eml file", entries)
	}
	if fi, err := entries[0].Info(); err != nil || fi.Mode() != 0o600 {
		t.Errorf("the message's mode is %v (%v), want -rw------- (it carries approval links)", fi.Mode(), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("got %d .eml files, want 1", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != msg.Subject {
		t.Errorf("subject: got %q (%v), want %q", subj, err, msg.Subject)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != len(msg.To) {
		t.Errorf("To: got %v (%v), want %v", to, err, msg.To)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date header: %v", err)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	var got []string
	var bodies []string
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(m.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			got = append(got, ct)
			b, _ := io.ReadAll(p) // multipart decodes quoted-printable itself
			bodies = append(bodies, string(b))
		}
	} else {
		got = append(got, mt)
		b, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		bodies = append(bodies, string(b))
	}
	if strings.Join(got, ",") != strings.Join(wantParts, ",") {
		t.Errorf("parts: got %v, want %v", got, wantParts)
	}
	if !strings.Contains(strings.ReplaceAll(bodies[0], "\r\n", "\n"), msg.Text) {
		t.Errorf("text part: got %q, want it to contain %q", bodies[0], msg.Text)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line longer than RFC 5322 allows: %d", len(line))
		}
	}
	lines := strings.Split(strings.TrimSpace(term.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], msg.To[0]) {
		t.Errorf("terminal summary: got %q, want one line naming %s", term.String(), msg.To[0])
	}
	if len(msg.Links) > 0 && !strings.Contains(lines[0], msg.Links[0]) {
		t.Errorf("terminal summary %q lacks the link", lines[0])
	}
}

func TestOutboxRefusesBadMessages(t *testing.T) {
	o, err := NewOutbox(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"no recipient", Message{Subject: "s", Text: "t"}, "no recipient"},
		{"header injection", Message{To: []string{"a@b.c\r\nBcc: x@y.z"}, Subject: "s"}, "bad recipient"},
		{"not an address", Message{To: []string{"nobody"}, Subject: "s"}, "bad recipient"},
		{"no subject", Message{To: []string{"a@b.c"}}, "no subject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := o.Send(context.Background(), tc.msg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestFilterPolicy(t *testing.T) {
	if got, want := FilterPolicy(" Ana@Example.com "), `{"recipient":["ana@example.com"]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
