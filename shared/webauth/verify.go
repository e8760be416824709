package webauth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// IssuerURL is the ID token issuer of a Cognito user pool in the aws partition; its JWKS
// is at IssuerURL + "/.well-known/jwks.json".
func IssuerURL(region, poolID string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/" + poolID
}

// Claims are what shipgate takes from a verified ID token.
type Claims struct {
	Subject string
	Email   string
	Nonce   string
	Expires time.Time
}

// ErrInvalidToken is wrapped by every refusal of Verify, so callers can answer 401
// without telling a transient JWKS outage apart from a forged token by accident.
var ErrInvalidToken = errors.New("invalid ID token")

// Verifier checks Cognito ID tokens: RS256 signature by a key of the pool's JWKS, issuer,
// audience (the app client), token_use "id", expiry and a verified email.
type Verifier struct {
	issuer, clientID, jwksURL string
	http                      *http.Client
	now                       func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

// minRefetch bounds JWKS fetches caused by unknown key ids: a flood of tokens with
// made-up kids must not turn into a flood of requests to Cognito.
const minRefetch = 5 * time.Minute

// NewVerifier returns a verifier for tokens issued by issuer to clientID. The issuer must
// be https (plain http only on a loopback host, for tests); client may be nil.
func NewVerifier(issuer, clientID string, client *http.Client, now func() time.Time) (*Verifier, error) {
	issuer = strings.TrimRight(issuer, "/")
	if err := checkURL("issuer", issuer); err != nil {
		return nil, err
	}
	if clientID == "" {
		return nil, errors.New("webauth: no app client id")
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{issuer: issuer, clientID: clientID, jwksURL: issuer + "/.well-known/jwks.json", http: client, now: now}, nil
}

// checkURL refuses what would send tokens or codes in clear text to a remote host.
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("webauth: %s %q is not an absolute URL", what, s)
	}
	h := u.Hostname()
	loopback := h == "127.0.0.1" || h == "::1" || h == "localhost"
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return fmt.Errorf("webauth: %s %q must be https", what, s)
	}
	return nil
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss           string          `json:"iss"`
	Aud           json.RawMessage `json:"aud"`
	TokenUse      string          `json:"token_use"`
	Exp           *float64        `json:"exp"`
	Sub           string          `json:"sub"`
	Email         string          `json:"email"`
	EmailVerified any             `json:"email_verified"`
	Nonce         string          `json:"nonce"`
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, a...))
}

// Verify checks raw and returns its claims. Every refusal wraps ErrInvalidToken; a JWKS
// that cannot be fetched is reported as such (and also wraps it: no key, no trust).
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, invalid("not a JWS compact token")
	}
	var h jwtHeader
	if err := decodePart(parts[0], &h); err != nil {
		return nil, invalid("header: %v", err)
	}
	// Only RS256: accepting the header's choice is how "none" and HS256-with-the-public-key
	// forgeries get in.
	if h.Alg != "RS256" {
		return nil, invalid("algorithm %q, want RS256", h.Alg)
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalid("signature is not base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return nil, invalid("signature does not verify")
	}
	var c jwtClaims
	if err := decodePart(parts[1], &c); err != nil {
		return nil, invalid("claims: %v", err)
	}
	if c.Iss != v.issuer {
		return nil, invalid("issuer %q, want %q", c.Iss, v.issuer)
	}
	if !audienceHas(c.Aud, v.clientID) {
		return nil, invalid("audience %s is not this app client", string(c.Aud))
	}
	if c.TokenUse != "id" {
		return nil, invalid("token_use %q, want id (send the ID token)", c.TokenUse)
	}
	if c.Exp == nil {
		return nil, invalid("no exp claim")
	}
	exp := time.Unix(int64(*c.Exp), 0)
	if !v.now().Before(exp) {
		return nil, invalid("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if c.Email == "" {
		return nil, invalid("no email claim (add the email scope and attribute)")
	}
	if !isTrue(c.EmailVerified) {
		return nil, invalid("email %s is not verified", c.Email)
	}
	return &Claims{Subject: c.Sub, Email: strings.ToLower(c.Email), Nonce: c.Nonce, Expires: exp}, nil
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// isTrue accepts Cognito's boolean and the string form some pools emit.
func isTrue(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true"
	}
	return false
}

// key returns the public key kid, fetching the JWKS when it is not cached yet (or a
// rotation brought a new kid, at most once per minRefetch).
func (v *Verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if v.keys != nil && v.now().Sub(v.fetched) < minRefetch {
		return nil, invalid("unknown key id %q", kid)
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	v.keys, v.fetched = keys, v.now()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	return nil, invalid("unknown key id %q", kid)
}

type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		N   string `json:"n"`
		E   string `json:"e"`
	} `json:"keys"`
}

func (v *Verifier) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %v", err)
	}
	res, err := v.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks %s: status %d", v.jwksURL, res.StatusCode)
	}
	var set jwks
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks %s: %v", v.jwksURL, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks %s has no usable RSA signing key", v.jwksURL)
	}
	return keys, nil
}
