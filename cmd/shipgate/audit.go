package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
)

// maxAuditRecords bounds what one `shipgate audit` invocation prints by following pages.
const maxAuditRecords = 100000

// runAudit queries the audit trail, or verifies it (`audit verify`).
func runAudit(ctx context.Context, c *cli, args []string) int {
	if len(args) > 0 && args[0] == "verify" {
		return runAuditVerify(ctx, c, args[1:])
	}
	fs := flag.NewFlagSet("shipgate audit", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var (
		tf                                                 targetFlags
		pipeline, run, commit, approver, since, until, typ string
		decision, format, page, order, tz                  string
		limit                                              int
		runs                                               bool
	)
	tf.register(fs, c)
	fs.StringVar(&pipeline, "pipeline", "", "pipeline name (default: the stack's pipeline when no run, commit or approver is given)")
	fs.StringVar(&run, "run", "", "everything about one run, in order")
	fs.StringVar(&commit, "commit", "", "records of pushes of this commit (full SHA or at least 7 hex digits)")
	fs.StringVar(&approver, "approver", "", "approval records of this person (email, login or ARN)")
	fs.StringVar(&since, "since", "", "records at or after this time (RFC 3339, or a date: 2026-11-26)")
	fs.StringVar(&until, "until", "", "records before this time (RFC 3339, or a date)")
	fs.StringVar(&decision, "decision", "", "approval records with this outcome: approved, rejected, expired, superseded")
	fs.StringVar(&typ, "type", "", "records of this type (e.g. approval.final, deploy.finished)")
	fs.BoolVar(&runs, "runs", false, "list the pipeline's runs (run.started records), newest first")
	fs.IntVar(&limit, "limit", audit.DefaultLimit, "at most this many records (pages are followed up to it)")
	fs.StringVar(&page, "page", "", "continue from the page token a previous query printed")
	fs.StringVar(&order, "order", "", "oldest or newest first (default: a run oldest first, everything else newest first)")
	fs.StringVar(&format, "format", "table", "output: table, json or csv")
	fs.StringVar(&tz, "tz", "UTC", "time zone for printed times (IANA name, or Local)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: shipgate audit [filters] [--format table|json|csv]\n       shipgate audit verify [--pipeline P] [--expect-head SEQ:HASH]\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "shipgate audit: unexpected argument %q (filters are flags; see --help)\n", fs.Arg(0))
		return exitUsage
	}
	usageErr := func(err error) int {
		fmt.Fprintf(c.stderr, "shipgate audit: %v\n", err)
		return exitUsage
	}
	f := audit.Filter{Pipeline: pipeline, Run: run, Commit: commit, Approver: approver, Type: domain.RecordType(typ),
		RunsOnly: runs, Order: audit.Order(order), PageToken: page}
	var err error
	if since != "" {
		if f.Since, err = audit.ParseTime(since); err != nil {
			return usageErr(fmt.Errorf("--since: %w", err))
		}
	}
	if until != "" {
		if f.Until, err = audit.ParseTime(until); err != nil {
			return usageErr(fmt.Errorf("--until: %w", err))
		}
	}
	if decision != "" {
		if f.Decision, err = audit.ParseDecision(decision); err != nil {
			return usageErr(fmt.Errorf("--decision: %w", err))
		}
	}
	if limit < 1 || limit > maxAuditRecords {
		return usageErr(fmt.Errorf("--limit %d: want 1..%d", limit, maxAuditRecords))
	}
	switch format {
	case "table", "json", "csv":
	default:
		return usageErr(fmt.Errorf("--format %q: want table, json or csv", format))
	}
	loc, err := auditZone(tz)
	if err != nil {
		return usageErr(err)
	}
	// Check what can be checked before reaching the stack, so a typo costs no round trip.
	probe := f
	if probe.Pipeline == "" {
		probe.Pipeline = "-"
	}
	if err := probe.Validate(); err != nil {
		return usageErr(err)
	}

	t, err := tf.resolve(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate audit: %v\n", err)
		return exitError
	}
	if f.Pipeline == "" && f.Run == "" && f.Commit == "" && f.Approver == "" {
		f.Pipeline = t.Pipeline
	}
	if err := f.Validate(); err != nil {
		return usageErr(fmt.Errorf("%w (or pass --pipeline)", err))
	}
	store := audit.NewDynamo(awsclient.DynamoDB(t.AWS, t.Endpoints), t.Table)

	var recs []audit.Entry
	next := f.PageToken
	for {
		f.PageToken = next
		f.Limit = min(limit-len(recs), audit.MaxLimit)
		p, err := store.Query(ctx, f)
		if err != nil {
			fmt.Fprintf(c.stderr, "shipgate audit: %v\n", err)
			if domain.IsKind(err, domain.Invalid) {
				return exitUsage
			}
			return exitError
		}
		recs = append(recs, p.Records...)
		next = p.Next
		if next == "" || len(recs) >= limit {
			break
		}
	}
	for i := range recs {
		recs[i].Time = recs[i].Time.In(loc)
	}
	switch format {
	case "json":
		err = writeAuditJSON(c.stdout, recs, next)
	case "csv":
		err = writeAuditCSV(c.stdout, recs)
	default:
		err = writeAuditTable(c.stdout, recs)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate audit: %v\n", err)
		return exitError
	}
	suspects := 0
	for _, e := range recs {
		if e.Suspect != "" {
			suspects++
		}
	}
	if suspects > 0 {
		fmt.Fprintf(c.stderr, "warning: %d record(s) fail their integrity check (marked !); run `shipgate audit verify`\n", suspects)
	}
	if next != "" && format != "json" {
		fmt.Fprintf(c.stderr, "more records: repeat with --page %s\n", next)
	}
	return exitOK
}

func auditZone(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local", "local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("--tz %q: not a known time zone", tz)
	}
	return loc, nil
}

