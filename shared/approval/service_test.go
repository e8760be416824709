package approval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
)

var dynamoURL string

func TestMain(m *testing.M) { approvaltest.Main(m, &dynamoURL) }

var (
	ana   = domain.Identity{Name: "Ana", Email: "ana@example.com", Login: "ana"}
	bo    = domain.Identity{Name: "Bo", Email: "bo@example.com"}
	cy    = domain.Identity{Name: "Cy", Email: "cy@example.com"}
	eve   = domain.Identity{Name: "Eve", Email: "eve@example.com"}
	three = []string{"Ana@Example.com", "bo@example.com", "cy@example.com"}
)

func ctx() context.Context { return context.Background() }

func decide(e *approvaltest.Env, id string, who domain.Identity, out domain.Outcome, comment string) (*approval.DecideResult, error) {
	return e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: id, Actor: who, Channel: domain.ChannelConsole, Outcome: out, Comment: comment})
}

func TestRequestStoresPendingAndMailsEachApproverPrivately(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{BaseURL: "http://gate.example"})
	a, _ := e.Request(approvaltest.Push{RunID: "run-1", Pusher: eve}, spec.Approval{Approvers: three, Required: 2})
	if got, want := a.Approvers, []string{"ana@example.com", "bo@example.com", "cy@example.com"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("approvers: got %v, want %v (normalized, spec order)", got, want)
	}
	if got, want := a.ExpiresAt.Sub(a.RequestedAt), spec.DefaultApprovalTimeout; got != want {
		t.Errorf("timeout: got %v, want the default %v", got, want)
	}
	pending, err := e.Svc.Pending(ctx())
	if err != nil || len(pending) != 1 || pending[0].ID != a.ID {
		t.Fatalf("Pending: got %v (%v), want [%s]", pending, err, a.ID)
	}
	links := e.Links("run-1")
	if len(links) != 3 {
		t.Fatalf("links: got %d (%v), want one per approver", len(links), links)
	}
	seen := map[string]bool{}
	for to, l := range links {
		if !strings.HasPrefix(l, "http://gate.example/approvals/"+a.ID+"?t=") {
			t.Errorf("link for %s is not absolute under the base URL: %s", to, l)
		}
		if seen[l] {
			t.Errorf("two approvers got the same link")
		}
		seen[l] = true
		_, who, err := e.Svc.View(ctx(), a.ID, approvaltest.LinkToken(l))
		if err != nil || who != to {
			t.Errorf("link mailed to %s verifies as %q (%v)", to, who, err)
		}
	}
	for _, m := range e.Mails() {
		for _, want := range []string{"acme/web", "main", "Fix the <checkout> button", "Eve", "12 passed, 0 failed, 1 skipped", "site", strings.Repeat("e", 64), "sha256:" + strings.Repeat("d", 64)} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("mail to %s lacks %q", m.To, want)
			}
		}
		if !strings.Contains(m.HTML, "Fix the &lt;checkout&gt; button") {
			t.Errorf("HTML part does not escape the commit message")
		}
		if strings.Count(m.Raw, "?t=") != 0 && strings.Count(m.Text, "/approvals/") != 1 {
			t.Errorf("text part of mail to %s should carry exactly its own link", m.To)
		}
	}
	if got := len(e.Audit.Records(domain.RecApprovalRequested)); got != 1 {
		t.Errorf("approval.requested records: got %d, want 1", got)
	}
	if n := len(e.SFN.Calls()); n != 0 {
		t.Errorf("requesting resumed something: %d SendTask calls", n)
	}
}

