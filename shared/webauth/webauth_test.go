package webauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/web"
	"github.com/shipgate/shipgate/shared/webauth"
	"github.com/shipgate/shipgate/shared/webauth/cognitotest"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// site is the app (over TLS, like API Gateway) wrapped by webauth, with the Cognito
// stand-in next to it. The inner handler answers "who=<identity>" so tests see exactly
// what the middleware let through.
type site struct {
	app  *httptest.Server
	idp  *cognitotest.Server
	auth *webauth.Auth
}

func newSite(t *testing.T, user string, tweak func(*webauth.Config)) *site {
	t.Helper()
	s := &site{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := web.Identity(r)
		fmt.Fprintf(w, "%s %s who=%s", r.Method, r.URL.Path, who)
	})
	var h http.Handler = http.NotFoundHandler()
	s.app = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	s.app.StartTLS()
	t.Cleanup(s.app.Close)
	s.idp = cognitotest.Start(t, s.app.URL, user)
	c := webauth.Config{Issuer: s.idp.Issuer(), ClientID: s.idp.ClientID, Domain: s.idp.URL, BaseURL: s.app.URL, Key: key,
		Public: []string{"/approvals/", "/webhooks/"}}
	if tweak != nil {
		tweak(&c)
	}
	a, err := webauth.New(c)
	if err != nil {
		t.Fatal(err)
	}
	s.auth = a
	h = a.Wrap(inner)
	return s
}

// browser is an http.Client with a cookie jar that trusts the app's TLS certificate and
// follows redirects across the app and the stand-in.
func (s *site) browser(t *testing.T, follow bool) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.app.Client()
	c.Jar = jar
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestLoginFlowSignsTheBrowserIn(t *testing.T) {
	s := newSite(t, "Ann@Example.com", nil)
	c := s.browser(t, true)
	res, body := get(t, c, s.app.URL+"/runs/r-1?tab=log")
	if res.StatusCode != http.StatusOK || body != "GET /runs/r-1 who=ann@example.com" {
		t.Fatalf("after sign-in: %d %q, want 200 and the page as ann@example.com", res.StatusCode, body)
	}
	if got := res.Request.URL.RequestURI(); got != "/runs/r-1?tab=log" {
		t.Errorf("landed on %s, want the page first asked for", got)
	}
	if ex, ref := s.idp.Counts(); ex != 1 || ref != 0 {
		t.Errorf("token endpoint: %d exchanges, %d refused; want 1, 0", ex, ref)
	}
	u, _ := url.Parse(s.app.URL)
	var sess *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == webauth.SessionCookie {
			sess = ck
		}
		if ck.Name == webauth.LoginCookie {
			t.Errorf("login state cookie survived the callback")
		}
	}
	if sess == nil {
		t.Fatal("no session cookie in the jar")
	}
	// The session carries on without the stand-in: POSTs and the API see the user too.
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/approvals/ap-1", "POST /approvals/ap-1 who=ann@example.com"},
		{"POST", "/api/approvals/ap-1", "POST /api/approvals/ap-1 who=ann@example.com"},
		{"GET", "/", "GET / who=ann@example.com"},
	} {
		req, _ := http.NewRequest(tc.method, s.app.URL+tc.path, strings.NewReader("x=1"))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != tc.want {
			t.Errorf("%s %s = %d %q, want 200 %q", tc.method, tc.path, res.StatusCode, b, tc.want)
		}
	}
	// Logout clears the session and goes through the hosted UI's logout to signed-out.
	res, body = get(t, c, s.app.URL+webauth.PathLogout)
	if res.StatusCode != 200 || res.Request.URL.Path != webauth.PathSignedOut || !strings.Contains(body, "signed out") {
		t.Errorf("logout ended at %s with %d %q, want the signed-out page", res.Request.URL, res.StatusCode, body)
	}
	nf := s.browser(t, false)
	nf.Jar = c.Jar
	res, _ = get(t, nf, s.app.URL+"/")
	if res.StatusCode != http.StatusFound {
		t.Errorf("console after logout = %d, want a redirect to sign in", res.StatusCode)
	}
}

