package web_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/shared/web"
)

func TestAdapterHandsHandlersTheRawBodyAndIdentity(t *testing.T) {
	var gotBody, gotUser, gotQuery, gotSig string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotQuery, gotSig = string(b), r.URL.RawQuery, r.Header.Get("X-Hub-Signature-256")
		gotUser, _ = web.Identity(r)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	})
	tests := []struct {
		name     string
		ev       events.APIGatewayV2HTTPRequest
		wantBody string
		wantUser string
	}{
		{
			name: "base64 body is decoded",
			ev: events.APIGatewayV2HTTPRequest{RawPath: "/webhooks/github", Body: base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)), IsBase64Encoded: true,
				Headers:        map[string]string{"x-hub-signature-256": "sha256=ab"},
				RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}},
			wantBody: `{"a":1}`,
		},
		{
			name: "jwt email claim is the identity",
			ev: events.APIGatewayV2HTTPRequest{RawPath: "/api/approvals", RawQueryString: "x=1", Body: "plain",
				RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"},
					Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"email": "lead@example.com"}}}}},
			wantBody: "plain",
			wantUser: "lead@example.com",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotUser = ""
			res, err := web.Lambda{H: h}.Handle(context.Background(), tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusAccepted || res.Body != "ok" {
				t.Errorf("response = %d %q, want 202 ok", res.StatusCode, res.Body)
			}
			if gotBody != tc.wantBody {
				t.Errorf("body = %q, want %q", gotBody, tc.wantBody)
			}
			if gotUser != tc.wantUser {
				t.Errorf("identity = %q, want %q", gotUser, tc.wantUser)
			}
			if tc.ev.RawQueryString != "" && gotQuery != tc.ev.RawQueryString {
				t.Errorf("query = %q, want %q", gotQuery, tc.ev.RawQueryString)
			}
		})
	}
	if gotSig != "" {
		t.Logf("signature header seen: %s", gotSig)
	}
}

func TestBadBase64IsA400NotAPanic(t *testing.T) {
	res, err := web.Lambda{H: http.NotFoundHandler()}.Handle(context.Background(), events.APIGatewayV2HTTPRequest{RawPath: "/", Body: "%%%", IsBase64Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, "base64") {
		t.Fatalf("got %d %q, want 400 naming base64", res.StatusCode, res.Body)
	}
}

func TestRouterSetsNoReferrerAndRecoversPanics(t *testing.T) {
	h := web.New(web.Routes{Console: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })})
	res, _ := web.Lambda{H: h}.Handle(context.Background(), events.APIGatewayV2HTTPRequest{RawPath: "/approvals/x", RawQueryString: "t=secret"})
	if res.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", res.StatusCode)
	}
	if res.Headers["Referrer-Policy"] != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer", res.Headers["Referrer-Policy"])
	}
}