func TestRequestRefusesBadSpecs(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	tests := []struct {
		name     string
		ap       spec.Approval
		wantKind domain.Kind
		want     string
	}{
		{"no approvers", spec.Approval{}, domain.SpecInvalid, "approvers is empty"},
		{"not an email", spec.Approval{Approvers: []string{"ana"}}, domain.SpecInvalid, "not an email"},
		{"quorum larger than approvers", spec.Approval{Approvers: []string{"a@x.io"}, Required: 2}, domain.SpecInvalid, "only 1 approvers"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.TryRequest(approvaltest.Push{RunID: fmt.Sprintf("bad-%d", i), Pusher: eve}, tc.ap)
			if !domain.IsKind(err, tc.wantKind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s containing %q", err, tc.wantKind, tc.want)
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		name      string
		ap        spec.Approval
		who       domain.Identity
		outcome   domain.Outcome
		comment   string
		wantKind  domain.Kind
		wantFinal domain.Outcome
	}{
		{"approver approves", spec.Approval{Approvers: three}, bo, domain.Approved, "", "", domain.Approved},
		{"email matched case-insensitively", spec.Approval{Approvers: three}, domain.Identity{Email: "BO@example.COM"}, domain.Approved, "", "", domain.Approved},
		{"ARN session named by email", spec.Approval{Approvers: three}, domain.Identity{Login: "arn:aws:sts::1:assumed-role/Dev/cy@example.com"}, domain.Approved, "", "", domain.Approved},
		{"stranger refused", spec.Approval{Approvers: three}, eve, domain.Approved, "", domain.Forbidden, ""},
		{"self-approval refused", spec.Approval{Approvers: three}, ana, domain.Approved, "", domain.Forbidden, ""},
		{"self-approval by login refused", spec.Approval{Approvers: three}, domain.Identity{Email: "ana@example.com", Login: "ana"}, domain.Approved, "", domain.Forbidden, ""},
		{"self-approval allowed by spec", spec.Approval{Approvers: three, AllowSelfApproval: true}, ana, domain.Approved, "", "", domain.Approved},
		{"pusher may reject", spec.Approval{Approvers: three}, ana, domain.Rejected, "not ready", "", domain.Rejected},
		{"rejection needs a comment", spec.Approval{Approvers: three}, bo, domain.Rejected, " ", domain.Invalid, ""},
		{"unknown outcome", spec.Approval{Approvers: three}, bo, domain.Outcome("maybe"), "", domain.Invalid, ""},
		{"comment too long", spec.Approval{Approvers: three}, bo, domain.Approved, strings.Repeat("x", approval.MaxCommentLen+1), domain.Invalid, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			a, _ := e.Request(approvaltest.Push{RunID: fmt.Sprintf("auth-%d", i), Pusher: ana}, tc.ap)
			res, err := decide(e, a.ID, tc.who, tc.outcome, tc.comment)
			if tc.wantKind != "" {
				if !domain.IsKind(err, tc.wantKind) {
					t.Fatalf("got %v, want kind %s", err, tc.wantKind)
				}
				if tc.wantKind == domain.Forbidden && len(e.Audit.Records(domain.RecApprovalRefused)) != 1 {
					t.Errorf("refusal not audited: %v", e.Audit.Records(domain.RecApprovalRefused))
				}
				if n := len(e.SFN.Calls()); n != 0 {
					t.Errorf("refused decision resumed the run (%d calls)", n)
				}
				if _, err := e.Svc.FinalDecision(ctx(), a.RunID); !domain.IsKind(err, domain.NotFound) {
					t.Errorf("FinalDecision after refusal: got %v, want NotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if res.Final == nil || res.Final.Outcome != tc.wantFinal || !res.Resumed {
				t.Fatalf("got final %+v resumed %v, want %s resumed", res.Final, res.Resumed, tc.wantFinal)
			}
		})
	}
}

func TestQuorumOfTwo(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	a, tok := e.Request(approvaltest.Push{RunID: "q-1", Pusher: eve}, spec.Approval{Approvers: three, Required: 2})

	res, err := decide(e, a.ID, ana, domain.Approved, "looks good")
	if err != nil || res.Final != nil {
		t.Fatalf("first approval: got final %v (%v), want no final yet", res.Final, err)
	}
	if _, err := decide(e, a.ID, ana, domain.Approved, "again"); err != nil {
		t.Errorf("same approver approving again should be idempotent, got %v", err)
	}
	if got := len(e.SFN.Calls()); got != 0 {
		t.Fatalf("one approval of two resumed the run (%d calls)", got)
	}
	if _, err := e.Svc.FinalDecision(ctx(), a.RunID); !domain.IsKind(err, domain.NotFound) {
		t.Fatalf("FinalDecision after one approval: got %v, want NotFound", err)
	}
	res, err = e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: a.ID, Actor: domain.Identity{Login: "arn:aws:iam::1:user/bo@example.com"}, Channel: domain.ChannelCLI, Outcome: domain.Approved})
	if err != nil || res.Final == nil || res.Final.Outcome != domain.Approved {
		t.Fatalf("second approval: got %+v (%v), want approved", res, err)
	}
	calls := e.SFN.Accepted()
	if len(calls) != 1 || calls[0].Op != "SendTaskSuccess" || calls[0].TaskToken != tok {
		t.Fatalf("SendTask calls: got %+v, want one SendTaskSuccess with the stored token", calls)
	}
	var out domain.Decision
	if err := json.Unmarshal([]byte(calls[0].Output), &out); err != nil {
		t.Fatal(err)
	}
	fd, err := e.Svc.FinalDecision(ctx(), a.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(fd.Approvers, ","), "ana@example.com,bo@example.com"; got != want {
		t.Errorf("approvers: got %s, want %s", got, want)
	}
	if fd.ManifestDigest != a.ManifestDigest || fd.Channel != domain.ChannelCLI || out.RunID != "q-1" || out.Outcome != domain.Approved {
		t.Errorf("decision: got %+v / output %+v", fd, out)
	}
	if _, err := decide(e, a.ID, cy, domain.Rejected, "too late"); !domain.IsKind(err, domain.Conflict) {
		t.Errorf("reject after approval: got %v, want Conflict", err)
	}
	if got := len(e.SFN.Calls()); got != 1 {
		t.Errorf("SendTask calls after a late reject: got %d, want 1", got)
	}
	if got := len(e.Audit.Records(domain.RecApprovalDecision)); got != 2 {
		t.Errorf("approval.decision records: got %d, want 2", got)
	}
	if got := e.Audit.Records(domain.RecApprovalFinal); len(got) != 1 || got[0].Outcome != "approved" {
		t.Errorf("approval.final records: got %+v, want one approved", got)
	}
	if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
		t.Errorf("still pending after the decision: %v", p)
	}
}

func TestRejectWithComment(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	a, tok := e.Request(approvaltest.Push{RunID: "rj-1", Pusher: eve}, spec.Approval{Approvers: three, Required: 2})
	res, err := decide(e, a.ID, cy, domain.Rejected, "breaks the checkout flow")
	if err != nil || res.Final == nil || res.Final.Outcome != domain.Rejected {
		t.Fatalf("got %+v (%v), want rejected", res, err)
	}
	calls := e.SFN.Accepted()
	if len(calls) != 1 || calls[0].Op != "SendTaskFailure" || calls[0].TaskToken != tok {
		t.Fatalf("calls: got %+v, want one SendTaskFailure", calls)
	}
	if calls[0].Error != "ApprovalRejected" {
		t.Errorf("error: got %q, want ApprovalRejected", calls[0].Error)
	}
	if want := "rejected by cy@example.com: breaks the checkout flow"; calls[0].Cause != want {
		t.Errorf("cause: got %q, want %q", calls[0].Cause, want)
	}
	fd, _ := e.Svc.FinalDecision(ctx(), a.RunID)
	if fd.Outcome != domain.Rejected || fd.Comment != "breaks the checkout flow" || fd.Approvers[0] != "cy@example.com" {
		t.Errorf("recorded: %+v", fd)
	}
}

// The race: 50 concurrent approve and reject decisions from five approvers on one run.
// One outcome, one SendTask call, and the recorded decision is the one that resumed it.
func TestConcurrentDecisionsProduceOneOutcome(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	e.SFN.Delay = 5 * time.Millisecond
	people := []string{"p0@x.io", "p1@x.io", "p2@x.io", "p3@x.io", "p4@x.io"}
	a, _ := e.Request(approvaltest.Push{RunID: "race-1", Pusher: eve}, spec.Approval{Approvers: people})
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			out, comment := domain.Approved, ""
			if i%2 == 1 {
				out, comment = domain.Rejected, "no"
			}
			_, errs[i] = decide(e, a.ID, domain.Identity{Email: people[i%5]}, out, comment)
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil && !domain.IsKind(err, domain.Conflict) {
			t.Errorf("decision %d: unexpected error %v", i, err)
		}
	}
	calls := e.SFN.Calls()
	if len(calls) != 1 {
		t.Fatalf("SendTask calls: got %d, want exactly 1", len(calls))
	}
	fd, err := e.Svc.FinalDecision(ctx(), a.RunID)
	if err != nil {
		t.Fatal(err)
	}
	wantOp := map[domain.Outcome]string{domain.Approved: "SendTaskSuccess", domain.Rejected: "SendTaskFailure"}[fd.Outcome]
	if calls[0].Op != wantOp {
		t.Errorf("recorded %s but resumed with %s", fd.Outcome, calls[0].Op)
	}
	if got := len(e.Audit.Records(domain.RecApprovalFinal)); got != 1 {
		t.Errorf("approval.final records: got %d, want 1", got)
	}
}