func TestLoginCookieAndRedirectToHostedUI(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	c := s.browser(t, false)
	res, _ := get(t, c, s.app.URL+"/runs/r-9")
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != s.app.URL+"/auth/login?next=%2Fruns%2Fr-9" {
		t.Fatalf("unauthenticated GET = %d to %q, want 302 to the login route", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = get(t, c, res.Header.Get("Location"))
	loc, _ := url.Parse(res.Header.Get("Location"))
	q := loc.Query()
	if res.StatusCode != http.StatusFound || loc.Scheme+"://"+loc.Host != s.idp.URL || loc.Path != "/oauth2/authorize" {
		t.Fatalf("login = %d to %s, want 302 to the hosted UI's authorize endpoint", res.StatusCode, loc)
	}
	for k, want := range map[string]string{"response_type": "code", "client_id": s.idp.ClientID, "redirect_uri": s.app.URL + "/auth/callback",
		"code_challenge_method": "S256", "scope": "openid email"} {
		if q.Get(k) != want {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 20 || len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" {
		t.Errorf("authorize state %q challenge %q nonce %q: want random state, S256 challenge, nonce", q.Get("state"), q.Get("code_challenge"), q.Get("nonce"))
	}
	var lc *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == webauth.LoginCookie {
			lc = ck
		}
	}
	if lc == nil || !lc.HttpOnly || !lc.Secure || lc.SameSite != http.SameSiteLaxMode || lc.Path != "/" || lc.MaxAge <= 0 || lc.MaxAge > 900 {
		t.Fatalf("login cookie = %+v, want short-lived HttpOnly Secure SameSite=Lax", lc)
	}
	// The cookie is signed: altered, the callback refuses it (and exchanges nothing).
	res, _ = get(t, c, res.Header.Get("Location")) // the stand-in signs in, back to the callback
	u, _ := url.Parse(s.app.URL)
	if lc.Value[0] == 'A' {
		lc.Value = "B" + lc.Value[1:]
	} else {
		lc.Value = "A" + lc.Value[1:]
	}
	c.Jar.SetCookies(u, []*http.Cookie{lc})
	res, body := get(t, c, res.Header.Get("Location"))
	if ex, _ := s.idp.Counts(); res.StatusCode != http.StatusBadRequest || ex != 0 {
		t.Errorf("callback with a tampered login cookie = %d %q after %d exchanges, want 400 and none", res.StatusCode, body, ex)
	}
}

// The callback refuses what does not belong to this browser's sign-in.
func TestCallbackRefusals(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	start := func(t *testing.T, c *http.Client) url.Values {
		res, _ := get(t, c, s.app.URL+webauth.PathLogin)
		res, _ = get(t, c, res.Header.Get("Location")) // the stand-in's authorize
		loc, _ := url.Parse(res.Header.Get("Location"))
		return loc.Query() // code and state for the callback
	}
	tests := []struct {
		name     string
		query    func(q url.Values) url.Values
		dropJar  bool
		wantCode int
	}{
		{"state of another sign-in", func(q url.Values) url.Values { q.Set("state", "forged"); return q }, false, http.StatusBadRequest},
		{"no login cookie", func(q url.Values) url.Values { return q }, true, http.StatusBadRequest},
		{"unknown code", func(q url.Values) url.Values { q.Set("code", "made-up"); return q }, false, http.StatusBadGateway},
		{"error from the hosted UI", func(q url.Values) url.Values { return url.Values{"error": {"access_denied"}} }, false, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := s.browser(t, false)
			q := tc.query(start(t, c))
			if tc.dropJar {
				c = s.browser(t, false)
			}
			res, body := get(t, c, s.app.URL+webauth.PathCallback+"?"+q.Encode())
			if res.StatusCode != tc.wantCode {
				t.Errorf("callback = %d %q, want %d", res.StatusCode, body, tc.wantCode)
			}
			for _, ck := range res.Cookies() {
				if ck.Name == webauth.SessionCookie && ck.MaxAge > 0 {
					t.Errorf("refused callback set a session cookie")
				}
			}
		})
	}
}

// The token endpoint is called for real: a verifier that does not match the challenge
// (as when an attacker injects a code stolen from another browser) is refused there.
func TestTokenEndpointChecksPKCE(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	victim, attacker := s.browser(t, false), s.browser(t, false)
	res, _ := get(t, victim, s.app.URL+webauth.PathLogin)
	res, _ = get(t, victim, res.Header.Get("Location"))
	stolen, _ := url.Parse(res.Header.Get("Location"))
	// The attacker starts their own sign-in (their own state cookie) and swaps in the code.
	res, _ = get(t, attacker, s.app.URL+webauth.PathLogin)
	res, _ = get(t, attacker, res.Header.Get("Location"))
	own, _ := url.Parse(res.Header.Get("Location"))
	q := url.Values{"code": {stolen.Query().Get("code")}, "state": {own.Query().Get("state")}}
	res, _ = get(t, attacker, s.app.URL+webauth.PathCallback+"?"+q.Encode())
	if res.StatusCode == http.StatusSeeOther {
		t.Fatalf("attacker signed in with a stolen code")
	}
	if _, ref := s.idp.Counts(); ref != 1 {
		t.Errorf("token endpoint refused %d exchanges, want 1 (PKCE mismatch)", ref)
	}
}

func TestUnauthenticatedRequests(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	c := s.browser(t, false)
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string
	}{
		{"console page redirects to sign in", "GET", "/", http.StatusFound, ""},
		{"HEAD of a page redirects too", "HEAD", "/runs/r-1", http.StatusFound, ""},
		{"console form POST", "POST", "/runs/r-1", http.StatusUnauthorized, "sign in"},
		{"API GET answers 401 JSON", "GET", "/api/approvals", http.StatusUnauthorized, `{"error"`},
		{"API POST", "POST", "/api/approvals/ap-1", http.StatusUnauthorized, `{"error"`},
		{"approval link page is public", "GET", "/approvals/ap-1", http.StatusOK, "who="},
		{"approval link POST is public", "POST", "/approvals/ap-1", http.StatusOK, "who="},
		{"webhook is public", "POST", "/webhooks/github", http.StatusOK, "who="},
		{"unknown auth route", "GET", "/auth/other", http.StatusNotFound, ""},
		{"auth routes are GET only", "POST", "/auth/login", http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.app.URL+tc.path, nil)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantCode || !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, res.StatusCode, b, tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == http.StatusFound && !strings.HasPrefix(res.Header.Get("Location"), s.app.URL+"/auth/login?next=") {
				t.Errorf("redirect to %q, want the login route", res.Header.Get("Location"))
			}
		})
	}
}

