package webauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/web"
	"github.com/shipgate/shipgate/shared/webauth"
	"github.com/shipgate/shipgate/shared/webauth/cognitotest"
)

// What the sign-in adds to every console request: the session cookie's HMAC check, and
// for scripts a Bearer ID token's RS256 verification (JWKS cached after the first).
func BenchmarkIdentify(b *testing.B) {
	idp := cognitotest.Start(b, "https://console.example.com", "ann@example.com")
	a, err := webauth.New(webauth.Config{Issuer: idp.Issuer(), ClientID: idp.ClientID, Domain: idp.URL, BaseURL: "https://console.example.com", Key: key})
	if err != nil {
		b.Fatal(err)
	}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := web.Identity(r); !ok {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	cookie := &http.Cookie{Name: webauth.SessionCookie, Value: a.SessionValue("ann@example.com", time.Now().Add(time.Hour))}
	token := idp.Sign(idp.Claims("ann@example.com"))
	if _, err := a.Verifier().Verify(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"session cookie", func(r *http.Request) { r.AddCookie(cookie) }},
		{"bearer ID token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/approvals", nil)
			bc.set(req)
			start := time.Now()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/request")
		})
	}
}