func TestResumeFailureIsCompletedByRetryOrSweep(t *testing.T) {
	for _, how := range []string{"retry", "sweep"} {
		t.Run(how, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			var mu sync.Mutex
			failures := 1
			e.SFN.Fail = func(approvaltest.SFNCall) (int, string) {
				mu.Lock()
				defer mu.Unlock()
				if failures > 0 {
					failures--
					return 500, "ServiceUnavailable"
				}
				return 0, ""
			}
			a, _ := e.Request(approvaltest.Push{RunID: "rs-" + how, Pusher: eve}, spec.Approval{Approvers: three})
			res, err := decide(e, a.ID, bo, domain.Approved, "")
			if !domain.IsKind(err, domain.Transient) || res == nil || res.Final == nil || res.Resumed {
				t.Fatalf("first call: got %+v (%v), want Transient with the decision recorded", res, err)
			}
			if fd, err := e.Svc.FinalDecision(ctx(), a.RunID); err != nil || fd.Outcome != domain.Approved {
				t.Fatalf("decision must be recorded before resuming: got %+v (%v)", fd, err)
			}
			if len(e.SFN.Accepted()) != 0 {
				t.Fatal("stand-in accepted a failed call")
			}
			switch how {
			case "retry":
				res, err = decide(e, a.ID, bo, domain.Approved, "")
				if err != nil || !res.Resumed {
					t.Fatalf("retry: got %+v (%v), want resumed", res, err)
				}
			case "sweep":
				n, err := e.Svc.Sweep(ctx())
				if err != nil || n != 1 {
					t.Fatalf("Sweep: got %d (%v), want 1", n, err)
				}
				if n, _ := e.Svc.Sweep(ctx()); n != 0 {
					t.Errorf("second Sweep resumed %d more", n)
				}
			}
			if got := len(e.SFN.Accepted()); got != 1 {
				t.Errorf("accepted resumes: got %d, want 1", got)
			}
			if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
				t.Errorf("still listed as pending: %v", p)
			}
		})
	}
}

func TestExpiryOnTheVirtualClock(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	p := approvaltest.Push{RunID: "exp-1", Pusher: eve}
	a, _ := e.Request(p, spec.Approval{Approvers: three, Timeout: spec.Duration(2 * time.Hour)})
	link := e.Links("exp-1")["ana@example.com"]
	if _, _, err := e.Svc.View(ctx(), a.ID, approvaltest.LinkToken(link)); err != nil {
		t.Fatalf("link before expiry: %v", err)
	}
	e.Clock.Advance(2*time.Hour + time.Second)
	if _, _, err := e.Svc.View(ctx(), a.ID, approvaltest.LinkToken(link)); !domain.IsKind(err, domain.Forbidden) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("link after expiry: got %v, want Forbidden (expired)", err)
	}
	if _, err := decide(e, a.ID, bo, domain.Approved, ""); !domain.IsKind(err, domain.Conflict) {
		t.Errorf("console decision after expiry: got %v, want Conflict", err)
	}
	st := approvaltest.State(p, 7200)
	st.Error = &domain.StateError{Error: "States.Timeout", Cause: "timed out"}
	d, err := e.Svc.Expire(ctx(), st)
	if err != nil || d.Outcome != domain.Expired || d.Channel != domain.ChannelSystem {
		t.Fatalf("Expire: got %+v (%v), want expired by the system", d, err)
	}
	if fd, _ := e.Svc.FinalDecision(ctx(), "exp-1"); fd.Outcome != domain.Expired {
		t.Errorf("recorded: got %s, want expired", fd.Outcome)
	}
	if got := len(e.Audit.Records(domain.RecApprovalExpired)); got != 1 {
		t.Errorf("approval.expired records: got %d, want 1", got)
	}
	var told []string
	for _, m := range e.Mails() {
		if m.Kind == approval.KindExpired {
			told = append(told, m.To)
		}
	}
	if len(told) != 3 {
		t.Errorf("approvers told of expiry: got %v, want all three", told)
	}
	if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
		t.Errorf("expired approval still pending: %v", p)
	}
	if n := len(e.SFN.Calls()); n != 0 {
		t.Errorf("expiry called SendTask %d times; the timeout already ended the wait", n)
	}
	again, err := e.Svc.Expire(ctx(), st)
	if err != nil || again.Outcome != domain.Expired {
		t.Errorf("retried Expire: got %+v (%v), want the same expired decision", again, err)
	}
}

