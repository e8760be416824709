package expire

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
)

var dynamoURL string

func TestMain(m *testing.M) { approvaltest.Main(m, &dynamoURL) }

func TestExpireInvocation(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	h, err := New(e.Cfg, e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	p := approvaltest.Push{RunID: "exp-lam", Pusher: domain.Identity{Email: "eve@example.com"}}
	e.Request(p, spec.Approval{Approvers: []string{"ana@example.com", "bo@example.com"}, Timeout: spec.Duration(time.Hour)})
	e.Clock.Advance(time.Hour)
	st := approvaltest.State(p, 3600)
	st.Error = &domain.StateError{Error: "States.Timeout", Cause: "task timed out"}
	tests := []struct {
		name    string
		payload any
		want    domain.Outcome
		wantErr bool
	}{
		{"timeout records expired", st, domain.Expired, false},
		{"retry returns the same", st, domain.Expired, false},
		{"state without a run", domain.State{}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(tc.payload)
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), b)
			if tc.wantErr {
				if err == nil {
					t.Errorf("got %s, want an error", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var d domain.Decision
			json.Unmarshal(out, &d)
			if d.Outcome != tc.want || d.RunID != "exp-lam" || d.Channel != domain.ChannelSystem {
				t.Errorf("got %+v, want outcome %s by the system", d, tc.want)
			}
		})
	}
	fd, err := e.Svc.FinalDecision(context.Background(), "exp-lam")
	if err != nil || fd.Outcome != domain.Expired {
		t.Errorf("recorded: %+v (%v)", fd, err)
	}
	told := 0
	for _, m := range e.Mails() {
		if m.Kind == "approval.expired" {
			told++
		}
	}
	if told != 2 {
		t.Errorf("approvers told: got %d, want 2", told)
	}
}
