package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/table"
)

// auditStack starts dynalite, creates the table, writes endpoints.json the way `shipgate
// local` does, and returns the data dir and a DynamoDB client for seeding and tampering.
func auditStack(t *testing.T) (string, *dynamodb.Client, string) {
	t.Helper()
	ctx := context.Background()
	srv, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	ep := awsclient.Endpoints{DynamoDB: srv.URL}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	db := awsclient.DynamoDB(cfg, ep)
	const tbl = "shipgate"
	if err := table.Ensure(ctx, db, tbl); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, _ := json.Marshal(Endpoints{DynamoDB: srv.URL, Table: tbl, Pipeline: "web", User: "alice@example.com"})
	if err := os.WriteFile(filepath.Join(dir, "endpoints.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, db, tbl
}

func auditCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(context.Background(), c, args)
	return code, out.String(), errb.String()
}

func TestAuditCommand(t *testing.T) {
	dir, db, tbl := auditStack(t)
	store := audit.NewDynamo(db, tbl)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	sha := "0123456789abcdef0123456789abcdef01234567"
	recs := []domain.Record{
		{Type: domain.RecRunStarted, RunID: "r1", Commit: sha, Actor: "alice@example.com", Detail: map[string]any{"branch": "main"}},
		{Type: domain.RecStageFinished, RunID: "r1", Commit: sha, Actor: "system", Stage: "build", Outcome: "succeeded", Detail: map[string]any{"durationMs": 1200}},
		{Type: domain.RecApprovalRequested, RunID: "r1", Commit: sha, Actor: "system"},
		{Type: domain.RecApprovalDecision, RunID: "r1", Commit: sha, Actor: "bob@example.com", Outcome: "approved", Channel: domain.ChannelCLI, Detail: map[string]any{"comment": "ship it, \"now\""}},
		{Type: domain.RecApprovalFinal, RunID: "r1", Commit: sha, Actor: "bob@example.com", Outcome: "approved", Channel: domain.ChannelCLI},
		{Type: domain.RecRunFinished, RunID: "r1", Commit: sha, Actor: "system", Outcome: "succeeded"},
	}
	for i, r := range recs {
		r.Pipeline, r.Time = "web", t0.Add(time.Duration(i)*time.Minute)
		if err := store.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}

	queries := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   []string // substrings of stdout
		wantErr   string   // substring of stderr
		wantLines int      // stdout lines, when > 0
	}{
		{"table of the stack's pipeline by default", []string{"audit"}, exitOK,
			[]string{"TIME", "2026-11-26T09:05:00Z", "run.finished", "bob@example.com", "durationMs=1200"}, "", 7},
		{"runs newest first", []string{"audit", "--runs"}, exitOK, []string{"run.started", "branch=main"}, "", 2},
		{"approver as csv", []string{"audit", "--approver", "BOB@example.com", "--format", "csv"}, exitOK,
			[]string{"time,pipeline,seq", "approval.final", `"{""comment"":""ship it, \""now\""""}"`}, "", 3},
		{"commit by short SHA", []string{"audit", "--commit", sha[:8], "--format", "csv"}, exitOK, []string{"run.started"}, "", 2},
		{"time range", []string{"audit", "--since", "2026-11-26T09:01:00Z", "--until", "2026-11-26T10:03:00+01:00", "--format", "csv"}, exitOK,
			[]string{"stage.finished", "approval.requested"}, "", 3},
		{"decision", []string{"audit", "--pipeline", "web", "--decision", "approved", "--format", "csv"}, exitOK, []string{"approval.decision", "approval.final"}, "", 3},
		{"another time zone", []string{"audit", "--run", "r1", "--tz", "Europe/Berlin", "--limit", "1"}, exitOK,
			[]string{"2026-11-26T10:00:00+01:00"}, "more records: repeat with --page", 2},
		{"nothing found", []string{"audit", "--pipeline", "nope"}, exitOK, []string{"no records"}, "", 1},
		{"unknown decision", []string{"audit", "--decision", "maybe"}, exitUsage, nil, `unknown decision "maybe"`, 0},
		{"unparsable since", []string{"audit", "--since", "last tuesday"}, exitUsage, nil, `--since: time "last tuesday": want RFC 3339`, 0},
		{"unparsable until", []string{"audit", "--until", "2026-11-26 09:00"}, exitUsage, nil, "--until", 0},
		{"bad format", []string{"audit", "--format", "xml"}, exitUsage, nil, `--format "xml"`, 0},
		{"bad limit", []string{"audit", "--limit", "0"}, exitUsage, nil, "--limit 0", 0},
		{"short commit", []string{"audit", "--commit", "abc"}, exitUsage, nil, "at least 7", 0},
		{"unknown time zone", []string{"audit", "--tz", "Mars/Olympus"}, exitUsage, nil, "not a known time zone", 0},
		{"stray argument", []string{"audit", "web"}, exitUsage, nil, "unexpected argument", 0},
		{"bad page token", []string{"audit", "--page", "nope"}, exitUsage, nil, "page token", 0},
		{"no local stack", []string{"audit", "--data", filepath.Join(dir, "missing")}, exitError, nil, "no local stack", 0},
	}
	for _, tc := range queries {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--data") {
				args = append(args, "--data", dir)
			}
			code, out, errs := auditCLI(args...)
			if code != tc.wantCode {
				t.Fatalf("got exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errs)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errs, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errs)
			}
			if tc.wantLines > 0 {
				if got := strings.Count(out, "\n"); got != tc.wantLines {
					t.Errorf("got %d lines, want %d:\n%s", got, tc.wantLines, out)
				}
			}
		})
	}

	t.Run("json pages follow with --page", func(t *testing.T) {
		var seqs []int64
		args := []string{"audit", "--data", dir, "--run", "r1", "--limit", "4", "--format", "json"}
		for i := 0; i < 3; i++ {
			code, out, errs := auditCLI(args...)
			if code != exitOK {
				t.Fatalf("got exit %d: %s", code, errs)
			}
			var p audit.Page
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("output is not a page: %v\n%s", err, out)
			}
			for _, e := range p.Records {
				seqs = append(seqs, e.Seq)
			}
			if p.Next == "" {
				break
			}
			args = append(args, "--page", p.Next)
		}
		if got, want := len(seqs), 6; got != want || seqs[0] != 1 || seqs[5] != 6 {
			t.Errorf("got seqs %v, want 1..6 over two pages", seqs)
		}
	})

	t.Run("csv parses back", func(t *testing.T) {
		_, out, _ := auditCLI("audit", "--data", dir, "--format", "csv", "--order", "oldest")
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 7 || rows[1][4] != string(domain.RecRunStarted) || len(rows[1][12]) != 64 {
			t.Errorf("got rows %v, want header + 6, oldest first, with hashes", rows)
		}
	})

	// verify: clean, then tampered through the SDK.
	head := ""
	t.Run("verify a clean trail", func(t *testing.T) {
		code, out, errs := auditCLI("audit", "verify", "--data", dir, "--format", "json")
		if code != exitOK {
			t.Fatalf("got exit %d, want 0\n%s%s", code, out, errs)
		}
		var res struct {
			OK        bool
			Pipelines []audit.Report
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK || len(res.Pipelines) != 1 || res.Pipelines[0].Records != 6 {
			t.Fatalf("got %+v, %v; want one clean pipeline of 6 records", res, err)
		}
		head = res.Pipelines[0].Head.String()
	})
	t.Run("verify refuses a bad anchor", func(t *testing.T) {
		code, _, errs := auditCLI("audit", "verify", "--data", dir, "--pipeline", "web", "--expect-head", "six")
		if code != exitUsage || !strings.Contains(errs, "--expect-head") {
			t.Errorf("got exit %d, %s; want 2 naming --expect-head", code, errs)
		}
	})
	ctx := context.Background()
	key := func(seq string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "PIPE#web"}, "SK": &types.AttributeValueMemberS{Value: "SEQ#" + seq}}
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tbl), Key: key("000000000004"),
		UpdateExpression:          aws.String("SET outcome = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: "rejected"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tbl), Key: key("000000000006")}); err != nil {
		t.Fatal(err)
	}
	tampered := []struct {
		name    string
		args    []string
		wantOut []string
	}{
		{"verify finds the edit", []string{"audit", "verify", "--data", dir}, []string{"edited: PIPE#web / SEQ#000000000004"}},
		{"a query flags the edited record", []string{"audit", "--data", dir}, []string{"!4", "approval.decision"}},
		{"the anchor finds the cut end", []string{"audit", "verify", "--data", dir, "--pipeline", "web", "--expect-head", head}, []string{"edited", "deleted", "beyond the head"}},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := auditCLI(tc.args...)
			if tc.args[1] != "verify" {
				// Queries still succeed; they warn.
				if code != exitOK || !strings.Contains(errs, "1 record(s) fail their integrity check") {
					t.Fatalf("got exit %d, stderr %q; want 0 and a warning", code, errs)
				}
			} else if code != exitFailure {
				t.Fatalf("got exit %d, want 1\n%s%s", code, out, errs)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