func TestSuperseding(t *testing.T) {
	off := false
	tests := []struct {
		name           string
		supersede      *bool
		wantSuperseded bool
	}{
		{"on by default", nil, true},
		{"switched off", &off, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			ap := spec.Approval{Approvers: three, Supersede: tc.supersede}
			old, oldTok := e.Request(approvaltest.Push{RunID: "old", Commit: strings.Repeat("1", 40), Pusher: eve}, ap)
			e.Clock.Advance(time.Minute)
			newer, _ := e.Request(approvaltest.Push{RunID: "new", Commit: strings.Repeat("2", 40), Pusher: eve}, ap)
			pending, _ := e.Svc.Pending(ctx())
			calls := e.SFN.Accepted()
			if !tc.wantSuperseded {
				if len(pending) != 2 || len(calls) != 0 {
					t.Errorf("got %d pending and %d resumes, want both pending and none", len(pending), len(calls))
				}
				return
			}
			if len(pending) != 1 || pending[0].ID != newer.ID {
				t.Errorf("pending: got %v, want only the newer run", pending)
			}
			if len(calls) != 1 || calls[0].TaskToken != oldTok || calls[0].Op != "SendTaskFailure" || calls[0].Error != "ApprovalRejected" {
				t.Fatalf("calls: got %+v, want SendTaskFailure ApprovalRejected for the old run", calls)
			}
			if want := "superseded by " + strings.Repeat("2", 40); calls[0].Cause != want {
				t.Errorf("cause: got %q, want %q", calls[0].Cause, want)
			}
			fd, _ := e.Svc.FinalDecision(ctx(), old.RunID)
			if fd.Outcome != domain.Superseded {
				t.Errorf("old run's decision: got %s, want superseded", fd.Outcome)
			}
			if len(e.Audit.Records(domain.RecApprovalSuperseded)) != 1 {
				t.Errorf("approval.superseded not audited")
			}
			if _, err := decide(e, old.ID, bo, domain.Approved, ""); !domain.IsKind(err, domain.Conflict) {
				t.Errorf("approving the superseded run: got %v, want Conflict", err)
			}
		})
	}
}

func TestRunNoLongerWaitingIsClosedNotRetriedForever(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	e.SFN.Fail = func(approvaltest.SFNCall) (int, string) { return 400, "TaskTimedOut" }
	a, _ := e.Request(approvaltest.Push{RunID: "gone-1", Pusher: eve}, spec.Approval{Approvers: three})
	res, err := decide(e, a.ID, bo, domain.Approved, "")
	if err != nil || res.Final == nil {
		t.Fatalf("got %+v (%v), want the decision recorded without error", res, err)
	}
	if n, err := e.Svc.Sweep(ctx()); n != 0 || err != nil {
		t.Errorf("Sweep: got %d (%v), want nothing to resume", n, err)
	}
	if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
		t.Errorf("still pending: %v", p)
	}
}

func TestFinalDecisionNotFound(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	st, err := approval.NewStore(e.DB, e.Cfg.Table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinalDecision(ctx(), "nope"); !domain.IsKind(err, domain.NotFound) {
		t.Errorf("got %v, want NotFound", err)
	}
	if _, err := approval.NewStore(nil, "t"); err == nil {
		t.Error("NewStore(nil) accepted")
	}
}

// With the real audit store (shared/audit) on the same table: the approval records land
// in the hash-chained trail.
func TestRecordsReachTheRealAuditTrail(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	real := audit.NewDynamo(e.DB, e.Cfg.Table, audit.WithClock(e.Clock.Now))
	svc, err := approval.New(e.Cfg, e.Deps, approval.WithAudit(real))
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	a, _ := e.Request(approvaltest.Push{RunID: "aud-1", Pusher: eve}, spec.Approval{Approvers: three})
	if _, err := e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: a.ID, Actor: bo, Channel: domain.ChannelCLI, Outcome: domain.Approved}); err != nil {
		t.Fatal(err)
	}
	entries, err := real.Query(ctx(), audit.Filter{Pipeline: "demo", Run: "aud-1"})
	if err != nil {
		t.Fatalf("audit query: %v", err)
	}
	var types []string
	for _, en := range entries.Records {
		types = append(types, string(en.Type))
	}
	if got, want := strings.Join(types, ","), "approval.requested,approval.decision,approval.final"; got != want {
		t.Errorf("audit trail of the run: got %s, want %s", got, want)
	}
}

