// Package api is the Api Lambda: behind API Gateway's HTTP API it serves the GitHub
// webhook, the approval pages, the console and the JSON API with the same router local
// mode serves (shared/web), adapting API Gateway's events to net/http. API Gateway lets
// every route through; the console and /api are authenticated here, by the Cognito
// sign-in of shared/webauth (a session cookie for browsers, a Bearer ID token for
// scripts), because a browser opening the console has no token to show an authorizer.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/console"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/web"
	"github.com/shipgate/shipgate/shared/webauth"
	"github.com/shipgate/shipgate/shared/webhook"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Handler serves API Gateway HTTP API events.
type Handler struct{ lambda web.Lambda }

// Options carry what main loads once at start.
type Options struct {
	// WebhookSecret is the GitHub webhook secret; nil refuses every delivery (fail closed).
	WebhookSecret []byte
	Logger        *slog.Logger
	// HTTPClient calls Cognito's token and JWKS endpoints; nil: a 5 s timeout client.
	HTTPClient *http.Client
}

// New builds the router from the function's config and clients. deps.SigningKey must be
// loaded (approval links and console forms are signed with it).
func New(cfg app.Config, deps *app.Deps, o Options) (*Handler, error) {
	if len(deps.SigningKey) == 0 {
		return nil, errors.New("api: no link signing key loaded")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	trail := audit.NewDynamo(deps.DynamoDB, cfg.Table, audit.WithClock(deps.Clock()))
	g, err := gate.New(cfg, deps, gate.WithAudit(trail), gate.WithLogger(log))
	if err != nil {
		return nil, err
	}
	starter, err := trigger.New(cfg, deps, trigger.Options{Audit: trail})
	if err != nil {
		return nil, err
	}
	auth, err := NewAuth(cfg, deps, log, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	if auth == nil {
		log.Warn("no Cognito settings: console and /api answer 401 unless API Gateway's JWT authorizer signed the request in")
	}
	router, err := Router(Parts{Gate: g, Audit: trail, Trigger: starter, WebhookSecret: o.WebhookSecret,
		BaseURL: cfg.BaseURL, Pipeline: cfg.Pipeline, FormKey: deps.SigningKey, Auth: auth, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Handler{lambda: web.Lambda{H: router}}, nil
}

// Parts are what the product's HTTP surface is built from. The Api Lambda and local mode
// differ only in these, so the routes cannot drift apart.
type Parts struct {
	Gate          *gate.Service
	Audit         *audit.Dynamo
	Trigger       webhook.Trigger // starts runs from GitHub deliveries
	WebhookSecret []byte          // nil refuses every delivery (fail closed)
	BaseURL       string
	Pipeline      string
	FormKey       []byte // signs the console's forms (the link-signing key)
	// LocalUser signs every console request in as this email (local mode only).
	LocalUser string
	// Auth, when set, puts the console and audit routes behind the Cognito session.
	Auth   *webauth.Auth
	Logger *slog.Logger
}

// Router is the webhook, the approval pages and console, and the audit page and API.
func Router(p Parts) (http.Handler, error) {
	con, err := console.New(p.Gate, console.Options{BaseURL: p.BaseURL, LocalUser: p.LocalUser, FormKey: p.FormKey, Audit: p.Audit, Logger: p.Logger})
	if err != nil {
		return nil, err
	}
	wh, err := webhook.New(webhook.Options{Secret: p.WebhookSecret, Trigger: p.Trigger, Log: p.Logger})
	if err != nil {
		return nil, err
	}
	var consoleH, auditH http.Handler = con, audit.NewHTTP(p.Audit, audit.WithDefaultPipeline(p.Pipeline))
	if p.Auth != nil {
		// The console's routes (which include the approval link pages, left public) and
		// the audit ones go through the session check; the webhook never does.
		consoleH, auditH = p.Auth.Wrap(consoleH), p.Auth.Wrap(auditH)
	}
	return web.New(web.Routes{Webhook: wh, Console: consoleH, Audit: auditH, Logger: p.Logger}), nil
}

// NewAuth builds the console's Cognito sign-in from cfg, or returns nil when no Cognito
// setting is present. A partial configuration is an error: half a sign-in would lock
// every user out without saying why. The issuer defaults to the pool's in the region of
// the AWS config.
func NewAuth(cfg app.Config, deps *app.Deps, log *slog.Logger, client *http.Client) (*webauth.Auth, error) {
	if cfg.CognitoPoolID == "" && cfg.CognitoClientID == "" && cfg.CognitoDomain == "" {
		return nil, nil
	}
	var missing []string
	for _, kv := range [][2]string{{workflow.EnvCognitoPoolID, cfg.CognitoPoolID}, {workflow.EnvCognitoClientID, cfg.CognitoClientID},
		{workflow.EnvCognitoDomain, cfg.CognitoDomain}, {workflow.EnvBaseURL, cfg.BaseURL}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api: console sign-in half configured, missing %s", strings.Join(missing, ", "))
	}
	issuer := cfg.CognitoIssuer
	if issuer == "" {
		if deps.AWS.Region == "" {
			return nil, fmt.Errorf("api: no AWS region to derive the Cognito issuer from (set AWS_REGION or %s)", workflow.EnvCognitoIssuer)
		}
		issuer = webauth.IssuerURL(deps.AWS.Region, cfg.CognitoPoolID)
	}
	a, err := webauth.New(webauth.Config{Issuer: issuer, ClientID: cfg.CognitoClientID, Domain: cfg.CognitoDomain, BaseURL: cfg.BaseURL,
		// Not deps.Now: ID tokens are dated by Cognito's real clock, whatever clock runs
		// the approval timeouts.
		Key: deps.SigningKey, Public: PublicPrefixes, HTTPClient: client, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("api: console sign-in: %w", err)
	}
	return a, nil
}

// PublicPrefixes are served without a session: the approval link pages (the signed link
// token is the credential; a session, when present, still signs the console's own
// decision form in) and the webhook (GitHub's HMAC).
var PublicPrefixes = []string{"/approvals/", "/webhooks/"}

// Handle serves one HTTP API request.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.lambda.Handle(ctx, ev)
}

// LoadWebhookSecret reads the GitHub webhook secret named by cfg.WebhookSecret from
// Secrets Manager; no id configured means none (the webhook then refuses everything).
func LoadWebhookSecret(ctx context.Context, cfg app.Config, deps *app.Deps) ([]byte, error) {
	if cfg.WebhookSecret == "" {
		return nil, nil
	}
	return webhook.LoadSecret(ctx, secretsmanager.NewFromConfig(deps.AWS), cfg.WebhookSecret)
}
