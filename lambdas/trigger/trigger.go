// Package trigger is the Trigger Lambda: EventBridge delivers each "CodeCommit Repository
// State Change" event here, and the handler starts the push's run through shared/trigger
// (exactly one execution per push) or records why it starts none. Local mode invokes the
// same handler in process with the events its git watcher builds.
package trigger

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/codecommit"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/ccapi"
)

// Handler handles CodeCommit push events.
type Handler struct {
	svc *trigger.Service
}

// New builds the handler as it runs on AWS: runs carry provider codecommit, clone from the
// region's HTTPS URL, list commits through the CodeCommit API, and audit to cfg.Table.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) {
	return NewWithOptions(cfg, deps, trigger.Options{})
}

// NewWithOptions builds the handler with explicit options; local mode passes
// trigger.LocalOptions. Unset Audit means the audit store on cfg.Table, unset Commits (for
// provider codecommit) means the CodeCommit API.
func NewWithOptions(cfg app.Config, deps *app.Deps, o trigger.Options) (*Handler, error) {
	if deps == nil {
		deps = &app.Deps{}
	}
	if o.Audit == nil && deps.DynamoDB != nil && cfg.Table != "" {
		o.Audit = audit.NewDynamo(deps.DynamoDB, cfg.Table, audit.WithClock(deps.Clock()))
	}
	if o.Commits == nil && (o.Provider == "" || o.Provider == domain.ProviderCodeCommit) {
		o.Commits = ccapi.Commits{API: codecommit.NewFromConfig(deps.AWS)}
	}
	svc, err := trigger.New(cfg, deps, o)
	if err != nil {
		return nil, err
	}
	return &Handler{svc: svc}, nil
}

// Handle starts the run of the pushed branch, or records why not. Errors cross the Lambda
// boundary typed (Transient ones are worth EventBridge's retry); an unreadable event fails
// loudly rather than vanishing, so it lands in the function's failure destination.
func (h *Handler) Handle(ctx context.Context, ev events.CloudWatchEvent) (trigger.Result, error) {
	res, err := h.svc.HandleCodeCommit(ctx, ev)
	if err != nil {
		return trigger.Result{}, lambdaerr.Boundary(err)
	}
	return res, nil
}

// Service is the trigger service behind the handler, so local mode can hand the same one
// (same claims, same audit store) to the GitHub webhook route.
func (h *Handler) Service() *trigger.Service { return h.svc }