// The leak check that runs after every Env test must be able to find a token: plant one
// in each place it greps and expect it found, after a real flow filled all of them.
func TestTokenLeakCheckIsNotVacuous(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	a, tok := e.Request(approvaltest.Push{RunID: "leak-1", Pusher: eve}, spec.Approval{Approvers: three})
	if _, err := decide(e, a.ID, bo, domain.Approved, ""); err != nil {
		t.Fatal(err)
	}
	if where := e.LeaksOf([]string{tok}); len(where) != 0 {
		t.Fatalf("task token found in %v", where)
	}
	logs, mails, recs := e.Searched()
	if logs == 0 || mails != 3 || recs < 3 {
		t.Fatalf("leak check would grep %d log bytes, %d mails, %d records; want all non-empty", logs, mails, recs)
	}
	canary := "CANARYTOKEN0123456789abcdefghijklmnop"
	e.Logs.Write([]byte("oops " + canary + "\n"))
	e.Audit.Append(ctx(), domain.Record{Type: domain.RecApprovalRefused, Detail: map[string]any{"x": canary}})
	os.WriteFile(e.OutboxDir+"/planted.eml", []byte("Subject: x\r\n\r\n"+canary), 0o600)
	got := strings.Join(e.LeaksOf([]string{canary}), ",")
	for _, want := range []string{"logs", "audit records", "mail planted.eml"} {
		if !strings.Contains(got, want) {
			t.Errorf("planted token not found in %s (found in %s)", want, got)
		}
	}
	os.Remove(e.OutboxDir + "/planted.eml")
}

// A RequestApproval retried after the run was decided gets the recorded outcome on its
// new task token at once (the execution waits on that token now), and mails nobody again.
func TestRetriedRequestAfterDecisionResumesWithTheRecord(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	p := approvaltest.Push{RunID: "retry-1", Pusher: eve}
	ap := spec.Approval{Approvers: three}
	a, first := e.Request(p, ap)
	if _, err := decide(e, a.ID, bo, domain.Approved, ""); err != nil {
		t.Fatal(err)
	}
	mails := len(e.Mails())
	again, second := e.Request(p, ap)
	if again.Final == nil || again.Final.Outcome != domain.Approved {
		t.Fatalf("retried request: got %+v, want the recorded approval", again.Final)
	}
	calls := e.SFN.Accepted()
	if len(calls) != 2 || calls[0].TaskToken != first || calls[1].TaskToken != second || calls[1].Op != "SendTaskSuccess" {
		t.Errorf("resumes: got %+v, want SendTaskSuccess on each token", calls)
	}
	if got := len(e.Mails()); got != mails {
		t.Errorf("a retried request after the decision mailed %d more messages", got-mails)
	}
}

// withHistory is an environment whose service reads the summary's history from the
// audit trail it returns, for the test to fill.
func withHistory(t *testing.T) (*approvaltest.Env, *audit.Dynamo) {
	t.Helper()
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	trail := audit.NewDynamo(e.DB, e.Cfg.Table, audit.WithClock(e.Clock.Now))
	svc, err := approval.New(e.Cfg, e.Deps, approval.WithAudit(e.Audit), approval.WithHistory(trail))
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e, trail
}

// The summary names the last successful deploy from the audit trail, and links the
// changes since then on GitHub.
func TestSummaryShowsLastDeployed(t *testing.T) {
	e, trail := withHistory(t)
	old := strings.Repeat("0", 40)
	// Five failed deploys after the good one: more than the first page the summary reads,
	// so finding it takes the next page.
	recs := []domain.Record{{Type: domain.RecDeployFinished, Outcome: "succeeded", Commit: old, RunID: "r-old"}}
	for i := range 5 {
		recs = append(recs, domain.Record{Type: domain.RecDeployFinished, Outcome: "failed", Commit: strings.Repeat(fmt.Sprint(i+4), 40), RunID: fmt.Sprintf("r-failed-%d", i)})
	}
	for i, r := range recs {
		r.Pipeline, r.Actor, r.Time = "demo", "system", e.Clock.Now().Add(time.Duration(i)*time.Minute)
		if err := trail.Append(ctx(), r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		provider domain.Provider
		wantURL  string
	}{
		{"github gets a compare link", domain.ProviderGitHub, "https://github.com/acme/web/compare/" + old + "..." + strings.Repeat("3", 40)},
		{"codecommit has none", domain.ProviderCodeCommit, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := fmt.Sprintf("last-%d", i)
			b, _ := json.Marshal(spec.Spec{Approval: spec.Approval{Approvers: three, Supersede: new(bool)}})
			if err := e.PutObject(approvaltest.SpecKey(run), b); err != nil {
				t.Fatal(err)
			}
			st := approvaltest.State(approvaltest.Push{RunID: run, Commit: strings.Repeat("3", 40), Pusher: eve}, 0)
			st.Run.Push.Provider = tc.provider
			a, err := e.Svc.Request(ctx(), e.NewTaskToken(), st)
			if err != nil {
				t.Fatal(err)
			}
			if a.Summary.LastDeployed == nil || a.Summary.LastDeployed.Commit != old || a.Summary.LastDeployed.RunID != "r-old" {
				t.Fatalf("last deployed: got %+v, want %s of r-old", a.Summary.LastDeployed, old)
			}
			if a.Summary.SinceURL != tc.wantURL {
				t.Errorf("since URL: got %q, want %q", a.Summary.SinceURL, tc.wantURL)
			}
		})
	}
	for _, m := range e.Mails() {
		if !strings.Contains(m.Text, "Last deployed: 00000000 (run r-old)") {
			t.Errorf("mail to %s does not name the last deploy", m.To)
		}
	}
}

