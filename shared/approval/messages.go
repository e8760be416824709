package approval

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/shared/htmlesc"
	"github.com/shipgate/shipgate/shared/notify"
)

// Message kinds (notify.Message.Kind).
const (
	KindRequest = "approval.request"
	KindExpired = "approval.expired"
)

// Short abbreviates a commit id for subjects and lists.
func Short(commit string) string {
	if len(commit) > 8 {
		return commit[:8]
	}
	return commit
}

type msgData struct {
	A        *Approval
	To       string
	Link     string
	Console  string
	Short    string
	Expires  string
	Others   string
	Required int
}

// The request mail is built with plain string code rather than text/template and
// html/template: their reflective field access keeps every exported method of every
// reachable type in the Lambda binaries (see shared/htmlesc). messages_oracle_test.go
// renders the former templates and checks these functions produce the same bytes.

func requestText(d msgData) string {
	var b strings.Builder
	sm := &d.A.Summary
	b.WriteString(sm.Pusher.Name)
	if sm.Pusher.Email != "" {
		b.WriteString(" <" + sm.Pusher.Email + ">")
	}
	b.WriteString(" pushed " + Short(sm.Commit) + " to " + sm.Repository + " (" + sm.Branch + "); it is built, tested and staged, and waits for your decision.\n\n")
	b.WriteString("Commit:   " + sm.Commit + "\n")
	b.WriteString("Message:  " + sm.Message + "\n")
	if t := sm.Tests; t != nil {
		fmt.Fprintf(&b, "Tests:    %d passed, %d failed, %d skipped\n", t.Passed, t.Failed, t.Skipped)
	}
	b.WriteString("Manifest: " + d.A.ManifestDigest + "\n")
	if len(sm.Artifacts) > 0 {
		b.WriteString("\nArtifacts:\n")
		for _, a := range sm.Artifacts {
			b.WriteString("  " + a.Name + "  " + a.Path + "  " + humanBytes(a.Size) + "\n    sha256:" + a.SHA256 + "\n")
		}
	}
	if len(sm.Commits) > 0 {
		b.WriteString("\nCommits in this push:\n")
		commitLinesText(&b, sm.Commits)
		if sm.CommitsTruncated {
			b.WriteString("  (more commits not shown)\n")
		}
	}
	if ld := sm.LastDeployed; ld != nil {
		b.WriteString("\nLast deployed: " + Short(ld.Commit) + " (run " + ld.RunID + ")")
		if sm.SinceURL != "" {
			b.WriteString("\nChanges since: " + sm.SinceURL)
		}
		b.WriteString("\n")
		if len(sm.Undeployed) > 0 {
			b.WriteString("Also pushed since then, never deployed (going live with this commit ships them too):\n")
			commitLinesText(&b, sm.Undeployed)
		}
	}
	b.WriteString("\nApprovals needed: " + strconv.Itoa(d.Required) + " (" + d.Others + ")\n")
	b.WriteString("Decide by:        " + d.Expires + "\n\n")
	b.WriteString("Review and decide (this link is yours alone; do not forward it):\n" + d.Link + "\n\n")
	b.WriteString("Opening the link changes nothing; you decide on the page.\nConsole: " + d.Console + "\n")
	return b.String()
}

// commitLinesText writes a line a commit: short id, message, author.
func commitLinesText(b *strings.Builder, commits []CommitLine) {
	for _, c := range commits {
		b.WriteString("  " + Short(c.ID) + " " + c.Message)
		if c.Author != "" {
			b.WriteString(" (" + c.Author + ")")
		}
		b.WriteString("\n")
	}
}

