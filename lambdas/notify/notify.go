// Package notify is the run-result notification: on success, failure, rejection and
// expiry the state machine calls it with the event and the run's state. It tells the
// configured addresses and the pusher what happened (for a failure: which stage, the
// error with its log tail, where the full log is) with a link to the run in the console,
// through SNS on AWS and the outbox locally, and closes the run's audit trail with a
// run.finished record.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	sgnotify "github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/notify/snsnotify"
	"github.com/shipgate/shipgate/shared/runner/stagekit"
	"github.com/shipgate/shipgate/shared/workflow"
)

// In is the Notify task's payload (see the Notify* states of the definition).
type In struct {
	Event string       `json:"event"`
	State domain.State `json:"state"`
}

// Out says what was sent; the state machine discards it (ResultPath null).
type Out struct {
	Event      string   `json:"event"`
	Subject    string   `json:"subject"`
	Recipients []string `json:"recipients,omitempty"`
}

// MaxCauseBytes bounds the error text quoted in a message.
const MaxCauseBytes = 8 << 10

// Options override what New builds from the config; tests use them for fakes.
type Options struct {
	Sender sgnotify.Sender
	Audit  stagekit.Appender
}

// Handler sends run results.
type Handler struct {
	cfg    app.Config
	sender sgnotify.Sender
	audit  stagekit.Appender
	now    func() time.Time
}

// New builds the handler: deps.Notify when set (local outbox), else SNS on the topic.
func New(cfg app.Config, deps *app.Deps) (*Handler, error) { return NewWith(cfg, deps, Options{}) }

// NewWith is New with overrides.
func NewWith(cfg app.Config, deps *app.Deps, o Options) (*Handler, error) {
	if deps == nil {
		return nil, errors.New("notify: no dependencies")
	}
	h := &Handler{cfg: cfg, sender: o.Sender, audit: o.Audit, now: deps.Clock()}
	if h.sender == nil {
		h.sender = deps.Notify
	}
	if h.sender == nil {
		s, err := snsnotify.New(sns.NewFromConfig(deps.AWS), cfg.TopicARN)
		if err != nil {
			return nil, err
		}
		h.sender = s
	}
	var err error
	if h.audit, err = stagekit.AuditOr(h.audit, "notify", cfg, deps); err != nil {
		return nil, err
	}
	return h, nil
}

// Handle records the run's end and sends the message. Errors pass through
// lambdaerr.Boundary (the state machine catches them; the run's outcome stands).
func (h *Handler) Handle(ctx context.Context, in In) (Out, error) {
	out, err := h.handle(ctx, in)
	return out, lambdaerr.Boundary(err)
}

func (h *Handler) handle(ctx context.Context, in In) (Out, error) {
	run := in.State.Run
	if run.Pipeline == "" {
		run.Pipeline = h.cfg.Pipeline
	}
	switch in.Event {
	case workflow.EventSucceeded, workflow.EventFailed, workflow.EventRejected, workflow.EventExpired:
	default:
		return Out{}, domain.Errorf(domain.Invalid, "bad input: unknown event %q (want succeeded, failed, rejected or expired)", in.Event)
	}
	if run.ID == "" {
		return Out{}, domain.Errorf(domain.Invalid, "bad input: the state has no run id")
	}
	m := h.message(in.Event, run, in.State)
	out := Out{Event: in.Event, Subject: m.Subject, Recipients: m.To}

	detail := map[string]any{}
	if in.Event == workflow.EventFailed {
		stage, kind, _ := failure(in.State)
		detail["failedStage"], detail["error"] = stage, kind
	}
	if d := in.State.Deploy; d != nil {
		detail["manifestDigest"], detail["target"] = d.ManifestDigest, d.Target
	}
	if !run.Push.ReceivedAt.IsZero() {
		detail["durationMs"] = h.now().Sub(run.Push.ReceivedAt).Milliseconds()
	}
	rec := domain.Record{Type: domain.RecRunFinished, Pipeline: run.Pipeline, RunID: run.ID, Commit: run.Push.Commit,
		Actor: "system", Time: h.now().UTC(), Outcome: in.Event, Detail: detail}
	if err := h.audit.Append(ctx, rec); err != nil {
		return out, artifact.Wrap(err, domain.Internal, "audit run.finished")
	}
	if len(m.To) == 0 {
		return out, nil
	}
	if err := h.sender.Send(ctx, m); err != nil {
		return out, artifact.Wrap(err, domain.Internal, "send %s notification", in.Event)
	}
	return out, nil
}

