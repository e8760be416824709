package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// SFN is the part of the Step Functions client the trigger uses.
type SFN interface {
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// DynamoDB is the part of the DynamoDB client the trigger uses for push claims.
type DynamoDB interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Auditor appends to the audit trail (shared/audit's store satisfies it).
type Auditor interface {
	Append(ctx context.Context, r domain.Record) error
}

// Options are what New needs beyond app.Config and app.Deps. Nil clients fall back to
// deps'; Audit is required.
type Options struct {
	Audit Auditor
	SFN   SFN
	DB    DynamoDB

	// Provider is what CodeCommit-shaped events become on the run: ProviderCodeCommit on
	// AWS (the default), ProviderLocal in local mode.
	Provider domain.Provider
	// CloneURL maps a CodeCommit repository name to where the Build stage clones it from:
	// the region's HTTPS URL on AWS (the default), the repository directory locally.
	CloneURL func(repo, region string) string
	// CompareURL links to the changes of a CodeCommit-shaped push; nil means the AWS
	// console's compare page on AWS and no link for ProviderLocal.
	CompareURL func(repo, region, before, after string) string
	// Commits lists the commits of a CodeCommit-shaped push: ccapi.Commits on AWS,
	// GitCommits locally. Nil means a push carries only its head commit id.
	Commits CommitLister
}

// Service starts runs from pushes.
type Service struct {
	pipeline, table, stateMachine, repository string
	branches                                  []string
	sfn                                       SFN
	db                                        DynamoDB
	audit                                     Auditor
	now                                       func() time.Time
	provider                                  domain.Provider
	cloneURL                                  func(repo, region string) string
	compareURL                                func(repo, region, before, after string) string
	commits                                   CommitLister
}

// New builds a Service. It fails when something it cannot work without is missing, so a
// misconfigured Lambda fails at start rather than dropping pushes.
func New(cfg app.Config, deps *app.Deps, o Options) (*Service, error) {
	if deps == nil {
		deps = &app.Deps{}
	}
	s := &Service{
		pipeline: cfg.Pipeline, table: cfg.Table, stateMachine: cfg.StateMachineARN,
		repository: cfg.Repository, branches: cfg.Branches,
		sfn: o.SFN, db: o.DB, audit: o.Audit, now: deps.Clock(),
		provider: o.Provider, cloneURL: o.CloneURL, compareURL: o.CompareURL, commits: o.Commits,
	}
	if s.sfn == nil && deps.SFN != nil {
		s.sfn = deps.SFN
	}
	if s.db == nil && deps.DynamoDB != nil {
		s.db = deps.DynamoDB
	}
	if s.provider == "" {
		s.provider = domain.ProviderCodeCommit
	}
	if s.cloneURL == nil {
		s.cloneURL = CodeCommitCloneURL
	}
	if s.compareURL == nil && s.provider == domain.ProviderCodeCommit {
		s.compareURL = CodeCommitCompareURL
	}
	for _, g := range cfg.Branches {
		if strings.TrimSpace(g) == "" {
			return nil, errors.New("trigger: empty branch glob in configuration")
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		what string
	}{
		{s.pipeline != "", "pipeline name (" + workflow.EnvPipeline + ")"},
		{s.table != "", "table name (" + workflow.EnvTable + ")"},
		{s.stateMachine != "", "state machine ARN (" + workflow.EnvStateMachineARN + ")"},
		{s.sfn != nil, "Step Functions client"},
		{s.db != nil, "DynamoDB client"},
		{s.audit != nil, "audit store"},
	} {
		if !m.ok {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("trigger: missing %s", strings.Join(missing, ", "))
	}
	return s, nil
}

// Event is a parsed delivery: a push to start, or a reason it starts nothing.
type Event struct {
	Push domain.Push
	// Ignored, when set, says why this delivery starts no run (a tag, a deleted branch,
	// another kind of event). It is recorded as push.skipped.
	Ignored string
}

// Outcome is what became of one delivery.
type Outcome string

const (
	Started   Outcome = "started"   // this delivery's run is running (first delivery)
	Duplicate Outcome = "duplicate" // the push already has its run; nothing new started
	Skipped   Outcome = "skipped"   // not a push to start, or filtered out; recorded
)

// Result tells the caller (webhook response, Lambda result) what happened.
type Result struct {
	Outcome      Outcome `json:"outcome"`
	RunID        string  `json:"runId,omitempty"`
	ExecutionARN string  `json:"executionArn,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

// Handle starts the run of ev's push, or records why not.
func (s *Service) Handle(ctx context.Context, ev Event) (Result, error) {
	if ev.Ignored != "" {
		return s.skip(ctx, ev.Push, ev.Ignored)
	}
	return s.Start(ctx, ev.Push)
}

// Start starts the run of p unless the configuration filters it out (recorded as skipped)
// or it already has one (recorded as duplicate). Concurrent and repeated calls for one
// push start one execution and write one run.started record.
func (s *Service) Start(ctx context.Context, p domain.Push) (Result, error) {
	if err := validatePush(p); err != nil {
		return Result{}, err
	}
	if s.repository != "" && p.Repository != s.repository {
		return s.skip(ctx, p, fmt.Sprintf("repository %q is not this pipeline's (%q)", p.Repository, s.repository))
	}
	if !MatchBranch(s.branches, p.Branch) {
		return s.skip(ctx, p, fmt.Sprintf("branch %q matches none of the configured branches %v", p.Branch, s.branches))
	}
	if p.ReceivedAt.IsZero() {
		p.ReceivedAt = s.now()
	}
	p.ReceivedAt = p.ReceivedAt.UTC()
	name := ExecutionName(p.Repository, p.Ref, p.Commit)
	input, run, err := encodeInput(domain.Run{ID: name, Pipeline: s.pipeline, Push: p})
	if err != nil {
		return Result{}, err
	}
	p = run.Push // as carried by the input: records describe what the run starts with
	claimed, err := s.claim(ctx, name, input, p)
	if err != nil {
		return Result{}, err
	}
	if age := s.now().Sub(claimed.push.ReceivedAt); !claimed.first && age > MaxRedeliveryAge {
		// Step Functions forgets execution names after 90 days and would start the push
		// again; no honest redelivery comes this late (GitHub: 3 days, EventBridge: 1).
		return s.duplicate(ctx, claimed.push, name, "", fmt.Sprintf("redelivery %d days after the push was received", int(age.Hours()/24)))
	}
	// The run.started record goes in before the execution starts, so the trail reads
	// "started" ahead of the Build stage's records. Only the delivery that announces
	// writes it; every delivery then starts (or finds) the same execution, which also
	// completes a first delivery that crashed between its record and StartExecution.
	first, err := s.announce(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if first {
		if err := s.audit.Append(ctx, startedRecord(s.pipeline, name, s.executionARN(name), claimed.push)); err != nil {
			// Give the announcement back so the next delivery writes the record.
			s.unannounce(ctx, name)
			return Result{}, fmt.Errorf("record run.started for %s: %w", name, err)
		}
	}
	out, err := s.sfn.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.stateMachine), Name: aws.String(name), Input: aws.String(claimed.input),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return s.duplicate(ctx, claimed.push, name, "", "redelivery after the run ended")
	}
	if err != nil {
		return Result{}, classifyAWS(fmt.Sprintf("start execution %s", name), err)
	}
	arn := aws.ToString(out.ExecutionArn)
	if !first {
		return s.duplicate(ctx, claimed.push, name, arn, "redelivery while the run is open")
	}
	return Result{Outcome: Started, RunID: name, ExecutionARN: arn}, nil
}

func validatePush(p domain.Push) error {
	var bad []string
	if p.Repository == "" {
		bad = append(bad, "repository missing")
	}
	if !strings.HasPrefix(p.Ref, "refs/heads/") || p.Branch == "" {
		bad = append(bad, fmt.Sprintf("ref %q is not a branch", p.Ref))
	}
	if !isCommitID(p.Commit) {
		bad = append(bad, fmt.Sprintf("commit %q is not a 40- or 64-hex object id", p.Commit))
	}
	if len(bad) > 0 {
		return domain.Errorf(domain.Invalid, "push: %s", strings.Join(bad, "; "))
	}
	return nil
}

func isCommitID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return !isZero(s)
}

func isZero(s string) bool { return s != "" && strings.Trim(s, "0") == "" }

// MaxRedeliveryAge is how old a claimed push may be for a redelivery to still reach
// StartExecution; older ones are recorded as duplicates and start nothing.
const MaxRedeliveryAge = 30 * 24 * time.Hour

// Execution input budget. Step Functions refuses inputs over 256 KiB and DynamoDB items
// over 400 KB; commit messages and file lists are the user-controlled, unbounded parts,
// so they are cut first, then whole commits (oldest first).
const (
	maxInputBytes   = 200 << 10
	maxMessageBytes = 4 << 10
	maxFilesPerList = 100
)

type executionInput struct {
	Run domain.Run `json:"run"`
}

// encodeInput returns the execution input for run and the run as the input carries it.
func encodeInput(run domain.Run) (string, domain.Run, error) {
	p := &run.Push
	p.Message = truncateUTF8(p.Message, maxMessageBytes)
	if len(p.Commits) > domain.MaxPushCommits {
		p.Commits = p.Commits[len(p.Commits)-domain.MaxPushCommits:]
		p.CommitsTruncated = true
	}
	cs := make([]domain.Commit, len(p.Commits))
	for i, c := range p.Commits {
		c.Message = truncateUTF8(c.Message, maxMessageBytes)
		c.Added, c.Modified, c.Removed = capList(c.Added), capList(c.Modified), capList(c.Removed)
		cs[i] = c
	}
	p.Commits = cs
	for {
		b, err := json.Marshal(executionInput{Run: run})
		if err != nil {
			return "", run, fmt.Errorf("encode execution input: %w", err)
		}
		if len(b) <= maxInputBytes {
			return string(b), run, nil
		}
		if len(p.Commits) == 0 {
			return "", run, domain.Errorf(domain.Invalid, "push metadata alone is %d bytes, over the %d-byte execution input budget", len(b), maxInputBytes)
		}
		p.Commits = p.Commits[(len(p.Commits)+1)/2:]
		p.CommitsTruncated = true
	}
}

func capList(l []string) []string {
	if len(l) > maxFilesPerList {
		return l[:maxFilesPerList]
	}
	return l
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Drop the bytes of a rune cut in half, so the cut does not add a U+FFFD.
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// executionARN is the ARN StartExecution gives the execution called name: the state
// machine's ARN with ":stateMachine:" turned into ":execution:" and the name appended.
func (s *Service) executionARN(name string) string {
	return strings.Replace(s.stateMachine, ":stateMachine:", ":execution:", 1) + ":" + name
}
