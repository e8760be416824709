package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/shipgate/shipgate/lambdas/notify"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	sgnotify "github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
	"github.com/shipgate/shipgate/shared/workflow"
)

// sender records messages.
type sender struct {
	mu   sync.Mutex
	msgs []sgnotify.Message
}

func (s *sender) Send(_ context.Context, m sgnotify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

var commit = strings.Repeat("ab", 20)

func baseState() domain.State {
	return domain.State{Run: domain.Run{ID: "main-abababab-1", Pipeline: "demo", Push: domain.Push{
		Repository: "acme/app", Branch: "main", Commit: commit, Message: "Fix the widget\n\nlong body",
		Pusher: domain.Identity{Name: "Dev", Email: "Dev@Example.com"}, ReceivedAt: time.Now().Add(-time.Minute),
	}}}
}

// lambdaCause is the Cause Step Functions stores for a Go Lambda's error.
func lambdaCause(err error) string {
	b, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": reflect.TypeOf(err).Elem().Name()})
	return string(b)
}

func TestMessages(t *testing.T) {
	buildErr := lambdaerr.Boundary(domain.Errorf(domain.BuildFailed, "build command %q exited with code 2\n--- log tail ---\nmain.go:3: undefined: x", "make"))
	cases := []struct {
		name        string
		event       string
		state       func() domain.State
		wantSubject string
		wantText    []string
	}{
		{
			name:  "succeeded",
			event: workflow.EventSucceeded,
			state: func() domain.State {
				s := baseState()
				s.Test = &domain.TestResult{Passed: 12, Skipped: 1}
				s.Approval = &domain.Decision{Outcome: domain.Approved, Approvers: []string{"alice@example.com"}, Channel: domain.ChannelEmail, DecidedAt: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)}
				s.Deploy = &domain.DeployResult{ManifestDigest: "sha256:abc", Target: "s3://releases/app/"}
				return s
			},
			wantSubject: "[shipgate] deployed: demo main@abababababab",
			wantText:    []string{"was deployed", "Approved by alice@example.com via email at 2026-11-26T01:00:00Z", "sha256:abc", "s3://releases/app/", "12 passed", "Message:    Fix the widget\n"},
		},
		{
			name:  "build failed with exit code and tail",
			event: workflow.EventFailed,
			state: func() domain.State {
				s := baseState()
				s.Error = &domain.StateError{Error: "BuildFailed", Cause: lambdaCause(buildErr)}
				return s
			},
			wantSubject: "[shipgate] build failed: demo main@abababababab",
			wantText:    []string{"failed at the build stage", "Error: BuildFailed", "exited with code 2", "main.go:3: undefined: x", "Full log: s3://shipgate-artifacts/logs/demo/main-abababab-1/build.log"},
		},
		{
			name:  "deploy failed",
			event: workflow.EventFailed,
			state: func() domain.State {
				s := baseState()
				s.Build, s.Test, s.Stage = &domain.BuildResult{}, &domain.TestResult{}, &domain.StageResult{}
				s.Approval = &domain.Decision{Outcome: domain.Approved}
				s.Error = &domain.StateError{Error: "DecisionMissing", Cause: `{"errorMessage":"run x has no recorded approval decision","errorType":"DecisionMissing"}`}
				return s
			},
			wantSubject: "[shipgate] deploy failed:",
			wantText:    []string{"Error: DecisionMissing", "no recorded approval decision"},
		},
		{
			name:  "rejected",
			event: workflow.EventRejected,
			state: func() domain.State {
				s := baseState()
				s.Error = &domain.StateError{Error: "ApprovalRejected", Cause: "rejected by bob@example.com: not on a Friday"}
				return s
			},
			wantSubject: "[shipgate] rejected:",
			wantText:    []string{"will not be deployed", "rejected by bob@example.com: not on a Friday"},
		},
		{
			name:  "expired",
			event: workflow.EventExpired,
			state: func() domain.State {
				s := baseState()
				s.Build = &domain.BuildResult{ApprovalTimeoutSeconds: 7200}
				return s
			},
			wantSubject: "[shipgate] approval expired:",
			wantText:    []string{"not approved in time", "approval timeout of 2h0m0s"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snd, aud := &sender{}, &kittest.Audit{}
			cfg := app.Config{Pipeline: "demo", Bucket: kittest.Bucket, BaseURL: "https://ship.example.com", NotifyEmails: []string{"team@example.com", "dev@example.com"}}
			h, err := notify.NewWith(cfg, &app.Deps{}, notify.Options{Sender: snd, Audit: aud})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Handle(context.Background(), notify.In{Event: tc.event, State: tc.state()})
			if err != nil {
				t.Fatal(err)
			}
			if len(snd.msgs) != 1 {
				t.Fatalf("sent %d messages, want 1", len(snd.msgs))
			}
			m := snd.msgs[0]
			if !strings.HasPrefix(m.Subject, tc.wantSubject) || out.Subject != m.Subject {
				t.Errorf("subject = %q, want prefix %q", m.Subject, tc.wantSubject)
			}
			if want := []string{"team@example.com", "dev@example.com"}; !reflect.DeepEqual(m.To, want) {
				t.Errorf("to = %v, want %v (configured + pusher, once each)", m.To, want)
			}
			for _, s := range append(tc.wantText, "Run details: https://ship.example.com/runs/main-abababab-1") {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
			}
			if got := aud.Types(); !reflect.DeepEqual(got, []string{"run.finished:" + tc.event}) {
				t.Errorf("audit = %v, want one run.finished:%s", got, tc.event)
			}
		})
	}
}