// The summary lists the pushes since the last deploy, newest first, whether they fit in
// the first page of runs it reads or not, without this run or the deployed one.
func TestSummaryListsPushesSinceTheLastDeploy(t *testing.T) {
	for _, since := range []int{2, 9} { // fewer and more than firstRunsPage
		t.Run(fmt.Sprintf("%d pushes", since), func(t *testing.T) {
			e, trail := withHistory(t)
			at := e.Clock.Now()
			add := func(r domain.Record) {
				t.Helper()
				at = at.Add(time.Minute)
				r.Pipeline, r.Actor, r.Time = "demo", "dev@example.com", at
				if err := trail.Append(ctx(), r); err != nil {
					t.Fatal(err)
				}
			}
			commit := func(i int) string { return fmt.Sprintf("%040x", i+1) }
			add(domain.Record{Type: domain.RecRunStarted, RunID: "r-deployed", Commit: commit(100), Detail: map[string]any{"message": "deployed"}})
			add(domain.Record{Type: domain.RecDeployFinished, Outcome: "succeeded", RunID: "r-deployed", Commit: commit(100)})
			var want []string
			for i := range since {
				add(domain.Record{Type: domain.RecRunStarted, RunID: fmt.Sprint("r-", i), Commit: commit(i), Detail: map[string]any{"message": fmt.Sprint("push ", i, "\nbody")}})
				want = append([]string{fmt.Sprint(commit(i), " push ", i)}, want...)
			}
			run := "r-self"
			add(domain.Record{Type: domain.RecRunStarted, RunID: run, Commit: commit(200), Detail: map[string]any{"message": "this one"}})
			b, _ := json.Marshal(spec.Spec{Approval: spec.Approval{Approvers: three, Supersede: new(bool)}})
			if err := e.PutObject(approvaltest.SpecKey(run), b); err != nil {
				t.Fatal(err)
			}
			st := approvaltest.State(approvaltest.Push{RunID: run, Commit: commit(200), Pusher: eve}, 0)
			a, err := e.Svc.Request(ctx(), e.NewTaskToken(), st)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range a.Summary.Undeployed {
				got = append(got, c.ID+" "+c.Message)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("pushes since the last deploy:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// A double click (the same approver's approval twice at once) counts once and errs never.
func TestDoubleClickCountsOnce(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	a, _ := e.Request(approvaltest.Push{RunID: "dbl-1", Pusher: eve}, spec.Approval{Approvers: three, Required: 2})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) { defer wg.Done(); _, errs[i] = decide(e, a.ID, bo, domain.Approved, "") }(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("click %d: %v", i, err)
		}
	}
	got, err := e.Svc.Get(ctx(), a.ID)
	if err != nil || len(got.Votes) != 1 || got.Final != nil {
		t.Errorf("got %d votes, final %v (%v); want one vote and no outcome yet", len(got.Votes), got.Final, err)
	}
}

func TestSweeperResumesInTheBackground(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	var mu sync.Mutex
	down := true
	e.SFN.Fail = func(approvaltest.SFNCall) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 503, "ServiceUnavailable"
		}
		return 0, ""
	}
	a, _ := e.Request(approvaltest.Push{RunID: "sw-1", Pusher: eve}, spec.Approval{Approvers: three})
	if _, err := decide(e, a.ID, bo, domain.Approved, ""); !domain.IsKind(err, domain.Transient) {
		t.Fatalf("with the engine down: got %v, want Transient", err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	c, cancel := context.WithCancel(ctx())
	done := make(chan struct{})
	go func() { e.Svc.Sweeper(c, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.SFN.Accepted()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := len(e.SFN.Accepted()); got != 1 {
		t.Errorf("resumes by the sweeper: got %d, want 1", got)
	}
}

// A decision that beat the timeout into the table but could not resume the run (the wait
// had ended) stays recorded; Expire returns it and the trail says the run ended anyway.
func TestExpireAfterALateDecision(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
	e.SFN.Fail = func(approvaltest.SFNCall) (int, string) { return 400, "TaskTimedOut" }
	p := approvaltest.Push{RunID: "late-1", Pusher: eve}
	a, _ := e.Request(p, spec.Approval{Approvers: three})
	if _, err := decide(e, a.ID, bo, domain.Approved, ""); err != nil {
		t.Fatal(err)
	}
	st := approvaltest.State(p, 0)
	st.Error = &domain.StateError{Error: "States.Timeout"}
	d, err := e.Svc.Expire(ctx(), st)
	if err != nil || d.Outcome != domain.Approved {
		t.Fatalf("Expire: got %+v (%v), want the recorded approval", d, err)
	}
	recs := e.Audit.Records(domain.RecApprovalExpired)
	if len(recs) != 1 || !strings.Contains(fmt.Sprint(recs[0].Detail["reason"]), "approved") {
		t.Errorf("approval.expired records: %+v, want one explaining the run ended", recs)
	}
}

// A pusher known only by a login (a CodeCommit caller ARN, or locally the committer's
// email) is still the pusher when they decide with their email: the console and the CLI
// carry only an email, and so does a link.
func TestSelfApprovalByPusherKnownOnlyByLogin(t *testing.T) {
	pushers := []struct {
		name   string
		pusher domain.Identity
	}{
		{"login is the email (local mode)", domain.Identity{Login: "ana@example.com"}},
		{"login is an ARN with an email session", domain.Identity{Login: "arn:aws:sts::1:assumed-role/Dev/Ana@Example.com"}},
	}
	deciders := []struct {
		name    string
		channel domain.Channel
		actor   domain.Identity
	}{
		{"console", domain.ChannelConsole, domain.Identity{Email: "ana@example.com"}},
		{"cli as the local user", domain.ChannelCLI, domain.Identity{Email: "ANA@example.com"}},
		{"cli as an IAM user", domain.ChannelCLI, domain.Identity{Login: "arn:aws:iam::1:user/ana@example.com"}},
	}
	n := 0
	for _, p := range pushers {
		for _, d := range deciders {
			n++
			run := fmt.Sprintf("selflogin-%d", n)
			t.Run(p.name+" via "+d.name, func(t *testing.T) {
				e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
				a, _ := e.Request(approvaltest.Push{RunID: run, Pusher: p.pusher}, spec.Approval{Approvers: three})
				_, err := e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: a.ID, Actor: d.actor, Channel: d.channel, Outcome: domain.Approved})
				if !domain.IsKind(err, domain.Forbidden) || !strings.Contains(err.Error(), "cannot approve") {
					t.Fatalf("got %v, want Forbidden (self-approval)", err)
				}
				if n := len(e.SFN.Calls()); n != 0 {
					t.Errorf("self-approval resumed the run (%d calls)", n)
				}
				if recs := e.Audit.Records(domain.RecApprovalRefused); len(recs) != 1 || !strings.Contains(fmt.Sprint(recs[0].Detail["reason"]), "self-approval") {
					t.Errorf("refusal records: got %+v, want one for self-approval", recs)
				}
				// Another approver is unaffected, and allow_self_approval lets the pusher in.
				if _, err := e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: a.ID, Actor: bo, Channel: d.channel, Outcome: domain.Approved}); err != nil {
					t.Errorf("another approver: %v", err)
				}
				e2 := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
				a2, _ := e2.Request(approvaltest.Push{RunID: run, Pusher: p.pusher}, spec.Approval{Approvers: three, AllowSelfApproval: true})
				if _, err := e2.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: a2.ID, Actor: d.actor, Channel: d.channel, Outcome: domain.Approved}); err != nil {
					t.Errorf("self-approval allowed by the spec: %v", err)
				}
			})
		}
	}
}

