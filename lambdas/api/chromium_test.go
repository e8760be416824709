package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/browsertest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/webauth"
)

// A person opens the console in a real browser, is sent through the (stand-in) hosted
// UI, lands back signed in, approves from the console, then signs out.
func TestChromiumSignsInThenApprovesInTheConsole(t *testing.T) {
	ctx := browsertest.New(t)
	s := newSignedInSite(t)
	a, _ := s.env.Request(approvaltest.Push{RunID: "run-chrome-1", Pusher: eve}, spec.Approval{Approvers: []string{ann}})
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.gw.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("approve-"+a.ID)),
	)
	if err != nil {
		t.Fatalf("open the console and sign in: %v", err)
	}
	user, loc := run(ctx, t, chromedp.Text(chromedp.ID("user"))), run(ctx, t, chromedp.Location())
	if user != ann || loc != s.gw.URL+"/" {
		t.Errorf("console at %s shows user %q, want %s/ as %s", loc, user, s.gw.URL, ann)
	}
	if ex, _ := s.idp.Counts(); ex != 1 {
		t.Errorf("%d code exchanges, want 1", ex)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("comment-"+a.ID), "approved after signing in"),
		chromedp.Click(chromedp.ID("approve-"+a.ID)),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	if err != nil {
		t.Fatalf("approve in the console: %v", err)
	}
	outcome := run(ctx, t, chromedp.Text(chromedp.ID("outcome")))
	if !strings.Contains(outcome, "approved") {
		t.Errorf("outcome shown: %q", outcome)
	}
	fd, err := s.env.Svc.FinalDecision(context.Background(), "run-chrome-1")
	if err != nil || fd.Channel != domain.ChannelConsole || fd.Comment != "approved after signing in" {
		t.Errorf("recorded: %+v (%v), want a console decision with the comment", fd, err)
	}
	if calls := s.env.SFN.Accepted(); len(calls) != 1 || calls[0].Op != "SendTaskSuccess" {
		t.Errorf("task results: %+v, want one SendTaskSuccess", calls)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.gw.URL+webauth.PathLogout),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	msg, loc := run(ctx, t, chromedp.Text(chromedp.ID("message"))), run(ctx, t, chromedp.Location())
	if loc != s.gw.URL+webauth.PathSignedOut || !strings.Contains(msg, "signed out") {
		t.Errorf("after logout at %s: %q, want the signed-out page", loc, msg)
	}
}

func run(ctx context.Context, t *testing.T, a chromedp.Action[string]) string {
	t.Helper()
	s, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