func requestHTML(d msgData) string {
	var b htmlesc.Builder
	sm := &d.A.Summary
	b.Raw("<!doctype html>\n<html><body style=\"font-family:sans-serif\">\n<p><b>")
	b.Text(sm.Pusher.Name)
	b.Raw("</b>")
	if sm.Pusher.Email != "" {
		b.Raw(" &lt;")
		b.Text(sm.Pusher.Email)
		b.Raw("&gt;")
	}
	b.Raw(" pushed <code>")
	b.Text(Short(sm.Commit))
	b.Raw("</code> to <b>")
	b.Text(sm.Repository)
	b.Raw("</b> (")
	b.Text(sm.Branch)
	b.Raw("). It is built, tested and staged, and waits for your decision.</p>\n<table>\n<tr><th align=\"left\">Commit</th><td><code>")
	b.Text(sm.Commit)
	b.Raw("</code></td></tr>\n<tr><th align=\"left\">Message</th><td>")
	b.Text(sm.Message)
	b.Raw("</td></tr>\n")
	if t := sm.Tests; t != nil {
		b.Raw("<tr><th align=\"left\">Tests</th><td>")
		TestsHTML(&b, t)
		b.Raw("</td></tr>")
	}
	b.Raw("\n<tr><th align=\"left\">Manifest</th><td><code>")
	b.Text(d.A.ManifestDigest)
	b.Raw("</code></td></tr>\n</table>\n")
	if len(sm.Artifacts) > 0 {
		b.Raw("<h3>Artifacts</h3><ul>")
		for _, a := range sm.Artifacts {
			b.Raw("<li>")
			b.Text(a.Name)
			b.Raw(" <code>")
			b.Text(a.Path)
			b.Raw("</code> ")
			b.Text(humanBytes(a.Size))
			b.Raw("<br><code>sha256:")
			b.Text(a.SHA256)
			b.Raw("</code></li>")
		}
		b.Raw("</ul>")
	}
	b.Raw("\n")
	if len(sm.Commits) > 0 {
		b.Raw("<h3>Commits in this push</h3><ul>")
		CommitItemsHTML(&b, sm.Commits)
		b.Raw("</ul>")
	}
	b.Raw("\n")
	if ld := sm.LastDeployed; ld != nil {
		b.Raw("<p>Last deployed: <code>")
		b.Text(Short(ld.Commit))
		b.Raw("</code> (run ")
		b.Text(ld.RunID)
		b.Raw(")")
		if sm.SinceURL != "" {
			b.Raw(", <a href=\"")
			b.URL(sm.SinceURL)
			b.Raw("\">changes since</a>")
		}
		b.Raw("</p>")
		UndeployedHTML(&b, sm)
	}
	b.Raw("\n<p>Approvals needed: ")
	b.Int(d.Required)
	b.Raw(" (")
	b.Text(d.Others)
	b.Raw("). Decide by ")
	b.Text(d.Expires)
	b.Raw(".</p>\n<p><a href=\"")
	b.URL(d.Link)
	b.Raw("\">Review and decide</a> (this link is yours alone; opening it changes nothing).</p>\n<p><a href=\"")
	b.URL(d.Console)
	b.Raw("\">Console</a></p>\n</body></html>\n")
	return b.String()
}

func (s *Service) requestMessage(a *Approval, i int) (notify.Message, error) {
	tok, err := s.signer.Mint(a.ID, a.Approvers, i, a.ExpiresAt)
	if err != nil {
		return notify.Message{}, err
	}
	link := s.baseURL + Link(a.ID) + "?t=" + tok
	d := msgData{A: a, To: a.Approvers[i], Link: link, Console: s.baseURL + "/", Short: Short(a.Commit),
		Expires: a.ExpiresAt.UTC().Format(time.RFC3339), Required: a.Required,
		Others: "approvers: " + strings.Join(a.Approvers, ", ")}
	return notify.Message{
		To:      []string{a.Approvers[i]},
		Subject: fmt.Sprintf("[shipgate] Approve %s %s@%s: %s", a.Pipeline, a.Summary.Branch, Short(a.Commit), firstLine(a.Summary.Message)),
		Text:    requestText(d),
		HTML:    requestHTML(d),
		Links:   []string{link},
		Kind:    KindRequest,
		RunID:   a.RunID,
	}, nil
}

func (s *Service) expiredMessage(a *Approval, to string) notify.Message {
	text := fmt.Sprintf("Nobody decided on %s %s@%s before %s, so the run %s ended without deploying.\n\nPush again (or re-run) to ask for approval anew.\nConsole: %s/\n",
		a.Pipeline, a.Summary.Branch, Short(a.Commit), a.ExpiresAt.UTC().Format(time.RFC3339), a.RunID, s.baseURL)
	return notify.Message{
		To:      []string{to},
		Subject: fmt.Sprintf("[shipgate] Approval expired: %s %s@%s", a.Pipeline, a.Summary.Branch, Short(a.Commit)),
		Text:    text,
		Kind:    KindExpired,
		RunID:   a.RunID,
	}
}

// HumanBytes is an artifact's size as approvers are shown it, in mail and in the console
// alike.
func HumanBytes(n int64) string { return humanBytes(n) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
