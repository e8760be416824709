package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/asl"
)

// The walking skeleton: push -> build -> test -> stage -> approval email -> GET shows the
// page -> POST approves -> decision recorded -> deploy ran -> audit shows it in order.
// TestPushApprovedByEmailLinkDeploysAndIsAudited runs the whole path twice: with the
// handlers' AWS clients in process (local mode's default, shared/inproc) and over the
// stand-ins' TCP endpoints (the path every client outside the process takes).
func TestPushApprovedByEmailLinkDeploysAndIsAudited(t *testing.T) {
	for _, tc := range []struct {
		name    string
		overTCP bool
	}{{"clients in process", false}, {"clients over TCP", true}} {
		t.Run(tc.name, func(t *testing.T) { approveByEmailLink(t, newWorld(t, worldOpts{overTCP: tc.overTCP})) })
	}
}

func approveByEmailLink(t *testing.T, w *world) {
	commit, run := w.push()
	w.waitState(run, "RequestApproval")

	link := w.approvalLink(commit, "lead@example.com")
	// GET (and a second GET, as a mail scanner would) only shows the page.
	for i := 0; i < 2; i++ {
		code, body := get(t, link)
		if code != http.StatusOK || !strings.Contains(body, commit[:7]) {
			t.Fatalf("GET approval page: %d, commit %s shown: %v", code, commit[:7], strings.Contains(body, commit[:7]))
		}
	}
	if d, err := w.stack.Engine.DescribeExecution(t.Context(), w.execARN(run)); err != nil || d.Status != asl.StatusRunning {
		t.Fatalf("after GETs the run is %v (%v), want RUNNING", d, err)
	}

	code, body := postDecision(t, link, "approve", "ship it")
	if code != http.StatusOK {
		t.Fatalf("POST approve: %d\n%s", code, body)
	}
	d := w.waitEnd(run)
	if d.Status != asl.StatusSucceeded {
		t.Fatalf("run ended %s, want SUCCEEDED\n%s", d.Status, w.out.String())
	}

	types := recordTypes(w.auditAPI(url.Values{"run": {run}}))
	want := []string{"run.started", "stage.started:build", "stage.finished:build", "stage.started:test", "stage.finished:test",
		"stage.started:stage", "stage.finished:stage", "approval.requested", "approval.decision", "approval.final",
		"stage.started:deploy", "deploy.started:deploy", "deploy.finished:deploy", "stage.finished:deploy", "run.finished"}
	if !containsInOrder(types, want) {
		t.Fatalf("audit records of the run:\n  %v\nwant in order:\n  %v", types, want)
	}
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