// Bearer ID tokens (programmatic clients of /api) are verified with the same code as the
// callback's; every variant of a bad token is refused.
func TestBearerTokens(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mod func(map[string]any)) string {
		c := s.idp.Claims("bot@example.com")
		mod(c)
		return s.idp.Sign(c)
	}
	good := with(func(map[string]any) {})
	parts := strings.Split(good, ".")
	tests := []struct {
		name, token, want string // want "" means refused
	}{
		{"valid ID token", good, "bot@example.com"},
		{"audience as a list", with(func(c map[string]any) { c["aud"] = []string{"x", s.idp.ClientID} }), "bot@example.com"},
		{"tampered claims", parts[0] + "." + strings.Split(with(func(c map[string]any) { c["email"] = "boss@example.com" }), ".")[1] + "." + parts[2], ""},
		{"expired", with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() }), ""},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), ""},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = "another-client" }), ""},
		{"wrong issuer", with(func(c map[string]any) { c["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other" }), ""},
		{"access token", with(func(c map[string]any) { c["token_use"] = "access" }), ""},
		{"email not verified", with(func(c map[string]any) { c["email_verified"] = false }), ""},
		{"signed by another key, same kid", cognitotest.SignWith(other, s.idp.Kid, "RS256", s.idp.Claims("bot@example.com")), ""},
		{"unknown kid", cognitotest.SignWith(other, "rotated-in", "RS256", s.idp.Claims("bot@example.com")), ""},
		{"alg none", cognitotest.SignWith(s.idp.Key, s.idp.Kid, "none", s.idp.Claims("bot@example.com")), ""},
		{"alg HS256", cognitotest.SignWith(s.idp.Key, s.idp.Kid, "HS256", s.idp.Claims("bot@example.com")), ""},
		{"garbage", "not.a.jwt", ""},
	}
	c := s.browser(t, false)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.app.URL+"/api/approvals", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if tc.want != "" {
				if res.StatusCode != 200 || !strings.HasSuffix(string(b), "who="+tc.want) {
					t.Errorf("got %d %q, want 200 as %s", res.StatusCode, b, tc.want)
				}
				return
			}
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("got %d (WWW-Authenticate %q) %q, want 401 invalid_token", res.StatusCode, res.Header.Get("WWW-Authenticate"), b)
			}
		})
	}
}

