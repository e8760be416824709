// Package cognitotest is a stand-in for the Cognito side of the console's sign-in, at the
// protocol level, for tests: an HTTP server on 127.0.0.1 with the user pool's JWKS, the
// hosted UI's authorize and logout endpoints (which sign the configured user in without
// a form) and the token endpoint, which checks the code, client id, redirect URI and
// PKCE verifier and returns an RS256 ID token signed with a key generated at start.
package cognitotest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Server is the stand-in. Its URL serves as both the hosted UI domain and, under
// /<PoolID>, the issuer.
type Server struct {
	URL      string
	PoolID   string
	ClientID string
	// Callback and SignedOut are the URLs the app client allows.
	Callback, SignedOut string
	Key                 *rsa.PrivateKey
	Kid                 string

	mu                 sync.Mutex
	user               string
	codes              map[string]grant
	exchanges, refused int
	srv                *httptest.Server
}

type grant struct {
	challenge, redirect, nonce, email string
}

// Start starts the stand-in for an app whose public URL is baseURL, signing in user.
func Start(t testing.TB, baseURL, user string) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{PoolID: "us-east-1_TestPool1", ClientID: "console-client-1", Key: key, Kid: "test-key-1",
		Callback: baseURL + "/auth/callback", SignedOut: baseURL + "/auth/signed-out", user: user, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+s.PoolID+"/.well-known/jwks.json", s.jwks)
	mux.HandleFunc("GET /oauth2/authorize", s.authorize)
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("GET /logout", s.logout)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetUser changes who the hosted UI signs in next.
func (s *Server) SetUser(email string) {
	s.mu.Lock()
	s.user = email
	s.mu.Unlock()
}

// Counts are the code exchanges answered with a token, and those refused.
func (s *Server) Counts() (exchanged, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges, s.refused
}

// Issuer is the pool's issuer URL.
func (s *Server) Issuer() string { return s.URL + "/" + s.PoolID }

// Claims are the standard claims of an ID token for email, valid for an hour.
func (s *Server) Claims(email string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": s.Issuer(), "aud": s.ClientID, "token_use": "id", "sub": "sub-" + email,
		"email": email, "email_verified": true, "cognito:username": email,
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Sign returns an RS256 JWT of claims signed by the pool's key.
func (s *Server) Sign(claims map[string]any) string { return SignWith(s.Key, s.Kid, "RS256", claims) }

// SignWith signs claims with key under kid, writing alg into the header as given (to
// forge tokens in tests).
func SignWith(key *rsa.PrivateKey, kid, alg string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err) // a generated 2048-bit key always signs
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := s.Key.PublicKey
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": s.Kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func oauthError(w http.ResponseWriter, code int, e string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e})
}

// authorize is the hosted UI: it checks the request the way Cognito does and "signs in"
// the configured user at once.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != s.ClientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case q.Get("redirect_uri") != s.Callback:
		http.Error(w, "redirect_uri mismatch", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "":
		http.Error(w, "want response_type=code, S256 PKCE and a state", http.StatusBadRequest)
		return
	}
	code := base64.RawURLEncoding.EncodeToString(randomBytes(24))
	s.mu.Lock()
	s.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"), email: s.user}
	s.mu.Unlock()
	http.Redirect(w, r, s.Callback+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // codes are single use
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code":
		s.refused++
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	case f.Get("client_id") != s.ClientID:
		s.refused++
		oauthError(w, http.StatusBadRequest, "invalid_client")
	case !ok || f.Get("redirect_uri") != g.redirect || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		s.refused++
		oauthError(w, http.StatusBadRequest, "invalid_grant")
	default:
		s.exchanges++
		c := s.Claims(g.email)
		if g.nonce != "" {
			c["nonce"] = g.nonce
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id_token": s.Sign(c), "access_token": "opaque-access", "token_type": "Bearer", "expires_in": 3600})
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID || q.Get("logout_uri") != s.SignedOut {
		http.Error(w, "logout_uri not allowed for this client", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, s.SignedOut, http.StatusFound)
}
