package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shipgate/shipgate/shared/browsertest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
)

func text(ctx context.Context, t *testing.T, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("read #%s: %v", id, err)
	}
	return s
}

func TestChromiumApprovesFromTheEmailLink(t *testing.T) {
	ctx := browsertest.New(t)
	s := newSite(t, "")
	a, links := s.request(t, "chrome-1", spec.Approval{Approvers: three})
	err := chromedp.Do(ctx,
		chromedp.Navigate(links["cy@example.com"]),
		chromedp.WaitVisible(chromedp.ID("approve")),
	)
	if err != nil {
		t.Fatalf("open link: %v", err)
	}
	if who := text(ctx, t, "who"); who != "cy@example.com" {
		t.Errorf("page says the link belongs to %q, want cy@example.com", who)
	}
	s.unchanged(t, a.ID) // the browser's GET (and anything it prefetched) decided nothing
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("comment"), "checked in the browser"),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	outcome := text(ctx, t, "outcome")
	if !strings.Contains(outcome, "approved") || !strings.Contains(outcome, "cy@example.com") {
		t.Errorf("outcome shown: %q", outcome)
	}
	calls := s.SFN.Accepted()
	if len(calls) != 1 || calls[0].Op != "SendTaskSuccess" {
		t.Fatalf("calls: %+v, want one SendTaskSuccess", calls)
	}
	fd, err := s.Svc.FinalDecision(context.Background(), "chrome-1")
	if err != nil || fd.Comment != "checked in the browser" || fd.Channel != domain.ChannelEmail {
		t.Errorf("recorded: %+v (%v)", fd, err)
	}
}

func TestChromiumApprovesInTheConsole(t *testing.T) {
	ctx := browsertest.New(t)
	s := newSite(t, "bo@example.com")
	a, _ := s.request(t, "chrome-2", spec.Approval{Approvers: three})
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("approve-"+a.ID)),
	)
	if err != nil {
		t.Fatalf("open console: %v", err)
	}
	user := text(ctx, t, "user")
	s.unchanged(t, a.ID)
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("comment-"+a.ID), "console says yes"),
		chromedp.Click(chromedp.ID("approve-"+a.ID)),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	if err != nil {
		t.Fatalf("console approve: %v", err)
	}
	outcome := text(ctx, t, "outcome")
	if user != "bo@example.com" || !strings.Contains(outcome, "approved") {
		t.Errorf("user %q, outcome %q", user, outcome)
	}
	if calls := s.SFN.Accepted(); len(calls) != 1 || calls[0].Op != "SendTaskSuccess" {
		t.Fatalf("calls: %+v, want one SendTaskSuccess", calls)
	}
	fd, err := s.Svc.FinalDecision(context.Background(), "chrome-2")
	if err != nil || fd.Channel != domain.ChannelConsole || fd.Comment != "console says yes" {
		t.Errorf("recorded: %+v (%v)", fd, err)
	}
}