// recipients are the configured addresses and the pusher, each once.
func (h *Handler) recipients(run domain.Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range append(append([]string{}, h.cfg.NotifyEmails...), run.Push.Pusher.Email) {
		n := sgnotify.NormalizeEmail(a)
		if n == "" || !strings.Contains(n, "@") || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

func (h *Handler) message(event string, run domain.Run, st domain.State) sgnotify.Message {
	link := h.cfg.BaseURL + "/runs/" + run.ID
	push := run.Push
	var b strings.Builder
	var subject string
	what := fmt.Sprintf("%s %s@%s", run.Pipeline, push.Branch, stagekit.Short(push.Commit))
	switch event {
	case workflow.EventSucceeded:
		subject = "[shipgate] deployed: " + what
		fmt.Fprintf(&b, "Run %s of %s was deployed.\n\n", run.ID, run.Pipeline)
	case workflow.EventFailed:
		stage, _, _ := failure(st)
		subject = fmt.Sprintf("[shipgate] %s failed: %s", stage, what)
		fmt.Fprintf(&b, "Run %s of %s failed at the %s stage.\n\n", run.ID, run.Pipeline, stage)
	case workflow.EventRejected:
		subject = "[shipgate] rejected: " + what
		fmt.Fprintf(&b, "Run %s of %s was rejected and will not be deployed.\n\n", run.ID, run.Pipeline)
	case workflow.EventExpired:
		subject = "[shipgate] approval expired: " + what
		fmt.Fprintf(&b, "Run %s of %s was not approved in time and will not be deployed.\n\n", run.ID, run.Pipeline)
	}
	fmt.Fprintf(&b, "Repository: %s\nBranch:     %s\nCommit:     %s\n", push.Repository, push.Branch, push.Commit)
	if msg := stagekit.FirstLine(push.Message); msg != "" {
		fmt.Fprintf(&b, "Message:    %s\n", msg)
	}
	if p := pusher(push.Pusher); p != "" {
		fmt.Fprintf(&b, "Pushed by:  %s\n", p)
	}
	b.WriteString("\n")

	switch event {
	case workflow.EventSucceeded:
		if a := st.Approval; a != nil {
			fmt.Fprintf(&b, "Approved by %s via %s at %s.\n", strings.Join(a.Approvers, ", "), a.Channel, a.DecidedAt.UTC().Format(time.RFC3339))
			if a.Comment != "" {
				fmt.Fprintf(&b, "Comment: %s\n", a.Comment)
			}
		}
		if d := st.Deploy; d != nil {
			fmt.Fprintf(&b, "Manifest:   %s\n", d.ManifestDigest)
			if d.Target != "" {
				fmt.Fprintf(&b, "Target:     %s\n", d.Target)
			}
			if d.AlreadyDeployed {
				b.WriteString("(A retried deploy step found this run already deployed; it was deployed once.)\n")
			}
		}
		if t := st.Test; t != nil {
			fmt.Fprintf(&b, "Tests:      %d passed, %d failed, %d skipped\n", t.Passed, t.Failed, t.Skipped)
		}
	case workflow.EventFailed:
		_, kind, cause := failure(st)
		fmt.Fprintf(&b, "Error: %s\n\n%s\n", kind, cause)
		if stage, _, _ := failure(st); stage == "build" || stage == "test" || stage == "deploy" {
			fmt.Fprintf(&b, "\nFull log: s3://%s/%s\n", h.cfg.Bucket, artifact.LogKey(run.Pipeline, run.ID, stage))
		}
	case workflow.EventRejected:
		if a := st.Approval; a != nil && a.Outcome != "" {
			fmt.Fprintf(&b, "Rejected by %s via %s.\n", strings.Join(a.Approvers, ", "), a.Channel)
			if a.Comment != "" {
				fmt.Fprintf(&b, "Comment: %s\n", a.Comment)
			}
		} else if st.Error != nil {
			fmt.Fprintf(&b, "%s\n", causeText(st.Error.Cause))
		}
	case workflow.EventExpired:
		if st.Build != nil && st.Build.ApprovalTimeoutSeconds > 0 {
			fmt.Fprintf(&b, "No decision was recorded within the approval timeout of %s.\n", time.Duration(st.Build.ApprovalTimeoutSeconds)*time.Second)
		} else {
			b.WriteString("No decision was recorded before the approval timeout.\n")
		}
	}
	fmt.Fprintf(&b, "\nRun details: %s\n", link)
	return sgnotify.Message{
		To:      h.recipients(run),
		Subject: subject,
		Text:    b.String(),
		Links:   []string{link},
		Kind:    "run." + event,
		RunID:   run.ID,
	}
}

// failure says which stage failed, the error name and its message, from the state a
// Catch produced: the first stage without a result is the one that failed.
func failure(st domain.State) (stage, kind, cause string) {
	switch {
	case st.Build == nil:
		stage = "build"
	case st.Test == nil:
		stage = "test"
	case st.Stage == nil:
		stage = "stage"
	case st.Approval == nil:
		stage = "approval"
	default:
		stage = "deploy"
	}
	kind = "unknown error"
	if st.Error != nil {
		kind = st.Error.Error
		cause = causeText(st.Error.Cause)
	}
	return stage, kind, cause
}

// causeText extracts the error message from a Step Functions cause: for a Lambda error
// it is the JSON {"errorMessage", "errorType"} payload, otherwise plain text.
func causeText(cause string) string {
	var p struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal([]byte(cause), &p); err == nil && p.ErrorMessage != "" {
		cause = p.ErrorMessage
	}
	if len(cause) > MaxCauseBytes {
		cause = "…" + cause[len(cause)-MaxCauseBytes:]
	}
	return strings.ToValidUTF8(cause, "\uFFFD")
}

func pusher(id domain.Identity) string {
	switch {
	case id.Name != "" && id.Email != "":
		return id.Name + " <" + id.Email + ">"
	case id.Email != "":
		return id.Email
	case id.Login != "":
		return id.Login
	}
	return id.Name
}
