// Package webauth signs people into shipgate's console on AWS with a Cognito user pool's
// hosted UI (OAuth 2.0 authorization code flow with PKCE), checked by the Api Lambda
// itself: a browser opening the console carries no Bearer token, so an API Gateway JWT
// authorizer would turn every page into a 401. After the ID token is verified (RS256
// against the pool's JWKS, issuer, audience, token_use, expiry, verified email) the
// browser holds a session cookie signed with the link-signing key; every console
// request turns it into the request identity (web.WithIdentity) that shared/console
// reads. Programmatic clients send the ID token as a Bearer token instead, verified by
// the same code. Approval links and the webhook stay public: their HMACs are the
// credential there. Local mode does not use this package: it signs in a configured user.
package webauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/web"
)

// Routes webauth serves itself.
const (
	PathLogin     = "/auth/login"
	PathCallback  = "/auth/callback"
	PathLogout    = "/auth/logout"
	PathSignedOut = "/auth/signed-out"
)

// Cookie names. The __Host- prefix makes browsers refuse them unless Secure, Path=/ and
// without Domain, so no sibling host can plant or read them.
const (
	SessionCookie = "__Host-shipgate-session"
	LoginCookie   = "__Host-shipgate-login"
)

// Config is what Auth needs.
type Config struct {
	// Issuer is the pool's ID token issuer (IssuerURL(region, poolID)); its JWKS is
	// fetched from Issuer + "/.well-known/jwks.json".
	Issuer string
	// ClientID is the console's app client (public, no secret: PKCE protects the code).
	ClientID string
	// Domain is the hosted UI base URL, https://<prefix>.auth.<region>.amazoncognito.com.
	Domain string
	// BaseURL is the console's public URL (no trailing slash); the callback is
	// BaseURL + PathCallback and the sign-out landing BaseURL + PathSignedOut, both of
	// which the app client must list.
	BaseURL string
	// Key signs sessions and the login state (the link-signing key; separate keys are
	// derived from it per use, so no token of one kind passes as another).
	Key []byte
	// SessionTTL is how long a sign-in lasts; default 8 hours.
	SessionTTL time.Duration
	// Public are path prefixes served without a session (an identity is still attached
	// when the request carries a valid one), e.g. "/approvals/", "/webhooks/".
	Public []string
	// HTTPClient calls the token and JWKS endpoints; default a client with a 5 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Auth is the sign-in flow and the middleware.
type Auth struct {
	c        Config
	verifier *Verifier
	sessKey  []byte
	loginKey []byte
	log      *slog.Logger
}

// New checks c and returns the Auth.
func New(c Config) (*Auth, error) {
	if len(c.Key) < 16 {
		return nil, errors.New("webauth: signing key missing or shorter than 16 bytes")
	}
	c.Domain = strings.TrimRight(c.Domain, "/")
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if err := checkURL("hosted UI domain", c.Domain); err != nil {
		return nil, err
	}
	if err := checkURL("base URL", c.BaseURL); err != nil {
		return nil, err
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	v, err := NewVerifier(c.Issuer, c.ClientID, c.HTTPClient, c.Now)
	if err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Auth{c: c, verifier: v, sessKey: derive(c.Key, "shipgate webauth session v1"),
		loginKey: derive(c.Key, "shipgate webauth login state v1"), log: log}, nil
}

// Verifier is the ID token verifier Auth uses (for Bearer tokens and the callback).
func (a *Auth) Verifier() *Verifier { return a.verifier }

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// seal and open are the signed cookie values: base64url(JSON) "." base64url(HMAC).
func seal(key []byte, v any) string {
	b, _ := json.Marshal(v)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func open(key []byte, s string, v any) bool {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	if !hmac.Equal(got, m.Sum(nil)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && json.Unmarshal(b, v) == nil
}

type session struct {
	Email string `json:"e"`
	Exp   int64  `json:"x"`
}

type loginState struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Next     string `json:"r"`
	Exp      int64  `json:"x"`
}

// SessionValue is a session cookie value for email valid until exp (tests and tools
// that need a signed-in browser without the hosted UI).
func (a *Auth) SessionValue(email string, exp time.Time) string {
	return seal(a.sessKey, session{Email: strings.ToLower(email), Exp: exp.Unix()})
}

// Session returns the signed-in email of r's session cookie, if valid and unexpired.
func (a *Auth) Session(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	var s session
	if !open(a.sessKey, c.Value, &s) || s.Email == "" || a.c.Now().Unix() >= s.Exp {
		return "", false
	}
	return s.Email, true
}

// Identify returns who r is: a valid session cookie, else a valid Bearer ID token.
// bearerErr is set when a Bearer token was sent and refused.
func (a *Auth) Identify(r *http.Request) (email string, ok bool, bearerErr error) {
	if e, ok := a.Session(r); ok {
		return e, true, nil
	}
	if tok, ok := bearer(r); ok {
		c, err := a.verifier.Verify(r.Context(), tok)
		if err != nil {
			return "", false, err
		}
		return c.Email, true, nil
	}
	return "", false, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// Wrap serves webauth's routes and puts the signed-in identity on every other request
// to next. Outside the public prefixes a request without one is refused: a GET or HEAD
// of a page is redirected to sign in, anything else (and all of /api/) answers 401.
// An identity already on the request (API Gateway JWT authorizer claims, mapped by
// web.Request) is kept: that layer verified it.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			a.serveAuth(w, r)
			return
		}
		if _, ok := web.Identity(r); ok {
			next.ServeHTTP(w, r)
			return
		}
		email, ok, berr := a.Identify(r)
		if ok {
			next.ServeHTTP(w, r.WithContext(web.WithIdentity(r.Context(), email)))
			return
		}
		if a.public(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if berr != nil {
			a.log.Info("bearer token refused", "path", r.URL.Path, "err", berr)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			unauthorized(w, r, "the Bearer token is not a valid ID token of this console's user pool")
			return
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/") {
			http.Redirect(w, r, a.c.BaseURL+PathLogin+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		unauthorized(w, r, "sign in first: open "+a.c.BaseURL+PathLogin+" or send an ID token as Bearer")
	})
}

func (a *Auth) public(path string) bool {
	for _, p := range a.c.Public {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, http.StatusUnauthorized)
}

func (a *Auth) serveAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case PathLogin:
		a.login(w, r)
	case PathCallback:
		a.callback(w, r)
	case PathLogout:
		a.logout(w, r)
	case PathSignedOut:
		page(w, http.StatusOK, "Signed out", `You are signed out of shipgate. <a href="`+html.EscapeString(a.c.BaseURL+PathLogin)+`">Sign in again</a>.`)
	default:
		http.NotFound(w, r)
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeNext keeps only a path on this site, so the login cannot be used as an open
// redirect (//evil.example, /\evil.example, absolute URLs) or loop into /auth/.
func safeNext(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") ||
		strings.HasPrefix(s, "/auth/") || strings.ContainsAny(s, "\r\n") {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return s
}

func (a *Auth) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

// login starts the authorization code flow. The state, PKCE verifier and nonce live in
// a signed cookie for ten minutes: nothing is stored server-side, so any Lambda
// instance can finish the flow.
func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	st := loginState{State: randomString(24), Verifier: randomString(32), Nonce: randomString(24),
		Next: safeNext(r.URL.Query().Get("next")), Exp: a.c.Now().Add(10 * time.Minute).Unix()}
	http.SetCookie(w, a.cookie(LoginCookie, seal(a.loginKey, st), 600))
	challenge := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {a.c.ClientID},
		"redirect_uri":          {a.c.BaseURL + PathCallback},
		"scope":                 {"openid email"},
		"state":                 {st.State},
		"nonce":                 {st.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	http.Redirect(w, r, a.c.Domain+"/oauth2/authorize?"+q.Encode(), http.StatusFound)
}

func (a *Auth) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	http.SetCookie(w, a.cookie(LoginCookie, "", -1)) // one use, whatever happens
	if e := q.Get("error"); e != "" {
		page(w, http.StatusUnauthorized, "Sign-in refused", "The sign-in did not complete ("+html.EscapeString(e)+`). <a href="`+html.EscapeString(a.c.BaseURL+PathLogin)+`">Try again</a>.`)
		return
	}
	c, err := r.Cookie(LoginCookie)
	var st loginState
	if err != nil || !open(a.loginKey, c.Value, &st) || a.c.Now().Unix() >= st.Exp {
		a.retry(w, "The sign-in took too long or was started in another browser.")
		return
	}
	if s := q.Get("state"); subtle.ConstantTimeCompare([]byte(s), []byte(st.State)) != 1 {
		a.log.Warn("sign-in callback with a state that does not match the login cookie")
		a.retry(w, "The sign-in response does not belong to this browser's sign-in.")
		return
	}
	code := q.Get("code")
	if code == "" {
		a.retry(w, "The sign-in response carries no authorization code.")
		return
	}
	idToken, err := a.exchange(r, code, st.Verifier)
	if err != nil {
		a.log.Error("token exchange failed", "err", err)
		page(w, http.StatusBadGateway, "Sign-in failed", "Cognito did not exchange the sign-in code. "+a.again())
		return
	}
	claims, err := a.verifier.Verify(r.Context(), idToken)
	if err != nil {
		a.log.Warn("ID token from the token endpoint refused", "err", err)
		page(w, http.StatusUnauthorized, "Sign-in refused", "The identity token was not accepted: "+html.EscapeString(err.Error())+". "+a.again())
		return
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(st.Nonce)) != 1 {
		a.log.Warn("ID token nonce does not match the login cookie")
		a.retry(w, "The identity token was issued for another sign-in.")
		return
	}
	http.SetCookie(w, a.cookie(SessionCookie, a.SessionValue(claims.Email, a.c.Now().Add(a.c.SessionTTL)), int(a.c.SessionTTL.Seconds())))
	a.log.Info("signed in", "email", claims.Email)
	http.Redirect(w, r, a.c.BaseURL+st.Next, http.StatusSeeOther)
}

func (a *Auth) again() string {
	return `<a href="` + html.EscapeString(a.c.BaseURL+PathLogin) + `">Sign in again</a>.`
}

func (a *Auth) retry(w http.ResponseWriter, why string) {
	page(w, http.StatusBadRequest, "Sign-in failed", html.EscapeString(why)+" "+a.again())
}

// exchange posts the code with the PKCE verifier to the token endpoint and returns the
// ID token.
func (a *Auth) exchange(r *http.Request, code, verifier string) (string, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {a.c.ClientID},
		"code":          {code},
		"redirect_uri":  {a.c.BaseURL + PathCallback},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, a.c.Domain+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := a.c.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var out struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	_ = json.Unmarshal(body, &out)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint: status %d, error %q", res.StatusCode, out.Error)
	}
	if out.IDToken == "" {
		return "", errors.New("token endpoint answered without an id_token")
	}
	return out.IDToken, nil
}

// logout drops the session here and at the hosted UI (whose own cookie would otherwise
// sign the browser straight back in).
func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, a.cookie(SessionCookie, "", -1))
	q := url.Values{"client_id": {a.c.ClientID}, "logout_uri": {a.c.BaseURL + PathSignedOut}}
	http.Redirect(w, r, a.c.Domain+"/logout?"+q.Encode(), http.StatusFound)
}

func page(w http.ResponseWriter, code int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head><body><h1>%s</h1><p id=\"message\">%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), body)
}