func TestVerifierErrors(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	v := s.auth.Verifier()
	_, err := v.Verify(context.Background(), s.idp.Sign(map[string]any{"iss": s.idp.Issuer()}))
	if !errors.Is(err, webauth.ErrInvalidToken) || !strings.Contains(err.Error(), "audience") {
		t.Errorf("Verify = %v, want ErrInvalidToken naming the audience", err)
	}
	// JWKS unreachable: refused (no key, no trust), saying so.
	dead, err := webauth.NewVerifier("http://127.0.0.1:1/pool", "c", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Verify(context.Background(), s.idp.Sign(s.idp.Claims("a@example.com"))); !errors.Is(err, webauth.ErrInvalidToken) || !strings.Contains(err.Error(), "jwks") {
		t.Errorf("Verify with JWKS down = %v, want a refusal naming the jwks fetch", err)
	}
}

func TestSessions(t *testing.T) {
	now := time.Now()
	s := newSite(t, "ann@example.com", func(c *webauth.Config) { c.Now = func() time.Time { return now } })
	other := newSite(t, "ann@example.com", func(c *webauth.Config) { c.Key = []byte("another key of thirty-two bytes!") })
	tests := []struct {
		name, value, want string
	}{
		{"valid", s.auth.SessionValue("ann@example.com", now.Add(time.Hour)), "ann@example.com"},
		{"expired", s.auth.SessionValue("ann@example.com", now.Add(-time.Second)), ""},
		{"signed with another key", other.auth.SessionValue("ann@example.com", now.Add(time.Hour)), ""},
		{"tampered email", tamper(s.auth.SessionValue("ann@example.com", now.Add(time.Hour))), ""},
		{"not a session", "hello", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(&http.Cookie{Name: webauth.SessionCookie, Value: tc.value})
			got, ok := s.auth.Session(req)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Session = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestNextIsKeptOnSite(t *testing.T) {
	s := newSite(t, "ann@example.com", nil)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "/auth/logout", "runs"} {
		t.Run(next, func(t *testing.T) {
			c := s.browser(t, true)
			res, _ := get(t, c, s.app.URL+webauth.PathLogin+"?next="+url.QueryEscape(next))
			if res.Request.URL.Host != strings.TrimPrefix(s.app.URL, "https://") || res.Request.URL.Path != "/" {
				t.Errorf("signed in and landed on %s, want %s/", res.Request.URL, s.app.URL)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := webauth.Config{Issuer: "https://cognito-idp.us-east-1.amazonaws.com/p", ClientID: "c", Domain: "https://x.auth.us-east-1.amazoncognito.com",
		BaseURL: "https://api.example.com", Key: key}
	tests := []struct {
		name string
		mod  func(*webauth.Config)
		want string
	}{
		{"short key", func(c *webauth.Config) { c.Key = []byte("short") }, "key"},
		{"plain http domain", func(c *webauth.Config) { c.Domain = "http://x.example.com" }, "https"},
		{"relative base URL", func(c *webauth.Config) { c.BaseURL = "/console" }, "absolute"},
		{"no client", func(c *webauth.Config) { c.ClientID = "" }, "client"},
		{"no issuer", func(c *webauth.Config) { c.Issuer = "" }, "issuer"},
	}
	if _, err := webauth.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			if _, err := webauth.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if got := webauth.IssuerURL("eu-west-1", "eu-west-1_abc"); got != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc" {
		t.Errorf("IssuerURL = %s", got)
	}
}

// tamper changes the first character of a sealed value's payload.
func tamper(v string) string {
	if v[0] == 'e' {
		return "f" + v[1:]
	}
	return "e" + v[1:]
}