// Superseding goes by when the pushes were received, not by when their runs reached the
// gate (a slower build of an older push must not knock out a newer one), and only within
// a branch.
func TestSupersedingGoesByPushTimeWithinABranch(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	older := approvaltest.Push{RunID: "older", Commit: strings.Repeat("1", 40), Pusher: eve, ReceivedAt: t0}
	newer := approvaltest.Push{RunID: "newer", Commit: strings.Repeat("2", 40), Pusher: eve, ReceivedAt: t0.Add(10 * time.Second)}
	feature := approvaltest.Push{RunID: "feature", Commit: strings.Repeat("3", 40), Pusher: eve, ReceivedAt: t0.Add(20 * time.Second), Branch: "feature"}
	tests := []struct {
		name           string
		first, second  approvaltest.Push
		wantPending    []string // run ids, oldest request first
		wantSuperseded string   // run id
		wantBy         string   // commit
	}{
		{"newer push reaches the gate last", older, newer, []string{"newer"}, "older", newer.Commit},
		{"older push reaches the gate last", newer, older, []string{"newer"}, "older", newer.Commit},
		{"another branch is left alone", older, feature, []string{"older", "feature"}, "", ""},
		{"another branch arriving first is left alone", feature, older, []string{"feature", "older"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			ap := spec.Approval{Approvers: three}
			_, tok1 := e.Request(tc.first, ap)
			e.Clock.Advance(time.Minute)
			second, tok2 := e.Request(tc.second, ap)
			pending, err := e.Svc.Pending(ctx())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pending {
				got = append(got, p.RunID)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantPending, ",") {
				t.Errorf("pending: got %v, want %v", got, tc.wantPending)
			}
			calls := e.SFN.Accepted()
			if tc.wantSuperseded == "" {
				if len(calls) != 0 || len(e.Audit.Records(domain.RecApprovalSuperseded)) != 0 {
					t.Errorf("got %d resumes, want none: nothing superseded", len(calls))
				}
				return
			}
			wantTok := tok1
			if tc.second.RunID == tc.wantSuperseded {
				wantTok = tok2
				if second.Final == nil || second.Final.Outcome != domain.Superseded {
					t.Errorf("Request of the superseded arrival: got final %+v, want superseded", second.Final)
				}
				for _, m := range e.Mails() {
					if m.Kind == approval.KindRequest && m.Run == tc.second.RunID {
						t.Errorf("approvers were asked about a run superseded on arrival (mail to %s)", m.To)
					}
				}
			}
			if len(calls) != 1 || calls[0].TaskToken != wantTok || calls[0].Op != "SendTaskFailure" {
				t.Fatalf("resumes: got %+v, want one SendTaskFailure for run %s", calls, tc.wantSuperseded)
			}
			if want := "superseded by " + tc.wantBy; calls[0].Cause != want {
				t.Errorf("cause: got %q, want %q", calls[0].Cause, want)
			}
			fd, err := e.Svc.FinalDecision(ctx(), tc.wantSuperseded)
			if err != nil || fd.Outcome != domain.Superseded || fd.Comment != "superseded by "+tc.wantBy {
				t.Errorf("decision of %s: got %+v (%v), want superseded by %s", tc.wantSuperseded, fd, err, tc.wantBy)
			}
			if _, err := e.Svc.FinalDecision(ctx(), "newer"); !domain.IsKind(err, domain.NotFound) {
				t.Errorf("the newer push's run was decided: %v", err)
			}
		})
	}
}

