package approval_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
)

// failingMarks passes everything to the real table except the first n updates that
// record a run as resumed, which fail as a lost connection would.
type failingMarks struct {
	approval.DynamoAPI
	mu sync.Mutex
	n  int
}

func (f *failingMarks) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	fail := f.n > 0 && strings.Contains(aws.ToString(in.UpdateExpression), "resumedAt")
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset by peer")
	}
	return f.DynamoAPI.UpdateItem(ctx, in, opts...)
}

// Expire must not report success when it could not record that the run ended, and a
// retried Expire (the state's Retry) completes what the first attempt left, once.
func TestExpireRecordsTheEndOrFailsForARetry(t *testing.T) {
	tests := []struct {
		name          string
		decideFirst   bool // a decision was recorded but its resume failed
		failMarks     int
		wantOutcome   domain.Outcome
		wantToldOfEnd int // expiry mails
	}{
		{"expiry, marking fails once", false, 1, domain.Expired, 3},
		{"late decision, marking fails once", true, 1, domain.Approved, 0},
		{"expiry retried after it completed", false, 0, domain.Expired, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			db := &failingMarks{DynamoAPI: e.DB}
			svc, err := approval.New(e.Cfg, e.Deps, approval.WithAudit(e.Audit), approval.WithClients(db, nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			e.Svc = svc
			p := approvaltest.Push{RunID: "exp-" + strings.ReplaceAll(tc.name, " ", "-"), Pusher: eve}
			a, _ := e.Request(p, spec.Approval{Approvers: three})
			if tc.decideFirst {
				e.SFN.Fail = func(approvaltest.SFNCall) (int, string) { return 503, "ServiceUnavailable" }
				if _, err := decide(e, a.ID, bo, domain.Approved, ""); !domain.IsKind(err, domain.Transient) {
					t.Fatalf("decide with the engine down: got %v, want Transient", err)
				}
				e.SFN.Fail = nil
			}
			db.mu.Lock()
			db.n = tc.failMarks
			db.mu.Unlock()
			st := approvaltest.State(p, 0)
			st.Error = &domain.StateError{Error: "States.Timeout"}
			_, err = e.Svc.Expire(ctx(), st)
			if tc.failMarks > 0 {
				if !domain.IsKind(err, domain.Transient) {
					t.Fatalf("first Expire: got %v, want Transient (the end of the run is not recorded)", err)
				}
				if n := len(e.Audit.Records(domain.RecApprovalExpired)); n != 0 {
					t.Errorf("approval.expired records after the failed attempt: got %d, want 0", n)
				}
			} else if err != nil {
				t.Fatalf("first Expire: %v", err)
			}
			d, err := e.Svc.Expire(ctx(), st)
			if err != nil || d.Outcome != tc.wantOutcome {
				t.Fatalf("retried Expire: got %+v (%v), want %s", d, err, tc.wantOutcome)
			}
			if n := len(e.Audit.Records(domain.RecApprovalExpired)); n != 1 {
				t.Errorf("approval.expired records: got %d, want 1", n)
			}
			told := 0
			for _, m := range e.Mails() {
				if m.Kind == approval.KindExpired {
					told++
				}
			}
			if told != tc.wantToldOfEnd {
				t.Errorf("expiry mails: got %d, want %d", told, tc.wantToldOfEnd)
			}
			if n, err := e.Svc.Sweep(ctx()); n != 0 || err != nil {
				t.Errorf("Sweep after expiry: got %d (%v), want nothing left to resume", n, err)
			}
			if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
				t.Errorf("still pending: %v", p)
			}
			if n := len(e.SFN.Accepted()); n != 0 {
				t.Errorf("a run whose wait timed out was resumed %d times", n)
			}
		})
	}
}
