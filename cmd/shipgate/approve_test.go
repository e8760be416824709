package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/spec"
)

// gateStack is a local stack as `shipgate local` would describe it in endpoints.json:
// a real DynamoDB-protocol server, S3, and a Step Functions stand-in that records resumes.
func gateStack(t *testing.T) *approvaltest.Env {
	t.Helper()
	srv, err := dynalite.Start(context.Background(), dynalite.Options{})
	if err != nil {
		t.Fatalf("dynalite: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return approvaltest.NewEnv(t, srv.URL, approvaltest.Options{})
}

func writeEndpoints(t *testing.T, e *approvaltest.Env, user string) string {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(Endpoints{Console: "http://127.0.0.1:1", StepFunctions: e.SFN.URL, DynamoDB: e.Cfg.Endpoints.DynamoDB,
		S3: e.Cfg.Endpoints.S3, Table: e.Cfg.Table, Bucket: e.Cfg.Bucket, Pipeline: e.Cfg.Pipeline, User: user})
	if err := os.WriteFile(filepath.Join(dir, "endpoints.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestApproveAndRejectCommands(t *testing.T) {
	e := gateStack(t)
	pusher := domain.Identity{Name: "Eve", Email: "eve@example.com"}
	approvers := []string{"ana@example.com", "bo@example.com", "eve@example.com"}
	tests := []struct {
		name       string
		user       string
		required   int
		args       []string // RUN is substituted for "RUN"
		wantCode   int
		wantOut    string // in stdout (or stderr when the code is not 0)
		wantOp     string // the SendTask call expected, "" for none
		wantResume bool
	}{
		{"approve", "bo@example.com", 1, []string{"approve", "RUN"}, exitOK, "approved (bo@example.com); the run has been resumed", "SendTaskSuccess", true},
		{"approve with comment after the run", "Ana@Example.com", 1, []string{"approve", "RUN", "--comment", "ok by me"}, exitOK, "approved", "SendTaskSuccess", true},
		{"first of a quorum of two", "bo@example.com", 2, []string{"approve", "RUN"}, exitOK, "1 of 2 needed", "", false},
		{"reject with comment", "ana@example.com", 1, []string{"reject", "--comment", "wrong build", "RUN"}, exitOK, "rejected (ana@example.com)", "SendTaskFailure", true},
		{"reject needs a comment", "ana@example.com", 1, []string{"reject", "RUN"}, exitUsage, "--comment is required", "", false},
		{"not an approver", "mallory@example.com", 1, []string{"approve", "RUN"}, exitFailure, "not an approver", "", false},
		{"pusher cannot approve own push", "eve@example.com", 1, []string{"approve", "RUN"}, exitFailure, "cannot approve", "", false},
		{"unknown run", "bo@example.com", 1, []string{"approve", "no-such-run"}, exitUsage, "has no approval", "", false},
		{"two runs", "bo@example.com", 1, []string{"approve", "RUN", "other"}, exitUsage, "one run at a time", "", false},
		{"no run", "bo@example.com", 1, []string{"approve"}, exitUsage, "which run", "", false},
		{"bad format", "bo@example.com", 1, []string{"approve", "RUN", "--format", "xml"}, exitUsage, "unknown --format", "", false},
		{"no configured user", "", 1, []string{"approve", "RUN"}, exitError, "no configured user", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := "cli-" + strings.ReplaceAll(tc.name, " ", "-")
			_, tok := e.Request(approvaltest.Push{RunID: run, Pusher: pusher}, spec.Approval{Approvers: approvers, Required: tc.required, Supersede: new(bool)})
			dir := writeEndpoints(t, e, tc.user)
			args := append([]string(nil), tc.args...)
			for j := range args {
				if args[j] == "RUN" {
					args[j] = run
				}
			}
			args = append(args, "--data", dir)
			var stdout, stderr bytes.Buffer
			code := run_(t, &stdout, &stderr, args)
			e.Watch(func() string { return stdout.String() + stderr.String() })
			if code != tc.wantCode {
				t.Fatalf("exit code: got %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if code != exitOK {
				out = stderr.String()
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output: got %q, want it to contain %q", out, tc.wantOut)
			}
			var ops []string
			for _, c := range e.SFN.Accepted() {
				if c.TaskToken == tok {
					ops = append(ops, c.Op)
				}
			}
			if tc.wantOp == "" && len(ops) != 0 || tc.wantOp != "" && (len(ops) != 1 || ops[0] != tc.wantOp) {
				t.Errorf("resumes of this run: got %v, want [%s]", ops, tc.wantOp)
			}
		})
	}
	// The CLI writes to the real audit trail on the table.
	trail := audit.NewDynamo(e.DB, e.Cfg.Table)
	page, err := trail.Query(context.Background(), audit.Filter{Pipeline: "demo", Type: domain.RecApprovalDecision, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var cli int
	for _, r := range page.Records {
		if r.Channel == domain.ChannelCLI {
			cli++
		}
	}
	if cli != 4 {
		t.Errorf("CLI decisions in the audit trail: got %d, want 4", cli)
	}
}

func run_(t *testing.T, stdout, stderr *bytes.Buffer, args []string) int {
	t.Helper()
	c := &cli{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: func(string) string { return "" }}
	return run(context.Background(), c, args)
}

func TestApproveJSONOutput(t *testing.T) {
	e := gateStack(t)
	e.Request(approvaltest.Push{RunID: "json-1", Pusher: domain.Identity{Email: "eve@example.com"}}, spec.Approval{Approvers: []string{"bo@example.com"}})
	dir := writeEndpoints(t, e, "bo@example.com")
	var stdout, stderr bytes.Buffer
	if code := run_(t, &stdout, &stderr, []string{"approve", "json-1", "--format", "json", "--data", dir}); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	e.Watch(stdout.String)
	var out decideOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if out.Run != "json-1" || out.As != "bo@example.com" || out.Final == nil || out.Final.Outcome != domain.Approved || !out.Resumed || out.Vote.Channel != domain.ChannelCLI {
		t.Errorf("got %+v", out)
	}
}

func TestApproveWithoutAStack(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run_(t, &stdout, &stderr, []string{"approve", "r1", "--data", t.TempDir()})
	if code != exitError || !strings.Contains(stderr.String(), "no local stack") {
		t.Errorf("got %d %q, want exit 3 naming the missing stack", code, stderr.String())
	}
}

type fakeSTS struct {
	out *sts.GetCallerIdentityOutput
	err error
}

func (f fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f.out, f.err
}

func TestCallerOf(t *testing.T) {
	arn := "arn:aws:sts::123456789012:assumed-role/Deployers/ana@example.com"
	tests := []struct {
		name    string
		t       *target
		api     fakeSTS
		want    domain.Identity
		wantErr string
	}{
		{"local user", &target{Local: true, User: "bo@example.com"}, fakeSTS{}, domain.Identity{Email: "bo@example.com"}, ""},
		{"local without user", &target{Local: true}, fakeSTS{}, domain.Identity{}, "no configured user"},
		{"AWS caller", &target{}, fakeSTS{out: &sts.GetCallerIdentityOutput{Arn: aws.String(arn)}}, domain.Identity{Login: arn}, ""},
		{"AWS error", &target{}, fakeSTS{err: errors.New("ExpiredToken")}, domain.Identity{}, "ExpiredToken"},
		{"AWS without ARN", &target{}, fakeSTS{out: &sts.GetCallerIdentityOutput{}}, domain.Identity{}, "no caller ARN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := callerOf(context.Background(), tc.t, tc.api)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
}
