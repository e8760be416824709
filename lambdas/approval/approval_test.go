package approval

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
)

var dynamoURL string

func TestMain(m *testing.M) { approvaltest.Main(m, &dynamoURL) }

// The handler is invoked the way the Lambda runtime does (aws-lambda-go's JSON codec),
// with the payload the RequestApproval state sends.
func TestRequestApprovalInvocation(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	h, err := New(e.Cfg, e.Deps)
	if err != nil {
		t.Fatal(err)
	}
	put := func(run string, ap spec.Approval) {
		// TryRequest stores the spec; the gate it calls is the Env's, so use a throwaway
		// run id there and invoke the handler for the real one.
		b, _ := json.Marshal(spec.Spec{Approval: ap})
		if err := e.PutObject(approvaltest.SpecKey(run), b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		run      string
		ap       *spec.Approval
		mutate   func(*domain.State)
		wantType string // the error type name Step Functions would match; "" for success
	}{
		{"stores and notifies", "lam-1", &spec.Approval{Approvers: []string{"ana@example.com", "bo@example.com"}}, nil, ""},
		{"spec without approvers", "lam-2", &spec.Approval{}, nil, "SpecInvalid"},
		{"spec object missing", "lam-3", nil, nil, "SpecMissing"},
		{"no build result", "lam-4", &spec.Approval{Approvers: []string{"a@x.io"}}, func(s *domain.State) { s.Build = nil }, "SpecMissing"},
		{"no staged manifest", "lam-5", &spec.Approval{Approvers: []string{"a@x.io"}}, func(s *domain.State) { s.Stage = nil }, "ArtifactsMissing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ap != nil {
				put(tc.run, *tc.ap)
			}
			st := approvaltest.State(approvaltest.Push{RunID: tc.run, Pusher: domain.Identity{Email: "eve@example.com"}}, 3600)
			if tc.mutate != nil {
				tc.mutate(&st)
			}
			tok := e.NewTaskToken()
			payload, _ := json.Marshal(map[string]any{"token": tok, "state": st})
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
			if tc.wantType != "" {
				if err == nil {
					t.Fatalf("got success %s, want %s", out, tc.wantType)
				}
				if got := reflect.TypeOf(err).Elem().Name(); got != tc.wantType {
					t.Errorf("error type: got %s, want %s (%v)", got, tc.wantType, err)
				}
				if strings.Contains(err.Error(), tok) {
					t.Errorf("error message carries the task token")
				}
				return
			}
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			if strings.Contains(string(out), tok) {
				t.Errorf("output carries the task token: %s", out)
			}
			var got Out
			json.Unmarshal(out, &got)
			if got.ApprovalID == "" || len(got.Approvers) != 2 || got.Required != 1 {
				t.Errorf("output: %s", out)
			}
			if n := len(e.Links(tc.run)); n != 2 {
				t.Errorf("approvers mailed: got %d, want 2", n)
			}
			a, err := e.Svc.ByRun(context.Background(), tc.run)
			if err != nil || a.ExpiresAt.Sub(a.RequestedAt).Seconds() != 3600 {
				t.Errorf("stored approval: %+v (%v), want one expiring with the state's timeout", a, err)
			}
		})
	}
}
