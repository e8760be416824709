// Package approval is the RequestApproval task (a .waitForTaskToken Lambda): it hands the
// task token and the run's state to the approval gate, which stores the pending approval
// and mails each approver a private link. The run then waits until a decision resumes it.
package approval

import (
	"context"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	gate "github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
)

// In is the task's payload: {"token": $$.Task.Token, "state": $}.
type In struct {
	Token string       `json:"token"`
	State domain.State `json:"state"`
}

// Out is ignored by Step Functions (the task's result is what resumes it) but says what
// was done, for local mode's logs and tests. It never carries the task token.
type Out struct {
	ApprovalID string   `json:"approvalId"`
	Approvers  []string `json:"approvers"`
	Required   int      `json:"required"`
	ExpiresAt  string   `json:"expiresAt"`
}

// Handler serves RequestApproval.
type Handler struct{ svc *gate.Service }

// New builds the handler; deps.SigningKey must be set (see gate.EnsureSigningKey).
func New(cfg app.Config, deps *app.Deps) (*Handler, error) {
	svc, err := gate.New(cfg, deps)
	if err != nil {
		return nil, err
	}
	return &Handler{svc: svc}, nil
}

// NewWithService wraps an existing gate (local mode shares one across handlers).
func NewWithService(svc *gate.Service) *Handler { return &Handler{svc: svc} }

// Handle stores the pending approval and notifies the approvers.
func (h *Handler) Handle(ctx context.Context, in In) (Out, error) {
	a, err := h.svc.Request(ctx, in.Token, in.State)
	if err != nil {
		return Out{}, lambdaerr.Boundary(err)
	}
	return Out{ApprovalID: a.ID, Approvers: a.Approvers, Required: a.Required, ExpiresAt: a.ExpiresAt.Format(time.RFC3339)}, nil
}
