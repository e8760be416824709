package approval_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/notify/snsnotify"
	"github.com/shipgate/shipgate/shared/notify/snsnotify/snstest"
	"github.com/shipgate/shipgate/shared/spec"
)

// On AWS the approvers are told through SNS: one plain-text publish per approver, each
// tagged with the approver's address for their subscription's filter policy, and each
// carrying only that approver's link.
func TestRequestOverSNSKeepsLinksPrivate(t *testing.T) {
	stand := &snstest.StandIn{}
	srv := httptest.NewServer(stand)
	defer srv.Close()
	e := approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{BaseURL: "https://api.example.com"})
	client := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	sender, err := snsnotify.New(client, "arn:aws:sns:us-east-1:1:shipgate")
	if err != nil {
		t.Fatal(err)
	}
	e.Deps.Notify = sender
	svc, err := approval.New(e.Cfg, e.Deps, approval.WithAudit(e.Audit))
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	e.Watch(func() string { // the published messages join the task-token leak check
		var b strings.Builder
		for _, f := range stand.Publishes() {
			for k, v := range f {
				b.WriteString(k + "=" + v + "\n")
			}
		}
		return b.String()
	})
	a, _ := e.Request(approvaltest.Push{RunID: "sns-1", Pusher: eve}, spec.Approval{Approvers: three})
	got := stand.Publishes()
	if len(got) != 3 {
		t.Fatalf("publishes: got %d, want one per approver", len(got))
	}
	for i, f := range got {
		to := f["MessageAttributes.entry.1.Value.StringValue"]
		if to != a.Approvers[i] || f["MessageAttributes.entry.1.Name"] != notify.RecipientAttribute {
			t.Errorf("publish %d: recipient attribute %q, want %q", i, to, a.Approvers[i])
		}
		body := f["Message"]
		if n := strings.Count(body, "/approvals/"+a.ID+"?t="); n != 1 {
			t.Errorf("publish %d carries %d links, want exactly its own", i, n)
		}
		tok := body[strings.Index(body, "?t=")+3:]
		tok = tok[:strings.IndexAny(tok, "\n ")]
		if _, who, err := e.Svc.View(ctx(), a.ID, tok); err != nil || who != to {
			t.Errorf("the link sent to %s opens as %q (%v)", to, who, err)
		}
		if strings.Contains(body, "<html") {
			t.Errorf("publish %d is not plain text", i)
		}
	}
}
