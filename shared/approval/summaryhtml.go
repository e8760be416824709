package approval

import (
	"github.com/shipgate/shipgate/shared/htmlesc"
)

// The request mail and the console's approval pages lay a Summary out differently (the
// mail has no element ids and inline alignment), but say the same things about the
// tests and the commits of the push in the same words; these fragments are
// that common part, so a change of wording reaches both. Both callers are held to their
// former templates byte for byte by oracle tests.

// TestsHTML writes the Test stage's totals.
func TestsHTML(b *htmlesc.Builder, t *TestCounts) {
	b.Int(t.Passed)
	b.Raw(" passed, ")
	b.Int(t.Failed)
	b.Raw(" failed, ")
	b.Int(t.Skipped)
	b.Raw(" skipped")
}

// UndeployedHTML lists the pushes since the last deploy that were never deployed, or
// writes nothing when there are none.
func UndeployedHTML(b *htmlesc.Builder, sm *Summary) {
	if len(sm.Undeployed) == 0 {
		return
	}
	b.Raw("<p id=\"undeployed\">Also pushed since then, never deployed (going live with this commit ships them too):</p>\n<ul>")
	CommitItemsHTML(b, sm.Undeployed)
	b.Raw("</ul>\n")
}

// CommitItemsHTML writes a list item a commit of the push: short id, message, author.
func CommitItemsHTML(b *htmlesc.Builder, commits []CommitLine) {
	for _, c := range commits {
		b.Raw("<li><code>")
		b.Text(Short(c.ID))
		b.Raw("</code> ")
		b.Text(c.Message)
		if c.Author != "" {
			b.Raw(" (")
			b.Text(c.Author)
			b.Raw(")")
		}
		b.Raw("</li>")
	}
}
