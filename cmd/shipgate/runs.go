package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
)

// runRow is one line of `shipgate runs`.
type runRow struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"` // SUCCEEDED, FAILED, RUNNING, WAITING_APPROVAL, ...
	Stage   string    `json:"stage,omitempty"`
	Branch  string    `json:"branch,omitempty"`
	Commit  string    `json:"commit,omitempty"`
	Pusher  string    `json:"pusher,omitempty"`
	Started time.Time `json:"started"`
	Stopped time.Time `json:"stopped,omitzero"`
}

// sfnRunsAPI is what `runs` needs from Step Functions.
type sfnRunsAPI interface {
	ListExecutions(context.Context, *sfn.ListExecutionsInput, ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(context.Context, *sfn.GetExecutionHistoryInput, ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

func runRuns(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var tf targetFlags
	tf.register(fs, c)
	format := fs.String("format", "table", "output format: table or json")
	limit := fs.Int("limit", 20, "show at most this many runs, newest first")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: shipgate runs [--limit N] [--format table|json] [--data DIR | --stack NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(c.stderr, "shipgate runs: unknown --format %q (want table or json)\n", *format)
		return exitUsage
	}
	if *limit < 1 {
		fmt.Fprintln(c.stderr, "shipgate runs: --limit must be at least 1")
		return exitUsage
	}
	t, err := tf.resolve(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate runs: %v\n", err)
		return exitError
	}
	rows, err := listRuns(ctx, awsclient.SFN(t.AWS, t.Endpoints), t.StateMachine, *limit)
	if err != nil {
		fmt.Fprintf(c.stderr, "shipgate runs: %v\n", err)
		return exitError
	}
	if *format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []runRow{}
		}
		enc.Encode(rows)
		return exitOK
	}
	printRuns(c.stdout, rows)
	return exitOK
}

func listRuns(ctx context.Context, api sfnRunsAPI, stateMachine string, limit int) ([]runRow, error) {
	var rows []runRow
	p := sfn.NewListExecutionsPaginator(api, &sfn.ListExecutionsInput{StateMachineArn: aws.String(stateMachine)})
	for p.HasMorePages() && len(rows) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		for _, e := range page.Executions {
			if len(rows) == limit {
				break
			}
			row := runRow{ID: aws.ToString(e.Name), Status: string(e.Status), Started: aws.ToTime(e.StartDate).UTC()}
			if e.StopDate != nil {
				row.Stopped = e.StopDate.UTC()
			}
			if d, err := api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn}); err == nil {
				var st domain.State
				if json.Unmarshal([]byte(aws.ToString(d.Input)), &st) == nil {
					row.Branch, row.Commit = st.Run.Push.Branch, st.Run.Push.Commit
					row.Pusher = st.Run.Push.Pusher.Email
					if row.Pusher == "" {
						row.Pusher = st.Run.Push.Pusher.Login
					}
				}
			}
			if e.Status == types.ExecutionStatusRunning {
				row.Stage = currentState(ctx, api, e.ExecutionArn)
				if row.Stage == "RequestApproval" {
					row.Status = "WAITING_APPROVAL"
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// currentState is the last state the execution entered (newest history event first).
func currentState(ctx context.Context, api sfnRunsAPI, arn *string) string {
	h, err := api.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: arn, ReverseOrder: true, MaxResults: 50})
	if err != nil {
		return ""
	}
	for _, ev := range h.Events {
		if ev.StateEnteredEventDetails != nil {
			return aws.ToString(ev.StateEnteredEventDetails.Name)
		}
	}
	return ""
}

func printRuns(w io.Writer, rows []runRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no runs yet: push a commit to the watched repository")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tSTAGE\tBRANCH\tCOMMIT\tPUSHER\tSTARTED")
	for _, r := range rows {
		commit := r.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Stage, r.Branch, commit, r.Pusher, r.Started.Format(time.RFC3339))
	}
	tw.Flush()
}