// What anyone can send without holding a token is refused without an audit record (the
// trail is a hash chain on the public route's side); a well-formed token that fails its
// check is refused and audited.
func TestPublicRefusalsWriteNoAuditRecord(t *testing.T) {
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{RealAudit: true})
	a, _ := e.Request(approvaltest.Push{RunID: "pub-1", Pusher: eve}, spec.Approval{Approvers: three})
	good := approvaltest.LinkToken(e.Links("pub-1")["bo@example.com"])
	tests := []struct {
		name, id, tok string
		wantKind      domain.Kind
		wantAudit     bool
	}{
		{"junk id, no token", "../../etc/passwd", "", domain.NotFound, false},
		{"junk id, good token", "anything", good, domain.NotFound, false},
		{"id of the wrong length", a.ID + "0", good, domain.NotFound, false},
		{"no token", a.ID, "", domain.Forbidden, false},
		{"malformed token", a.ID, "x", domain.Forbidden, false},
		{"right length, unknown version", a.ID, strings.Repeat("A", len(good)), domain.Forbidden, false},
		{"well-formed token, unknown approval", "ap-00000000000000000000", good, domain.Forbidden, true},
		{"well-formed token, MAC edited", a.ID, good[:len(good)-2] + "AA", domain.Forbidden, true},
	}
	for _, tc := range tests {
		for _, how := range []string{"view", "decide"} {
			t.Run(how+" "+tc.name, func(t *testing.T) {
				before := len(e.Audit.Records(""))
				var err error
				switch {
				case how == "view":
					_, _, err = e.Svc.View(ctx(), tc.id, tc.tok)
				case tc.tok == "" && tc.wantKind != domain.NotFound:
					return // no link token is the console/CLI path, authenticated before the gate
				default:
					_, err = e.Svc.Decide(ctx(), approval.DecideRequest{ApprovalID: tc.id, LinkToken: tc.tok, Channel: domain.ChannelEmail, Outcome: domain.Approved})
				}
				if !domain.IsKind(err, tc.wantKind) {
					t.Errorf("got %v, want kind %s", err, tc.wantKind)
				}
				recs := e.Audit.Records("")[before:]
				if tc.wantAudit != (len(recs) == 1 && recs[0].Type == domain.RecApprovalRefused) || !tc.wantAudit && len(recs) != 0 {
					t.Errorf("audit records: got %+v, want audited=%v", recs, tc.wantAudit)
				}
			})
		}
	}
	trail, err := audit.NewDynamo(e.DB, e.Cfg.Table).Query(ctx(), audit.Filter{Pipeline: "demo", Type: domain.RecApprovalRefused, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(trail.Records); got != 4 {
		t.Errorf("refusals in the real trail: got %d, want 4 (two well-formed tokens, viewed and posted)", got)
	}
}

// A RequestApproval retry can replace the stored task token while a decider holds the old
// one; Step Functions then refuses the old token. The decider must resume the run on the
// new token rather than close the approval with the run still waiting.
func TestDecisionSurvivesATokenReplacedByARetriedRequest(t *testing.T) {
	tests := []struct {
		name    string
		errType string
		retry   bool // a retried request replaced the token before the refusal
	}{
		{"TaskTimedOut after a retry", "TaskTimedOut", true},
		{"InvalidToken after a retry", "InvalidToken", true},
		{"TaskDoesNotExist after a retry", "TaskDoesNotExist", true},
		{"run gone, token unchanged", "TaskTimedOut", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{})
			p := approvaltest.Push{RunID: fmt.Sprintf("tok-%d", i), Pusher: eve}
			a, first := e.Request(p, spec.Approval{Approvers: three})
			var mu sync.Mutex
			var second string
			e.SFN.Fail = func(c approvaltest.SFNCall) (int, string) {
				mu.Lock()
				defer mu.Unlock()
				if c.TaskToken != first {
					return 0, ""
				}
				if tc.retry && second == "" {
					// The task was retried after the decision was written and before the
					// decider's SendTask: the execution now waits on the retry's token.
					second = e.NewTaskToken()
					if _, err := e.Svc.Request(ctx(), second, approvaltest.State(p, 0)); err != nil {
						t.Errorf("retried request: %v", err)
					}
				}
				return 400, tc.errType
			}
			res, err := decide(e, a.ID, bo, domain.Approved, "")
			if err != nil || res.Final == nil || res.Final.Outcome != domain.Approved {
				t.Fatalf("Decide: got %+v (%v), want approved", res, err)
			}
			calls, accepted := e.SFN.Calls(), e.SFN.Accepted()
			if !tc.retry {
				if len(calls) != 1 || len(accepted) != 0 {
					t.Errorf("calls: got %d (%d accepted), want the one refused call and no resend", len(calls), len(accepted))
				}
			} else {
				if len(accepted) != 1 || accepted[0].TaskToken != second || accepted[0].Op != "SendTaskSuccess" {
					t.Fatalf("accepted: got %+v, want SendTaskSuccess on the retry's token", accepted)
				}
				if !res.Resumed {
					t.Errorf("Resumed: got false, want true")
				}
			}
			if p, _ := e.Svc.Pending(ctx()); len(p) != 0 {
				t.Errorf("still pending: %v", p)
			}
			if n, err := e.Svc.Sweep(ctx()); n != 0 || err != nil {
				t.Errorf("Sweep: got %d (%v), want nothing left to resume", n, err)
			}
		})
	}
}