func TestBadEvent(t *testing.T) {
	h, _ := notify.NewWith(app.Config{}, &app.Deps{}, notify.Options{Sender: &sender{}, Audit: &kittest.Audit{}})
	_, err := h.Handle(context.Background(), notify.In{Event: "exploded", State: baseState()})
	if err == nil || !strings.Contains(err.Error(), `unknown event "exploded"`) {
		t.Fatalf("error = %v, want one naming the event", err)
	}
}

// The local wiring: the outbox sender and the audit trail on dynalite.
func TestNotifyThroughOutboxAndAuditTable(t *testing.T) {
	st := kittest.Start(t, true)
	dir := t.TempDir()
	var term strings.Builder
	ob, err := sgnotify.NewOutbox(dir, &term)
	if err != nil {
		t.Fatal(err)
	}
	deps := st.Deps()
	deps.Notify = ob
	h, err := notify.New(st.Config(), deps)
	if err != nil {
		t.Fatal(err)
	}
	s := baseState()
	s.Run.Pipeline = kittest.Pipeline
	s.Error = &domain.StateError{Error: "TestsFailed", Cause: `{"errorMessage":"tests failed: 1 failed","errorType":"TestsFailed"}`}
	s.Build = &domain.BuildResult{}
	if _, err := h.Handle(context.Background(), notify.In{Event: workflow.EventFailed, State: s}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) == 0 {
		t.Fatalf("no .eml in the outbox; terminal: %s", term.String())
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "test failed") && !strings.Contains(string(b), "tests failed") {
		t.Errorf("outbox message lacks the failure:\n%s", b)
	}
	page, err := audit.NewDynamo(st.DynamoDB, kittest.Table).Query(context.Background(), audit.Filter{Pipeline: kittest.Pipeline, Run: s.Run.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Type != domain.RecRunFinished || page.Records[0].Outcome != "failed" {
		t.Errorf("audit records = %+v, want one run.finished failed", page.Records)
	}
}

// Without a sender in Deps, New publishes through SNS: one Publish per recipient with
// the recipient attribute, checked against an SNS-protocol test server.
func TestDefaultSenderIsSNS(t *testing.T) {
	var mu sync.Mutex
	var published []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		published = append(published, r.Form.Get("Action")+" "+r.Form.Get("TopicArn")+" "+r.Form.Get("MessageAttributes.entry.1.Value.StringValue"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`))
	}))
	defer srv.Close()
	topic := "arn:aws:sns:us-east-1:000000000000:shipgate"
	deps := &app.Deps{AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}}
	h, err := notify.NewWith(app.Config{Pipeline: "demo", TopicARN: topic, NotifyEmails: []string{"team@example.com"}}, deps, notify.Options{Audit: &kittest.Audit{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), notify.In{Event: workflow.EventExpired, State: baseState()}); err != nil {
		t.Fatal(err)
	}
	want := []string{"Publish " + topic + " team@example.com", "Publish " + topic + " dev@example.com"}
	if !reflect.DeepEqual(published, want) {
		t.Errorf("published %q, want %q", published, want)
	}
}
