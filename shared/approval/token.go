package approval

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Link tokens are what an approver's email link carries instead of the task token:
//
//	base64url( version(1) | expiry unix seconds(4) | nonce(8) | approver index(1) | mac(16) )
//
// The MAC is HMAC-SHA256 over the approval id, the approver's email (the index only
// points into the approval's stored approver list), the expiry and the nonce, truncated to
// 128 bits. That keeps the token at 40 characters, so the whole link stays short enough
// that mail clients do not wrap or truncate it, and binds it to one approval and one
// person: a token moved to another approval's URL, edited to name another approver, or
// signed with another key fails the MAC.
const (
	tokenVersion = 1
	tokenMACLen  = 16
	tokenRawLen  = 1 + 4 + 8 + 1 + tokenMACLen
	// MinKeyLen is the shortest signing key accepted (256 bits).
	MinKeyLen = 32
)

// Why a link token was refused; the reason is recorded in the refusal audit record.
var (
	ErrTokenMissing   = errors.New("link token missing")
	ErrTokenMalformed = errors.New("link token malformed")
	ErrTokenSignature = errors.New("link token signature invalid (tampered, other approval or other approver)")
	ErrTokenExpired   = errors.New("link token expired")
)

// Signer mints and checks link tokens with one key.
type Signer struct{ key []byte }

// NewSigner returns a Signer; the key must hold at least MinKeyLen bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("approval: signing key has %d bytes, want at least %d", len(key), MinKeyLen)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Mint returns a token for approvers[idx] on approval id, valid until exp.
func (s *Signer) Mint(id string, approvers []string, idx int, exp time.Time) (string, error) {
	if idx < 0 || idx >= len(approvers) || idx > 255 {
		return "", fmt.Errorf("approval: approver index %d out of range", idx)
	}
	var raw [tokenRawLen]byte
	raw[0] = tokenVersion
	binary.BigEndian.PutUint32(raw[1:5], uint32(exp.Unix()))
	if _, err := rand.Read(raw[5:13]); err != nil {
		return "", fmt.Errorf("approval: nonce: %w", err)
	}
	raw[13] = byte(idx)
	copy(raw[14:], s.mac(id, approvers[idx], raw[1:5], raw[5:13]))
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// Verify checks tok for approval id and returns the approver it was minted for.
func (s *Signer) Verify(id string, approvers []string, tok string, now time.Time) (string, error) {
	raw, err := decodeToken(tok)
	if err != nil {
		return "", err
	}
	idx := int(raw[13])
	if idx >= len(approvers) {
		return "", ErrTokenSignature
	}
	if !hmac.Equal(raw[14:], s.mac(id, approvers[idx], raw[1:5], raw[5:13])) {
		return "", ErrTokenSignature
	}
	// Checked after the MAC so an edited expiry reads as tampering, not as expiry.
	if exp := time.Unix(int64(binary.BigEndian.Uint32(raw[1:5])), 0); !now.Before(exp) {
		return "", ErrTokenExpired
	}
	return approvers[idx], nil
}

// CheckTokenSyntax returns ErrTokenMissing or ErrTokenMalformed when tok cannot be a
// link token at all, whatever the key: anyone can send such a request without holding
// anything, so the gate refuses it without an audit record.
func CheckTokenSyntax(tok string) error {
	_, err := decodeToken(tok)
	return err
}

func decodeToken(tok string) ([]byte, error) {
	if tok == "" {
		return nil, ErrTokenMissing
	}
	if len(tok) != base64.RawURLEncoding.EncodedLen(tokenRawLen) {
		return nil, ErrTokenMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != tokenRawLen || raw[0] != tokenVersion {
		return nil, ErrTokenMalformed
	}
	return raw, nil
}

func (s *Signer) mac(id, approver string, exp, nonce []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("shipgate-approval-link\x00"))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(approver))
	m.Write([]byte{0})
	m.Write(exp)
	m.Write(nonce)
	return m.Sum(nil)[:tokenMACLen]
}

// FormToken is the console's anti-CSRF value for user acting on approval id: a page
// rendered for that user carries it, and a POST without it is refused, so another site
// cannot make a signed-in browser decide.
func (s *Signer) FormToken(user, id string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("shipgate-console-form\x00"))
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:tokenMACLen])
}

// CheckFormToken reports whether v is FormToken(user, id).
func (s *Signer) CheckFormToken(user, id, v string) bool {
	return hmac.Equal([]byte(v), []byte(s.FormToken(user, id)))
}
