// Package api is the Api Lambda: behind API Gateway's HTTP API it serves the GitHub
// webhook, the approval pages, the console and the JSON API with the same router local
// mode serves (shared/web), adapting API Gateway's events to net/http.
package api

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/console"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/web"
	"github.com/shipgate/shipgate/shared/webhook"
)

// Handler serves API Gateway HTTP API events.
type Handler struct{ lambda web.Lambda }

// Options carry what main loads once at start.
type Options struct {
	// WebhookSecret is the GitHub webhook secret; nil refuses every delivery (fail closed).
	WebhookSecret []byte
	Logger        *slog.Logger
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
	con, err := console.New(g, console.Options{BaseURL: cfg.BaseURL, FormKey: deps.SigningKey, Audit: trail, Logger: log})
	if err != nil {
		return nil, err
	}
	starter, err := trigger.New(cfg, deps, trigger.Options{Audit: trail})
	if err != nil {
		return nil, err
	}
	wh, err := webhook.New(webhook.Options{Secret: o.WebhookSecret, Trigger: starter, Log: log})
	if err != nil {
		return nil, err
	}
	router := web.New(web.Routes{Webhook: wh, Console: con, Audit: audit.NewHTTP(trail, audit.WithDefaultPipeline(cfg.Pipeline)), Logger: log})
	return &Handler{lambda: web.Lambda{H: router}}, nil
}

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
