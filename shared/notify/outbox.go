package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shipgate/shipgate/shared/inodes"
)

// DefaultFrom is the sender address local mode writes into outbox messages.
const DefaultFrom = "shipgate <shipgate@localhost>"

// Outbox writes each message as an RFC 5322 .eml file under Dir and prints a one-line
// summary per message to Term, so a person running local mode sees the link without
// opening a mail client, and tests can parse exactly what a person would receive.
type Outbox struct {
	Dir  string
	Term io.Writer // nil: no terminal summary
	From string    // empty: DefaultFrom
	Now  func() time.Time

	// Files, when set, supplies the messages' files made ahead (a pool on Dir's file
	// system that keeps itself filled): a message then costs a link instead of a new
	// file on the path of the run that sends it.
	Files *inodes.Pool

	mu sync.Mutex // serializes terminal lines so concurrent sends do not interleave
}

var _ Sender = (*Outbox)(nil)

// NewOutbox creates dir (0700: messages carry private approval links) and returns an
// Outbox writing there.
func NewOutbox(dir string, term io.Writer) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("outbox: directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Outbox{Dir: dir, Term: term}, nil
}

// Send writes one .eml file per message (all recipients in To) and the summary line.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now().UTC()
	raw, err := o.render(m, t)
	if err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	kind := sanitize(m.Kind)
	if kind == "" {
		kind = "message"
	}
	name := fmt.Sprintf("%s-%s-%s.eml", t.Format("20060102T150405.000000000Z"), kind, hex.EncodeToString(rnd[:]))
	// Whole or not at all, so a reader polling the directory never sees half a message.
	if err := o.Files.Publish(filepath.Join(o.Dir, name), raw, 0o600); err != nil {
		return fmt.Errorf("outbox: write %s: %w", name, err)
	}
	if o.Term != nil {
		line := fmt.Sprintf("mail to %s: %s", strings.Join(m.To, ", "), oneLine(m.Subject))
		if len(m.Links) > 0 {
			line += "  " + m.Links[0]
		}
		o.mu.Lock()
		fmt.Fprintln(o.Term, line)
		o.mu.Unlock()
	}
	return nil
}

func (o *Outbox) render(m Message, t time.Time) ([]byte, error) {
	from := o.From
	if from == "" {
		from = DefaultFrom
	}
	var b bytes.Buffer
	var id [12]byte
	_, _ = rand.Read(id[:])
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	hdr("Date", t.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@shipgate.local>")
	if m.Kind != "" {
		hdr("X-Shipgate-Kind", oneLine(m.Kind))
	}
	if m.RunID != "" {
		hdr("X-Shipgate-Run", oneLine(m.RunID))
	}
	hdr("MIME-Version", "1.0")
	if m.HTML == "" {
		hdr("Content-Type", `text/plain; charset="utf-8"`)
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	// Plain text first: RFC 2046 orders alternatives from least to most faithful.
	for _, part := range []struct{ ctype, text string }{
		{`text/plain; charset="utf-8"`, m.Text},
		{`text/html; charset="utf-8"`, m.HTML},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.ctype)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.text); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// writeQP encodes quoted-printable, which keeps lines under 76 characters so long links
// survive SMTP relays that fold or truncate long lines.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")); err != nil {
		return err
	}
	return qp.Close()
}

// Validate checks what every sender needs: at least one recipient, each a plain address,
// and a subject.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return errors.New("notify: message has no recipient")
	}
	for _, to := range m.To {
		if strings.TrimSpace(to) == "" || strings.ContainsAny(to, "\r\n,<>") || !strings.Contains(to, "@") {
			return fmt.Errorf("notify: bad recipient address %q", to)
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		return errors.New("notify: message has no subject")
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.':
			b.WriteRune('-')
		}
	}
	return b.String()
}