func writeAuditJSON(w io.Writer, recs []audit.Entry, next string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(audit.Page{Records: recs, Next: next})
}

var auditColumns = []string{"time", "pipeline", "seq", "run", "type", "actor", "stage", "outcome", "channel", "commit", "approval", "detail", "hash", "suspect"}

func writeAuditCSV(w io.Writer, recs []audit.Entry) error {
	cw := csv.NewWriter(w)
	cw.Write(auditColumns)
	for _, e := range recs {
		detail := ""
		if len(e.Detail) > 0 {
			b, _ := json.Marshal(e.Detail)
			detail = string(b)
		}
		cw.Write([]string{e.Time.Format(time.RFC3339Nano), e.Pipeline, strconv.FormatInt(e.Seq, 10), e.RunID,
			string(e.Type), e.Actor, e.Stage, e.Outcome, string(e.Channel), e.Commit, e.ApprovalID, detail, e.Hash, e.Suspect})
	}
	cw.Flush()
	return cw.Error()
}

func writeAuditTable(w io.Writer, recs []audit.Entry) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no records")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPIPELINE\tSEQ\tRUN\tTYPE\tACTOR\tSTAGE\tOUTCOME\tCHANNEL\tCOMMIT\tDETAIL")
	for _, e := range recs {
		seq := strconv.FormatInt(e.Seq, 10)
		if e.Suspect != "" {
			seq = "!" + seq
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Pipeline, seq,
			auditDash(e.RunID), e.Type, e.Actor, auditDash(e.Stage), auditDash(e.Outcome), auditDash(string(e.Channel)), auditDash(auditShort(e.Commit)), auditDetail(e.Detail))
	}
	return tw.Flush()
}

func auditDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func auditShort(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// auditDetail keeps the table one line per record: key=value pairs, cut at 60 runes.
func auditDetail(d map[string]any) string {
	if len(d) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := d[k]
		var s string
		switch v := v.(type) {
		case string, json.Number:
			s = fmt.Sprint(v)
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		parts = append(parts, k+"="+strings.Join(strings.Fields(s), " "))
	}
	out := []rune(strings.Join(parts, " "))
	if len(out) > 60 {
		return string(out[:59]) + "…"
	}
	return string(out)
}

func runAuditVerify(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("shipgate audit verify", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var (
		tf               targetFlags
		pipeline, expect string
		format           string
	)
	tf.register(fs, c)
	fs.StringVar(&pipeline, "pipeline", "", "verify this pipeline's chain (default: every pipeline in the table)")
	fs.StringVar(&expect, "expect-head", "", "SEQ:HASH a previous verify printed; exposes a chain cut at its end or rewritten wholesale (needs --pipeline)")
	fs.StringVar(&format, "format", "text", "output: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usageErr := func(err error) int {
		fmt.Fprintf(c.stderr, "shipgate audit verify: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if format != "text" && format != "json" {
		return usageErr(fmt.Errorf("--format %q: want text or json", format))
	}
	var anchors []audit.Anchor
	if expect != "" {
		if pipeline == "" {
			return usageErr(errors.New("--expect-head needs --pipeline"))
		}
		a, err := audit.ParseAnchor(expect)
		if err != nil {
			return usageErr(fmt.Errorf("--expect-head: %w", err))
		}
		anchors = append(anchors, a)
	}
	t, err := tf.resolve(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate audit verify: %v\n", err)
		return exitError
	}
	store := audit.NewDynamo(awsclient.DynamoDB(t.AWS, t.Endpoints), t.Table)
	pipelines := []string{pipeline}
	if pipeline == "" {
		if pipelines, err = store.Pipelines(ctx); err != nil {
			fmt.Fprintf(c.stderr, "shipgate audit verify: %v\n", err)
			return exitError
		}
		// The stack's own pipeline is verified even if its registry entry went missing.
		if t.Pipeline != "" && !slices.Contains(pipelines, t.Pipeline) {
			pipelines = append(pipelines, t.Pipeline)
		}
		if len(pipelines) == 0 {
			fmt.Fprintln(c.stderr, "shipgate audit verify: the table holds no audit records yet")
			return exitOK
		}
	}
	reports := []audit.Report{}
	code := exitOK
	for _, p := range pipelines {
		rep, err := store.Verify(ctx, p, anchors...)
		if err != nil {
			fmt.Fprintf(c.stderr, "shipgate audit verify: %v\n", err)
			return exitError
		}
		if !rep.OK() {
			code = exitFailure
		}
		reports = append(reports, rep)
	}
	if format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK        bool           `json:"ok"`
			Pipelines []audit.Report `json:"pipelines"`
		}{code == exitOK, reports})
		return code
	}
	for _, rep := range reports {
		status := "ok"
		if !rep.OK() {
			status = fmt.Sprintf("%d problem(s)", len(rep.Problems))
		}
		fmt.Fprintf(c.stdout, "pipeline %s: %d records, head %s: %s\n", rep.Pipeline, rep.Records, rep.Head, status)
		for _, p := range rep.Problems {
			fmt.Fprintf(c.stdout, "  %s\n", p)
		}
	}
	if code != exitOK {
		fmt.Fprintln(c.stderr, "shipgate audit verify: the audit trail was tampered with (see above)")
	}
	return code
}
