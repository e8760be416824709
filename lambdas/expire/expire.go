// Package expire is the Expire task, reached when the approval wait times out
// (States.Timeout): it records the "expired" decision as the system, closes the pending
// approval and tells the approvers, so the audit trail shows why the run ended.
package expire

import (
	"context"

	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
)

// In is the whole state, with $.error set by the Catch.
type In = domain.State

// Out is the recorded decision ($.expiry): outcome expired, or the decision that was
// recorded first if one raced the timeout.
type Out = domain.Decision

// Handler serves Expire.
type Handler struct{ svc *gate.Service }

// New builds the handler. No signing key is needed: nothing is signed on this path.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) {
	svc, err := gate.New(cfg, deps)
	if err != nil {
		return nil, err
	}
	return &Handler{svc: svc}, nil
}

// NewWithService wraps an existing gate (local mode shares one across handlers).
func NewWithService(svc *gate.Service) *Handler { return &Handler{svc: svc} }

// Handle records the expiry.
func (h *Handler) Handle(ctx context.Context, in In) (Out, error) {
	d, err := h.svc.Expire(ctx, in)
	if err != nil {
		return Out{}, lambdaerr.Boundary(err)
	}
	return d, nil
}
