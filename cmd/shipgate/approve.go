package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
)

func runApprove(ctx context.Context, c *cli, args []string) int {
	return runDecide(ctx, c, "approve", domain.Approved, args)
}

func runReject(ctx context.Context, c *cli, args []string) int {
	return runDecide(ctx, c, "reject", domain.Rejected, args)
}

// stsAPI is what the CLI needs to learn who the AWS caller is.
type stsAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// decideOutput is the --format json answer.
type decideOutput struct {
	Run        string           `json:"run"`
	ApprovalID string           `json:"approvalId"`
	As         string           `json:"as"`
	Vote       approval.Vote    `json:"vote"`
	Approvals  int              `json:"approvals"`
	Required   int              `json:"required"`
	Final      *domain.Decision `json:"final,omitempty"`
	Resumed    bool             `json:"resumed"`
	Error      string           `json:"error,omitempty"`
}

// runDecide is approve and reject: the caller decides on a run waiting at the gate,
// through the same gate (authorization, self-approval, quorum, first outcome wins) as
// the email page and the console.
func runDecide(ctx context.Context, c *cli, name string, outcome domain.Outcome, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var tf targetFlags
	tf.register(fs, c)
	comment := fs.String("comment", "", "why (required to reject); recorded in the audit trail")
	format := fs.String("format", "text", "output format: text or json")
	fs.Usage = func() {
		req := "[--comment TEXT]"
		if outcome == domain.Rejected {
			req = "--comment TEXT"
		}
		fmt.Fprintf(c.stderr, "Usage: shipgate %s RUN %s [--format text|json] [--data DIR | --stack NAME]\n", name, req)
		fmt.Fprintln(c.stderr, "Decides as the caller: the configured local user, or the AWS caller identity (an approver's email as the IAM user or role session name).")
		fs.PrintDefaults()
	}
	run, err := parseWithPositional(fs, args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(c.stderr, "shipgate %s: %v\n", name, err)
		}
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "shipgate %s: unknown --format %q (want text or json)\n", name, *format)
		return exitUsage
	}
	if outcome == domain.Rejected && strings.TrimSpace(*comment) == "" {
		fmt.Fprintf(c.stderr, "shipgate %s: --comment is required: say why the run is rejected\n", name)
		return exitUsage
	}
	if len(*comment) > approval.MaxCommentLen {
		fmt.Fprintf(c.stderr, "shipgate %s: --comment is %d characters, at most %d\n", name, len(*comment), approval.MaxCommentLen)
		return exitUsage
	}
	t, err := tf.resolve(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate %s: %v\n", name, err)
		return exitError
	}
	who, err := callerOf(ctx, t, sts.NewFromConfig(t.AWS))
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate %s: %v\n", name, err)
		return exitError
	}
	svc, err := gateFor(t)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate %s: %v\n", name, err)
		return exitError
	}
	a, err := svc.ByRun(ctx, run)
	if err != nil {
		return decideFailed(c, name, err)
	}
	res, err := svc.Decide(ctx, approval.DecideRequest{ApprovalID: a.ID, Actor: who, Channel: domain.ChannelCLI, Outcome: outcome, Comment: *comment})
	out := decideOutput{Run: run, ApprovalID: a.ID, As: actorLabel(who), Required: a.Required}
	if res != nil {
		out.Vote, out.Final, out.Resumed = res.Vote, res.Final, res.Resumed
		if res.Approval != nil {
			out.Approvals = res.Approval.Approvals()
		}
	}
	if err != nil {
		out.Error = err.Error()
		if *format == "json" {
			writeJSONOut(c, out)
		}
		return decideFailed(c, name, err)
	}
	if *format == "json" {
		writeJSONOut(c, out)
		return exitOK
	}
	switch {
	case out.Final != nil && out.Resumed:
		fmt.Fprintf(c.stdout, "run %s %s (%s); the run has been resumed\n", run, out.Final.Outcome, strings.Join(out.Final.Approvers, ", "))
	case out.Final != nil:
		fmt.Fprintf(c.stdout, "run %s %s (%s); resuming the run\n", run, out.Final.Outcome, strings.Join(out.Final.Approvers, ", "))
	default:
		fmt.Fprintf(c.stdout, "run %s: your approval is recorded as %s (%d of %d needed); waiting for more approvers\n", run, out.As, out.Approvals, out.Required)
	}
	return exitOK
}

// parseWithPositional accepts the one positional RUN before, between or after flags
// (`approve RUN --comment x` reads naturally; the flag package alone stops at RUN).
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		return "", errors.New("which run? give its id (see `shipgate runs`)")
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("one run at a time, got %d: %s", len(pos), strings.Join(pos, " "))
}

// callerOf is who the CLI decides as: the local stack's configured user, or the AWS
// caller identity. Its ARN is the login; the gate matches an approver's email against the
// IAM user name or role session name (the last part of the ARN).
func callerOf(ctx context.Context, t *target, api stsAPI) (domain.Identity, error) {
	if t.Local {
		if t.User == "" {
			return domain.Identity{}, errors.New("the local stack has no configured user (endpoints.json \"user\"); restart `shipgate local` with one")
		}
		return domain.Identity{Email: t.User}, nil
	}
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return domain.Identity{}, fmt.Errorf("who is calling? STS GetCallerIdentity: %w", err)
	}
	arn := aws.ToString(out.Arn)
	if arn == "" {
		return domain.Identity{}, errors.New("STS returned no caller ARN")
	}
	return domain.Identity{Login: arn}, nil
}

func gateFor(t *target) (*approval.Service, error) {
	if t.Pipeline == "" {
		return nil, errors.New("the stack does not name its pipeline (endpoints.json \"pipeline\" or stack output PipelineName)")
	}
	cfg := app.Config{Table: t.Table, Bucket: t.Bucket, Pipeline: t.Pipeline, BaseURL: t.Console, Endpoints: t.Endpoints}
	deps := &app.Deps{AWS: t.AWS, DynamoDB: awsclient.DynamoDB(t.AWS, t.Endpoints), SFN: awsclient.SFN(t.AWS, t.Endpoints), S3: awsclient.S3(t.AWS, t.Endpoints)}
	return approval.New(cfg, deps)
}

func decideFailed(c *cli, name string, err error) int {
	fmt.Fprintf(c.stderr, "shipgate %s: %v\n", name, err)
	switch domain.KindOf(err) {
	case domain.NotFound, domain.Invalid:
		return exitUsage
	case domain.Forbidden, domain.Conflict:
		return exitFailure
	}
	return exitError
}

func actorLabel(id domain.Identity) string {
	if id.Email != "" {
		return id.Email
	}
	return id.Login
}

func writeJSONOut(c *cli, v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
