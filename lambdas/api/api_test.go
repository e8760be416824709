package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/lambdas/api"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
	"github.com/shipgate/shipgate/shared/webhook"
)

// The Api Lambda serves the product's routes from API Gateway events, against a real
// DynamoDB-protocol table.
func TestApiLambdaServesWebhookConsoleAndAuditRoutes(t *testing.T) {
	ctx := context.Background()
	dyn, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dyn.Stop() })
	cfg := app.Config{Table: "shipgate", Bucket: "artifacts", Pipeline: "app", BaseURL: "https://example.execute-api.us-east-1.amazonaws.com",
		StateMachineARN: "arn:aws:states:us-east-1:000000000000:stateMachine:shipgate",
		Endpoints:       awsclient.Endpoints{DynamoDB: dyn.URL, StepFunctions: "http://127.0.0.1:1", S3: "http://127.0.0.1:1"}}
	deps, err := app.NewDeps(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := table.Ensure(ctx, deps.DynamoDB, "shipgate"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.New(cfg, deps, api.Options{}); err == nil {
		t.Fatal("New without a signing key: want an error")
	}
	deps.SigningKey = []byte("0123456789abcdef0123456789abcdef")
	secret := []byte("hook-secret")
	h, err := api.New(cfg, deps, api.Options{WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	req := func(method, path, query string, headers map[string]string, body []byte, b64 bool, claims map[string]string) events.APIGatewayV2HTTPRequest {
		ev := events.APIGatewayV2HTTPRequest{RawPath: path, RawQueryString: query, Headers: headers, Body: string(body), IsBase64Encoded: b64}
		ev.RequestContext.HTTP.Method = method
		if b64 {
			ev.Body = base64.StdEncoding.EncodeToString(body)
		}
		if claims != nil {
			ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}
		}
		return ev
	}
	tests := []struct {
		name     string
		ev       events.APIGatewayV2HTTPRequest
		wantCode int
		wantBody string
	}{
		{"signed ping, base64 body", req("POST", "/webhooks/github", "", map[string]string{
			"x-github-event": "ping", "x-github-delivery": "d1", "content-type": "application/json",
			"x-hub-signature-256": webhook.SignatureValue(secret, ping)}, ping, true, nil), http.StatusOK, ""},
		{"unsigned push", req("POST", "/webhooks/github", "", map[string]string{"x-github-event": "push"}, []byte(`{}`), false, nil), http.StatusUnauthorized, ""},
		{"pending approvals as JSON for a signed-in user", req("GET", "/api/approvals", "", nil, nil, false, map[string]string{"email": "lead@example.com"}), http.StatusOK, "["},
		{"audit API with a bad filter", req("GET", "/api/audit", "since=yesterday", nil, nil, false, map[string]string{"email": "lead@example.com"}), http.StatusBadRequest, "since"},
		{"approval page for an id that is no approval id", req("GET", "/approvals/ap-0000", "t=forged", nil, nil, false, nil), http.StatusNotFound, ""},
		{"approval page with a forged token", req("GET", "/approvals/ap-00112233445566778899", "t="+strings.Repeat("A", 40), nil, nil, false, nil), http.StatusForbidden, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Handle(ctx, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tc.wantCode, res.Body)
			}
			if tc.wantBody != "" && !strings.Contains(res.Body, tc.wantBody) {
				t.Errorf("body %q does not contain %q", res.Body, tc.wantBody)
			}
		})
	}
}
