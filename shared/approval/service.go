// Package approval is shipgate's manual gate: it stores a run's pending approval (with
// the Step Functions task token, which never leaves the table), tells each approver with a
// private signed link, and turns decisions from any channel (email page, console, CLI)
// into one recorded outcome: approvers are authorized against the spec, the pusher cannot
// approve their own push unless the spec allows it, a quorum of distinct approvals is
// needed, one rejection rejects, and the first final outcome wins. The outcome is written
// to DynamoDB before the run is resumed, so Deploy can refuse to act without it.
package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/notify/snsnotify"
	"github.com/shipgate/shipgate/shared/spec"
)

// Appender is where approval audit records go (shared/audit implements it).
type Appender interface {
	Append(ctx context.Context, r domain.Record) error
}

// SFNAPI is the part of the Step Functions client used to resume a waiting run.
type SFNAPI interface {
	SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(context.Context, *sfn.SendTaskFailureInput, ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// S3API is the part of the S3 client used to read the run's spec.
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Summary is what an approver is shown: exactly what would go live and where it came from.
type Summary struct {
	Repository       string          `json:"repository"`
	Branch           string          `json:"branch"`
	Commit           string          `json:"commit"`
	Message          string          `json:"message,omitempty"`
	Pusher           domain.Identity `json:"pusher"`
	Tests            *TestCounts     `json:"tests,omitempty"`
	Artifacts        []ArtifactLine  `json:"artifacts,omitempty"`
	Commits          []CommitLine    `json:"commits,omitempty"`
	CommitsTruncated bool            `json:"commitsTruncated,omitempty"`
	CompareURL       string          `json:"compareUrl,omitempty"`
	// LastDeployed is the pipeline's last successful deploy, when the audit trail has one;
	// SinceURL compares it with this commit (GitHub only: other hosts have no such page).
	LastDeployed *DeployedRef `json:"lastDeployed,omitempty"`
	SinceURL     string       `json:"sinceUrl,omitempty"`
	// Undeployed are the other pushes of the pipeline since the last deploy, newest first
	// (each push's head commit, from the audit trail): what going live with this commit
	// also ships, when those runs were never deployed.
	Undeployed []CommitLine `json:"undeployed,omitempty"`
}

// DeployedRef is a deploy that went live.
type DeployedRef struct {
	Commit string    `json:"commit"`
	RunID  string    `json:"runId"`
	At     time.Time `json:"at"`
}

// History is the audit trail's query side (shared/audit's Dynamo implements it); the
// gate reads the last successful deploy from it for the approval summary.
type History interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// TestCounts are the Test stage's totals.
type TestCounts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// ArtifactLine is one staged artifact as shown to approvers.
type ArtifactLine struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// CommitLine is one commit of the push.
type CommitLine struct {
	ID      string `json:"id"`
	Message string `json:"message,omitempty"`
	Author  string `json:"author,omitempty"`
}

// Approval is one run's gate. The task token is deliberately not a field: it is read from
// the table only to resume the run, so no JSON, page or log built from an Approval can
// carry it.
type Approval struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	RunID    string `json:"runId"`
	Commit   string `json:"commit"`
	Branch   string `json:"branch,omitempty"`
	// ReceivedAt is when shipgate received the push: superseding goes by it, since runs
	// of the same branch can reach the gate in another order than their pushes came.
	ReceivedAt        time.Time `json:"receivedAt,omitzero"`
	ManifestDigest    string    `json:"manifestDigest"`
	Summary           Summary   `json:"summary"`
	Approvers         []string  `json:"approvers"` // normalized emails, spec order
	Required          int       `json:"required"`
	AllowSelfApproval bool      `json:"allowSelfApproval,omitempty"`
	RequestedAt       time.Time `json:"requestedAt"`
	ExpiresAt         time.Time `json:"expiresAt"`
	Status            Status    `json:"status"`
	// Votes and Final are filled on read, not stored in the approval item.
	Votes []Vote           `json:"votes,omitempty"`
	Final *domain.Decision `json:"final,omitempty"`
}

// Approvals counts distinct approving votes.
func (a *Approval) Approvals() int {
	n := 0
	for _, v := range a.Votes {
		if v.Outcome == domain.Approved {
			n++
		}
	}
	return n
}

// Vote is one approver's decision.
type Vote struct {
	Approver string          `json:"approver"`
	Outcome  domain.Outcome  `json:"outcome"` // approved or rejected
	Channel  domain.Channel  `json:"channel"`
	Comment  string          `json:"comment,omitempty"`
	At       time.Time       `json:"at"`
	Actor    domain.Identity `json:"actor"`
}

// Service is the approval gate. Build it with New; it is safe for concurrent use.
type Service struct {
	*Store
	cfg     app.Config
	s3      S3API
	sfn     SFNAPI
	send    notify.Sender
	audit   Appender
	history History
	// historySet records an explicit WithHistory, even WithHistory(nil).
	historySet bool
	signer     *Signer
	now        func() time.Time
	log        *slog.Logger
	lease      time.Duration
	baseURL    string
}

// Option adjusts New.
type Option func(*Service)

// WithAudit sets the audit trail the service appends approval records to (default: the
// audit store on the same table).
func WithAudit(a Appender) Option { return func(s *Service) { s.audit = a } }

// WithHistory sets where the last deployed commit is looked up (default: the audit
// appender when it can query, i.e. the default audit store; nil turns the lookup off).
func WithHistory(h History) Option { return func(s *Service) { s.history = h; s.historySet = true } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClients replaces the SDK clients from Deps (tests, or callers holding other clients).
// Nil arguments keep the Deps client.
func WithClients(db DynamoAPI, sfnc SFNAPI, s3c S3API) Option {
	return func(s *Service) {
		if db != nil {
			s.Store.db = db
		}
		if sfnc != nil {
			s.sfn = sfnc
		}
		if s3c != nil {
			s.s3 = s3c
		}
	}
}

// WithResumeLease sets how long a decider holds the right to resume before a retry or a
// sweep may take over (default 30 s).
func WithResumeLease(d time.Duration) Option { return func(s *Service) { s.lease = d } }

// New builds the service from the shared wiring: cfg.Table, cfg.Bucket (the spec),
// cfg.BaseURL (links), deps' DynamoDB, S3 and SFN clients, deps.Notify (messages),
// deps.SigningKey (links; nil refuses link tokens but console and CLI decisions work)
// and deps.Now. An audit Appender is required: an approval gate without its trail is not
// one.
func New(cfg app.Config, deps *app.Deps, opts ...Option) (*Service, error) {
	if deps == nil {
		deps = &app.Deps{}
	}
	s := &Service{
		Store:   &Store{table: cfg.Table},
		cfg:     cfg,
		send:    deps.Notify,
		now:     deps.Clock(),
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		lease:   30 * time.Second,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
	}
	if deps.DynamoDB != nil {
		s.Store.db = deps.DynamoDB
	}
	if deps.SFN != nil {
		s.sfn = deps.SFN
	}
	if deps.S3 != nil {
		s.s3 = deps.S3
	}
	for _, o := range opts {
		o(s)
	}
	var missing []string
	if s.Store.db == nil {
		missing = append(missing, "DynamoDB client")
	}
	if s.sfn == nil {
		missing = append(missing, "Step Functions client")
	}
	if s.audit == nil && s.Store.db != nil {
		// The real trail by default; WithAudit replaces it (tests, or a shared instance).
		s.audit = audit.NewDynamo(s.Store.db, cfg.Table, audit.WithClock(s.now))
	}
	if h, ok := s.audit.(History); ok && !s.historySet {
		s.history = h
	}
	if s.send == nil && cfg.TopicARN != "" {
		snsSender, err := snsnotify.New(sns.NewFromConfig(deps.AWS), cfg.TopicARN)
		if err != nil {
			return nil, err
		}
		s.send = snsSender
	}
	if cfg.Table == "" {
		missing = append(missing, "table name")
	}
	if cfg.Pipeline == "" {
		missing = append(missing, "pipeline name")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("approval: missing %s", strings.Join(missing, ", "))
	}
	if len(deps.SigningKey) > 0 {
		sg, err := NewSigner(deps.SigningKey)
		if err != nil {
			return nil, err
		}
		s.signer = sg
	}
	return s, nil
}

// Signer returns the link signer, or nil when the service has no signing key.
func (s *Service) Signer() *Signer { return s.signer }

// Pipeline is the pipeline this service gates.
func (s *Service) Pipeline() string { return s.cfg.Pipeline }

// Link returns the approval page URL path (relative) for an approval.
func Link(id string) string { return "/approvals/" + id }

// Request stores the pending approval of the run in st (waiting on taskToken), supersedes
// pending approvals of older pushes to the same branch when the spec says so (or, when a
// newer push of the branch already waits, this run itself), and sends each approver
// their own link. A retry with a new token replaces the stored one and re-sends.
func (s *Service) Request(ctx context.Context, taskToken string, st domain.State) (*Approval, error) {
	if taskToken == "" {
		return nil, domain.Errorf(domain.Invalid, "request approval: task token is empty")
	}
	if st.Run.ID == "" {
		return nil, domain.Errorf(domain.Invalid, "request approval: state has no run id")
	}
	if st.Build == nil || st.Build.SpecKey == "" {
		return nil, domain.Errorf(domain.SpecMissing, "request approval: state has no build.specKey")
	}
	if st.Stage == nil || st.Stage.ManifestDigest == "" {
		return nil, domain.Errorf(domain.ArtifactsMissing, "request approval: state has no staged manifest")
	}
	if s.signer == nil {
		return nil, domain.Errorf(domain.Internal, "request approval: no signing key for links")
	}
	if s.send == nil {
		return nil, domain.Errorf(domain.Internal, "request approval: no notification sender")
	}
	pipeline := st.Run.Pipeline
	if pipeline == "" {
		pipeline = s.cfg.Pipeline
	}
	// The summary's audit queries and the spec's read are independent: side by side.
	summary := make(chan Summary, 1)
	go func() { summary <- s.summarize(ctx, st, pipeline) }()
	sp, err := s.loadSpec(ctx, st.Build.SpecKey)
	sm := <-summary
	if err != nil {
		return nil, err
	}
	approvers, err := normalizeApprovers(sp.Approval.Approvers)
	if err != nil {
		return nil, err
	}
	required := sp.Approval.RequiredApprovals()
	if required > len(approvers) {
		return nil, domain.Errorf(domain.SpecInvalid, "approval.required is %d but only %d approvers are listed", required, len(approvers))
	}
	timeout := sp.Approval.ApprovalTimeout()
	if st.Build.ApprovalTimeoutSeconds > 0 {
		// The state machine times the wait out by this figure; links expire with it.
		timeout = time.Duration(st.Build.ApprovalTimeoutSeconds) * time.Second
	}
	now := s.now().UTC()
	a := &Approval{
		ID:                ID(pipeline, st.Run.ID),
		Pipeline:          pipeline,
		RunID:             st.Run.ID,
		Commit:            st.Run.Push.Commit,
		Branch:            st.Run.Push.Branch,
		ReceivedAt:        st.Run.Push.ReceivedAt.UTC(),
		ManifestDigest:    st.Stage.ManifestDigest,
		Summary:           sm,
		Approvers:         approvers,
		Required:          required,
		AllowSelfApproval: sp.Approval.AllowSelfApproval,
		RequestedAt:       now,
		ExpiresAt:         now.Add(timeout),
		Status:            StatusPending,
	}
	if err := s.putApproval(ctx, a, taskToken); err != nil {
		if domain.IsKind(err, domain.Conflict) {
			return s.answerRetriedRequest(ctx, a.ID, taskToken)
		}
		return nil, err
	}
	// The request's audit record is written while older approvals are looked up; both
	// are done before this request supersedes anything or mails any approver, so every
	// decision taken through a link or the mail comes after the request in the trail.
	requested := s.goAudit(ctx, nil, domain.Record{
		Type: domain.RecApprovalRequested, Pipeline: a.Pipeline, RunID: a.RunID, Commit: a.Commit,
		Actor: "system", Time: now, Channel: domain.ChannelSystem, ApprovalID: a.ID,
		Detail: map[string]any{"approvers": a.Approvers, "required": a.Required, "expiresAt": a.ExpiresAt.Format(time.RFC3339),
			"manifestDigest": a.ManifestDigest, "allowSelfApproval": a.AllowSelfApproval},
	})
	var open []*Approval
	var openErr error
	if sp.Approval.SupersedeOlder() {
		open, openErr = s.Open(ctx, a.Pipeline)
	}
	<-requested
	s.log.Info("approval requested", "approval", a.ID, "run", a.RunID, "approvers", len(a.Approvers), "required", a.Required)
	if sp.Approval.SupersedeOlder() {
		if newer := s.supersedeOlder(ctx, a, open, openErr); newer != nil {
			// A newer push of the branch already waits at the gate: this run ends here,
			// and its approvers are not asked about a change that will not go live.
			return s.supersededOnArrival(ctx, a, newer)
		}
	}
	for i := range a.Approvers {
		msg, err := s.requestMessage(a, i)
		if err != nil {
			return nil, err
		}
		if err := s.send.Send(ctx, msg); err != nil {
			// Transient: the state's Retry re-runs the task, which re-sends with a new token.
			return nil, &domain.Error{Kind: domain.Transient, Op: "notify approver " + a.Approvers[i], Err: err}
		}
	}
	return a, nil
}

// answerRetriedRequest handles a RequestApproval that arrives after its run was already
// decided (the task was retried after someone decided on the first attempt's approval):
// the new task token is the one the execution now waits on, so it gets the recorded
// outcome at once instead of the run hanging until the timeout.
func (s *Service) answerRetriedRequest(ctx context.Context, id, taskToken string) (*Approval, error) {
	rec, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	d, _, err := s.decision(ctx, rec.a.RunID)
	if err != nil {
		return nil, err
	}
	rec.taskToken = taskToken
	s.log.Info("approval request retried after the decision; resuming with it", "approval", id, "run", rec.a.RunID, "outcome", string(d.Outcome))
	if err := s.sendTask(ctx, rec, d); err != nil {
		return nil, err
	}
	rec.a.Final = &d
	return rec.a, nil
}

func (s *Service) loadSpec(ctx context.Context, key string) (*spec.Spec, error) {
	if s.s3 == nil || s.cfg.Bucket == "" {
		return nil, domain.Errorf(domain.Internal, "request approval: no S3 bucket configured to read the spec")
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, &domain.Error{Kind: domain.SpecMissing, Op: "read spec s3://" + s.cfg.Bucket + "/" + key, Err: err}
	}
	defer out.Body.Close()
	var sp spec.Spec
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&sp); err != nil {
		return nil, &domain.Error{Kind: domain.SpecInvalid, Op: "decode spec " + key, Err: err}
	}
	return &sp, nil
}

func normalizeApprovers(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, domain.Errorf(domain.SpecInvalid, "approval.approvers is empty: nobody could approve this run")
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range in {
		n := notify.NormalizeEmail(e)
		if n == "" || !strings.Contains(n, "@") {
			return nil, domain.Errorf(domain.SpecInvalid, "approval.approvers: %q is not an email address", e)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) > 255 {
		return nil, domain.Errorf(domain.SpecInvalid, "approval.approvers: %d listed, at most 255", len(out))
	}
	return out, nil
}

// summarize builds what approvers are shown from the state, plus the last deploy.
func (s *Service) summarize(ctx context.Context, st domain.State, pipeline string) Summary {
	sm := summarize(st)
	// The pipeline's recent runs are read while the last deploy is looked for: the two
	// queries are independent, and the runs are only kept if there was a deploy.
	runs := make(chan audit.Page, 1)
	go func() { runs <- s.recentRuns(ctx, pipeline, firstRunsPage, "") }()
	last := s.lastDeployed(ctx, pipeline)
	page := <-runs
	if last != nil {
		recent := page.Records
		if !reachesDeploy(recent, last) && page.Next != "" {
			// More pushes since the deploy than the first page holds: read on, up to
			// what the summary lists.
			recent = append(recent, s.recentRuns(ctx, pipeline, maxUndeployed+4-len(recent), page.Next).Records...)
		}
		sm.LastDeployed = last
		sm.Undeployed = pushesSince(recent, last, st.Run.ID)
		p := st.Run.Push
		if p.Provider == domain.ProviderGitHub && strings.Count(p.Repository, "/") == 1 && last.Commit != "" && last.Commit != p.Commit {
			sm.SinceURL = "https://github.com/" + p.Repository + "/compare/" + last.Commit + "..." + p.Commit
		}
	}
	return sm
}

// maxUndeployed bounds the pushes listed since the last deploy.
const maxUndeployed = 20

// firstRunsPage is how many of the newest runs the summary reads first: this run, the
// deployed one and a few pushes between them, the usual case. Decoding rows is most of
// a query's cost, so more are read only when these do not reach the deployed run.
const firstRunsPage = 6

// recentRuns reads a page of the pipeline's newest runs from the audit trail's runs
// index, from token on. A nicety for the summary: a failed query leaves them out.
func (s *Service) recentRuns(ctx context.Context, pipeline string, limit int, token string) audit.Page {
	if s.history == nil || limit <= 0 {
		return audit.Page{}
	}
	page, err := s.history.Query(ctx, audit.Filter{Pipeline: pipeline, RunsOnly: true, Order: audit.OrderNewest, Limit: limit, PageToken: token})
	if err != nil {
		s.log.Warn("pushes since the last deploy: audit query failed", "err", err)
		return audit.Page{}
	}
	return page
}

// reachesDeploy reports whether runs, newest first, go back as far as the deployed run
// (or past it), where pushesSince stops.
func reachesDeploy(runs []audit.Entry, last *DeployedRef) bool {
	for _, r := range runs {
		if r.RunID == last.RunID || r.Time.Before(last.At) {
			return true
		}
	}
	return false
}

// pushesSince lists, from the newest runs, those started after the last deploy's run
// (other than this one and the deployed one), newest first.
func pushesSince(runs []audit.Entry, last *DeployedRef, self string) []CommitLine {
	var out []CommitLine
	for _, r := range runs {
		if r.RunID == last.RunID || r.Time.Before(last.At) && r.RunID != self {
			break // reached the deployed run, or runs that started before it went live
		}
		if r.RunID == self || r.Commit == "" {
			continue
		}
		msg, _ := r.Detail["message"].(string)
		out = append(out, CommitLine{ID: r.Commit, Message: firstLine(msg), Author: r.Actor})
		if len(out) == maxUndeployed {
			break
		}
	}
	return out
}

// lastDeployed finds the newest successful deploy.finished record of the pipeline. It is
// a nicety for the summary: any failure is logged and the summary goes without it.
func (s *Service) lastDeployed(ctx context.Context, pipeline string) *DeployedRef {
	if s.history == nil {
		return nil
	}
	// The newest deploy usually succeeded: a first page of one record finds it, from a
	// read of a couple of runs' records, without decoding fifty; later pages are full
	// ones.
	f := audit.Filter{Pipeline: pipeline, Type: domain.RecDeployFinished, Order: audit.OrderNewest, Limit: 1}
	for range 6 { // bounded: a pipeline whose last 251 deploys all failed shows none
		page, err := s.history.Query(ctx, f)
		f.Limit = 50
		if err != nil {
			s.log.Warn("last deployed commit: audit query failed", "err", err)
			return nil
		}
		for _, r := range page.Records {
			if r.Outcome == "succeeded" && r.Commit != "" {
				return &DeployedRef{Commit: r.Commit, RunID: r.RunID, At: r.Time}
			}
		}
		if page.Next == "" {
			return nil
		}
		f.PageToken = page.Next
	}
	return nil
}

func summarize(st domain.State) Summary {
	p := st.Run.Push
	sm := Summary{Repository: p.Repository, Branch: p.Branch, Commit: p.Commit, Message: p.Message,
		Pusher: p.Pusher, CommitsTruncated: p.CommitsTruncated, CompareURL: p.CompareURL}
	if st.Test != nil {
		sm.Tests = &TestCounts{Passed: st.Test.Passed, Failed: st.Test.Failed, Skipped: st.Test.Skipped}
	}
	if st.Stage != nil {
		for _, a := range st.Stage.Artifacts {
			sm.Artifacts = append(sm.Artifacts, ArtifactLine{Name: a.Name, Path: a.Path, Size: a.Size, SHA256: a.SHA256})
		}
	}
	for _, c := range p.Commits {
		author := c.Author.Email
		if c.Author.Name != "" {
			author = c.Author.Name
		}
		sm.Commits = append(sm.Commits, CommitLine{ID: c.ID, Message: firstLine(c.Message), Author: author})
	}
	return sm
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// checkPublic refuses, without writing anything, what anyone can send to the public
// approval route without holding a token: an id that is no approval id (NotFound) and a
// missing or malformed token (Forbidden). Auditing those would let anybody grow the
// pipeline's hash-chained trail at will; a well-formed token that fails its check is
// an attempt worth recording, and is.
func (s *Service) checkPublic(id, linkToken string) error {
	if !ValidID(id) {
		return domain.Errorf(domain.NotFound, "no such approval")
	}
	if err := CheckTokenSyntax(linkToken); err != nil {
		s.log.Debug("approval link refused unaudited", "approval", id, "reason", err.Error())
		return domain.Errorf(domain.Forbidden, "this link is not valid")
	}
	return nil
}

// View checks a link token for approval id and returns the approval and the approver
// the link belongs to. It writes nothing except, for a refused token, the audit record of
// the refusal: viewing is what mail scanners do, so it must not decide anything.
func (s *Service) View(ctx context.Context, id, linkToken string) (*Approval, string, error) {
	if err := s.checkPublic(id, linkToken); err != nil {
		return nil, "", err
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		if domain.IsKind(err, domain.NotFound) {
			// An unknown id with a token is a token for another run; audit it as such.
			s.refuse(ctx, &Approval{ID: id, Pipeline: s.cfg.Pipeline}, "", domain.ChannelEmail, "unknown approval: "+ErrTokenSignature.Error())
			return nil, "", domain.Errorf(domain.Forbidden, "this link is not valid")
		}
		return nil, "", err
	}
	who, err := s.verifyLink(ctx, a, linkToken)
	if err != nil {
		return nil, "", err
	}
	return a, who, nil
}

func (s *Service) verifyLink(ctx context.Context, a *Approval, tok string) (string, error) {
	if s.signer == nil {
		return "", domain.Errorf(domain.Internal, "no signing key configured: links cannot be checked")
	}
	who, err := s.signer.Verify(a.ID, a.Approvers, tok, s.now())
	if err != nil {
		s.refuse(ctx, a, "", domain.ChannelEmail, err.Error())
		if errors.Is(err, ErrTokenExpired) {
			return "", domain.Errorf(domain.Forbidden, "this link has expired")
		}
		return "", domain.Errorf(domain.Forbidden, "this link is not valid")
	}
	return who, nil
}

// refuse audits a refused attempt. actor is who claimed to act ("" when unknown).
func (s *Service) refuse(ctx context.Context, a *Approval, actor string, ch domain.Channel, reason string) {
	if actor == "" {
		actor = "unknown"
	}
	s.appendAudit(ctx, domain.Record{
		Type: domain.RecApprovalRefused, Pipeline: a.Pipeline, RunID: a.RunID, Commit: a.Commit,
		Actor: actor, Time: s.now().UTC(), Channel: ch, ApprovalID: a.ID,
		Detail: map[string]any{"reason": reason},
	})
	s.log.Warn("approval refused", "approval", a.ID, "actor", actor, "channel", string(ch), "reason", reason)
}

// DecideRequest is one decision from one channel. Exactly one of LinkToken (email page)
// and Actor (console, CLI: an authenticated identity) says who decides.
type DecideRequest struct {
	ApprovalID string
	LinkToken  string
	Actor      domain.Identity
	Channel    domain.Channel
	Outcome    domain.Outcome // domain.Approved or domain.Rejected
	Comment    string
	// ManifestDigest, when set, is the digest the decider was shown; a mismatch refuses.
	ManifestDigest string
}

// DecideResult says what a decision did.
type DecideResult struct {
	Approval *Approval
	Vote     Vote
	// Final is the run's final decision, when there is one now.
	Final *domain.Decision
	// Resumed is true when the run was resumed (by this call or before it).
	Resumed bool
}

// MaxCommentLen bounds comments (they travel in audit records and SendTaskFailure causes).
const MaxCommentLen = 2000

// Decide records req's decision and, when it makes the outcome final, records the final
// decision and resumes the run. Errors carry kinds: Forbidden (bad link, not an approver,
// self-approval), Conflict (already decided, expired), Invalid, NotFound, Transient (the
// decision is recorded but resuming failed: retrying the same call completes it).
func (s *Service) Decide(ctx context.Context, req DecideRequest) (*DecideResult, error) {
	if req.Outcome != domain.Approved && req.Outcome != domain.Rejected {
		return nil, domain.Errorf(domain.Invalid, "decision must be %q or %q, not %q", domain.Approved, domain.Rejected, req.Outcome)
	}
	req.Comment = strings.TrimSpace(req.Comment)
	if len(req.Comment) > MaxCommentLen {
		return nil, domain.Errorf(domain.Invalid, "comment is %d characters, at most %d", len(req.Comment), MaxCommentLen)
	}
	if req.Outcome == domain.Rejected && req.Comment == "" {
		return nil, domain.Errorf(domain.Invalid, "a rejection needs a comment saying why")
	}
	if req.LinkToken != "" {
		if err := s.checkPublic(req.ApprovalID, req.LinkToken); err != nil {
			return nil, err
		}
	} else if !ValidID(req.ApprovalID) {
		return nil, domain.Errorf(domain.NotFound, "no such approval")
	}
	rec, err := s.get(ctx, req.ApprovalID)
	if err != nil {
		if domain.IsKind(err, domain.NotFound) && req.LinkToken != "" {
			s.refuse(ctx, &Approval{ID: req.ApprovalID, Pipeline: s.cfg.Pipeline}, "", req.Channel, "unknown approval: "+ErrTokenSignature.Error())
			return nil, domain.Errorf(domain.Forbidden, "this link is not valid")
		}
		return nil, err
	}
	a := rec.a
	var who string
	if req.LinkToken != "" {
		if who, err = s.verifyLink(ctx, a, req.LinkToken); err != nil {
			return nil, err
		}
		if req.Actor.Email == "" {
			req.Actor.Email = who
		}
	} else {
		who = s.matchApprover(a, req.Actor)
		if who == "" {
			s.refuse(ctx, a, actorName(req.Actor), req.Channel, "not an approver of this pipeline")
			return nil, domain.Errorf(domain.Forbidden, "%s is not an approver of this run", actorName(req.Actor))
		}
	}
	if req.Outcome == domain.Approved && !a.AllowSelfApproval && isPusher(a.Summary.Pusher, who, req.Actor) {
		s.refuse(ctx, a, who, req.Channel, "self-approval: the pusher cannot approve their own push")
		return nil, domain.Errorf(domain.Forbidden, "%s pushed this change and cannot approve it (allow_self_approval is off)", who)
	}
	if req.ManifestDigest != "" && req.ManifestDigest != a.ManifestDigest {
		s.refuse(ctx, a, who, req.Channel, "manifest digest shown differs from the staged one")
		return nil, domain.Errorf(domain.Conflict, "the artifacts changed since the page was shown; reload it")
	}
	if a.Status != StatusPending {
		return s.alreadyDecided(ctx, rec, who, req)
	}
	now := s.now().UTC()
	if !now.Before(a.ExpiresAt) {
		s.refuse(ctx, a, who, req.Channel, "approval expired")
		return nil, domain.Errorf(domain.Conflict, "this approval expired at %s", a.ExpiresAt.Format(time.RFC3339))
	}
	v := Vote{Approver: who, Outcome: req.Outcome, Channel: req.Channel, Comment: req.Comment, At: now, Actor: req.Actor}
	if err := s.putVote(ctx, a.ID, v); err != nil {
		if domain.IsKind(err, domain.Conflict) {
			return s.alreadyDecided(ctx, rec, who, req)
		}
		return nil, err
	}
	// The audit appends run beside the decision writes and the resume (each append is two
	// round trips on the hash chain); Decide waits for them before it returns.
	voteAudit := s.goAudit(ctx, nil, domain.Record{
		Type: domain.RecApprovalDecision, Pipeline: a.Pipeline, RunID: a.RunID, Commit: a.Commit,
		Actor: who, Time: now, Outcome: string(v.Outcome), Channel: v.Channel, ApprovalID: a.ID,
		Detail: map[string]any{"comment": v.Comment, "manifestDigest": a.ManifestDigest, "login": req.Actor.Login},
	})
	defer func() { <-voteAudit }()
	a.Votes = append(a.Votes, v)
	s.log.Info("approval vote", "approval", a.ID, "approver", who, "outcome", string(v.Outcome), "channel", string(v.Channel))
	res := &DecideResult{Approval: a, Vote: v}

	var final *domain.Decision
	switch v.Outcome {
	case domain.Rejected:
		final = &domain.Decision{Outcome: domain.Rejected, Approvers: []string{who}, Comment: v.Comment, Channel: v.Channel}
	case domain.Approved:
		if a.Approvals() < a.Required {
			// Re-read the votes: concurrent approvals by others count toward the quorum.
			fresh, err := s.get(ctx, a.ID)
			if err != nil {
				return nil, err
			}
			a.Votes = fresh.a.Votes
		}
		var yes []string
		for _, x := range a.Votes {
			if x.Outcome == domain.Approved {
				yes = append(yes, x.Approver)
			}
		}
		sort.Strings(yes)
		if len(yes) >= a.Required {
			final = &domain.Decision{Outcome: domain.Approved, Approvers: yes, Comment: v.Comment, Channel: v.Channel}
		}
	}
	if final == nil {
		return res, nil
	}
	final.ApprovalID, final.Pipeline, final.RunID, final.Commit = a.ID, a.Pipeline, a.RunID, a.Commit
	final.ManifestDigest, final.DecidedAt = a.ManifestDigest, now
	d, resumed, err := s.finalize(ctx, rec, *final, domain.RecApprovalFinal, who, voteAudit)
	res.Final, res.Resumed = d, resumed
	if d != nil && d.Outcome != final.Outcome {
		// Someone else's outcome won the race; this vote is recorded but did not decide.
		return res, domain.Errorf(domain.Conflict, "the run was already %s", d.Outcome)
	}
	return res, err
}

// alreadyDecided answers a decision on a run whose outcome is recorded: it completes a
// resume that an earlier call could not finish, and is idempotent for the caller whose
// vote is the recorded one (a retried POST), a Conflict for everyone else.
func (s *Service) alreadyDecided(ctx context.Context, rec *record, who string, req DecideRequest) (*DecideResult, error) {
	a := rec.a
	res := &DecideResult{Approval: a}
	find := func() {
		for _, v := range a.Votes {
			if v.Approver == who {
				res.Vote = v
			}
		}
	}
	if find(); res.Vote.Approver == "" {
		// The vote that refused ours was written after our first read (a double click).
		if fresh, err := s.get(ctx, a.ID); err == nil {
			a.Votes = fresh.a.Votes
			find()
		}
	}
	d, st, err := s.decision(ctx, a.RunID)
	if domain.IsKind(err, domain.NotFound) {
		if res.Vote.Approver != "" && res.Vote.Outcome == req.Outcome {
			return res, nil // the vote counted; the quorum is not reached yet
		}
		return res, domain.Errorf(domain.Conflict, "%s has already decided (%s) on this approval", who, res.Vote.Outcome)
	}
	if err != nil {
		return nil, err
	}
	res.Final = &d
	res.Resumed = st.resumed
	if !st.resumed {
		resumed, err := s.resume(ctx, rec, d)
		res.Resumed = resumed
		if err != nil {
			return res, err
		}
	}
	if res.Vote.Approver != "" && res.Vote.Outcome == req.Outcome && d.Outcome == req.Outcome {
		return res, nil
	}
	return res, domain.Errorf(domain.Conflict, "the run was already %s", d.Outcome)
}

// finalize records d as the run's final decision if no other outcome got there first,
// then resumes the run. It returns the decision that won. The final audit record is
// appended after the record in after (the vote) and before the resume, so the trail
// reads decision, then deploy, in that order.
func (s *Service) finalize(ctx context.Context, rec *record, d domain.Decision, rt domain.RecordType, actor string, after <-chan struct{}) (*domain.Decision, bool, error) {
	now := s.now()
	won, err := s.putDecision(ctx, d, now.Add(s.lease))
	if err != nil {
		return nil, false, err
	}
	if !won {
		cur, st, err := s.decision(ctx, d.RunID)
		if err != nil {
			return nil, false, err
		}
		return &cur, st.resumed, nil
	}
	rec.a.Status = StatusDecided
	finalAudit := s.goAudit(ctx, after, domain.Record{
		Type: rt, Pipeline: d.Pipeline, RunID: d.RunID, Commit: d.Commit, Actor: actor,
		Time: d.DecidedAt, Outcome: string(d.Outcome), Channel: d.Channel, ApprovalID: d.ApprovalID,
		Detail: map[string]any{"approvers": d.Approvers, "comment": d.Comment, "manifestDigest": d.ManifestDigest},
	})
	<-finalAudit
	s.log.Info("approval final", "approval", d.ApprovalID, "run", d.RunID, "outcome", string(d.Outcome))
	if err := s.sendTask(ctx, rec, d); err != nil {
		s.resumeFailed(ctx, rec, d)
		return &d, false, err
	}
	return &d, true, nil
}

// resumeFailed leaves the approval for a retry or a sweep: marked decided (so the console
// stops offering it) and with the resume claim given back.
func (s *Service) resumeFailed(ctx context.Context, rec *record, d domain.Decision) {
	if err := s.setStatus(ctx, rec.a.ID, StatusDecided); err != nil {
		s.log.Error("approval status", "approval", rec.a.ID, "err", s.redact(rec, err))
	}
	if err := s.releaseClaim(ctx, d.RunID); err != nil {
		s.log.Error("release resume claim", "run", d.RunID, "err", s.redact(rec, err))
	}
}

// goAudit appends r in the background once after (if any) is done, and reports when it
// is appended, so records keep their order without holding up the caller.
func (s *Service) goAudit(ctx context.Context, after <-chan struct{}, r domain.Record) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if after != nil {
			<-after
		}
		s.appendAudit(ctx, r)
	}()
	return done
}

// resume sends the recorded decision to the waiting run if nobody else holds the claim.
func (s *Service) resume(ctx context.Context, rec *record, d domain.Decision) (bool, error) {
	now := s.now()
	ok, err := s.claimResume(ctx, d.RunID, now, now.Add(s.lease))
	if err != nil || !ok {
		return false, err
	}
	if err := s.sendTask(ctx, rec, d); err != nil {
		s.resumeFailed(ctx, rec, d)
		return false, err
	}
	return true, nil
}

// sendTask calls SendTaskSuccess (approved) or SendTaskFailure (anything else) and marks
// the decision resumed. A token Step Functions no longer knows (the wait timed out, the
// execution was stopped) is final too: retrying could never succeed. Unless the stored
// token changed meanwhile: a RequestApproval retry replaces it while a decider may hold
// the old one, and the run then waits on the new token, so that one gets the decision.
func (s *Service) sendTask(ctx context.Context, rec *record, d domain.Decision) error {
	if rec.taskToken == "" {
		return s.markResumed(ctx, d.RunID, d.ApprovalID, s.now().UTC(), "no task token stored")
	}
	used := []string{rec.taskToken}
	err := s.callSFN(ctx, rec.taskToken, d)
	if taskGone(err) {
		fresh, ferr := s.get(ctx, d.ApprovalID)
		switch {
		case ferr != nil:
			// Closing now could strand a run that waits on a newer token: leave the
			// decision for a retry or the sweep.
			s.log.Error("resume run: re-read task token", "run", d.RunID, "approval", d.ApprovalID, "err", s.redact(rec, ferr))
			return &domain.Error{Kind: domain.Transient, Op: "resume run " + d.RunID,
				Msg: "the decision is recorded but the run could not be resumed; retry to complete it"}
		case fresh.taskToken != "" && fresh.taskToken != rec.taskToken:
			s.log.Info("task token replaced by a retried request; resuming with the new one", "run", d.RunID, "approval", d.ApprovalID)
			rec.taskToken = fresh.taskToken
			used = append(used, fresh.taskToken)
			err = s.callSFN(ctx, fresh.taskToken, d)
		}
	}
	redact := func(err error) string {
		msg := errString(err)
		for _, t := range used {
			msg = strings.ReplaceAll(msg, t, "[task token]")
		}
		return msg
	}
	note := "resumed"
	if err != nil {
		if !taskGone(err) {
			s.log.Error("resume run failed", "run", d.RunID, "approval", d.ApprovalID, "err", redact(err))
			return &domain.Error{Kind: domain.Transient, Op: "resume run " + d.RunID,
				Msg: "the decision is recorded but the run could not be resumed; retry to complete it"}
		}
		note = "run no longer waiting: " + redact(err)
		s.log.Warn("run no longer waiting", "run", d.RunID, "err", note)
	}
	return s.markResumed(ctx, d.RunID, d.ApprovalID, s.now().UTC(), note)
}

func (s *Service) callSFN(ctx context.Context, token string, d domain.Decision) error {
	if d.Outcome == domain.Approved {
		out, _ := json.Marshal(d)
		_, err := s.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(out))})
		return err
	}
	_, err := s.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
		TaskToken: aws.String(token),
		Error:     aws.String(string(domain.ApprovalRejected)),
		Cause:     aws.String(Cause(d)),
	})
	return err
}

// taskGone reports whether err says Step Functions no longer waits on the token.
func taskGone(err error) bool {
	if err == nil {
		return false
	}
	var timedOut *sfntypes.TaskTimedOut
	var invalid *sfntypes.InvalidToken
	var gone *sfntypes.TaskDoesNotExist
	return errors.As(err, &timedOut) || errors.As(err, &invalid) || errors.As(err, &gone)
}

// Cause is the SendTaskFailure cause for a decision: who and why.
func Cause(d domain.Decision) string {
	var c string
	switch d.Outcome {
	case domain.Superseded:
		return d.Comment // "superseded by <commit>"
	case domain.Expired:
		c = "approval expired"
	default:
		c = string(d.Outcome) + " by " + strings.Join(d.Approvers, ", ")
	}
	if d.Comment != "" {
		c += ": " + d.Comment
	}
	return c
}

// redact keeps the task token out of log lines built from SDK error text.
func (s *Service) redact(rec *record, err error) string {
	msg := errString(err)
	if rec != nil && rec.taskToken != "" {
		msg = strings.ReplaceAll(msg, rec.taskToken, "[task token]")
	}
	return msg
}

func (s *Service) appendAudit(ctx context.Context, r domain.Record) {
	if err := s.audit.Append(ctx, r); err != nil {
		// The decision itself is recorded in the approval items; a lost audit append is
		// logged loudly rather than undoing a decision already taken.
		s.log.Error("audit append failed", "type", string(r.Type), "run", r.RunID, "err", err)
	}
}

// matchApprover returns the approver entry that id matches (email, case-insensitively, or
// the email-shaped tail of an ARN/login), or "".
func (s *Service) matchApprover(a *Approval, id domain.Identity) string {
	for _, cand := range identityEmails(id) {
		for _, ap := range a.Approvers {
			if cand == ap {
				return ap
			}
		}
	}
	return ""
}

// identityEmails are the addresses an identity may be known by: its email, and the last
// path segment of a login or ARN when that looks like an address (an assumed-role session
// named after the person, an IAM user named by email).
func identityEmails(id domain.Identity) []string {
	var out []string
	if e := notify.NormalizeEmail(id.Email); e != "" {
		out = append(out, e)
	}
	if l := notify.NormalizeEmail(id.Login); l != "" {
		if i := strings.LastIndexAny(l, "/:"); i >= 0 {
			l = l[i+1:]
		}
		if strings.Contains(l, "@") {
			out = append(out, l)
		}
	}
	return out
}

// isPusher reports whether the decider is the pusher. A pusher may be known only by a
// login (a CodeCommit caller ARN, or locally the committer's email) while console, CLI
// and link deciders carry only an email, so every address either side may be known by
// is compared, the approver entry the decider matched included.
func isPusher(p domain.Identity, approver string, actor domain.Identity) bool {
	mine := append(identityEmails(actor), notify.NormalizeEmail(approver))
	for _, pe := range identityEmails(p) {
		for _, e := range mine {
			if e != "" && e == pe {
				return true
			}
		}
	}
	return p.Login != "" && actor.Login != "" && strings.EqualFold(p.Login, actor.Login)
}

func actorName(id domain.Identity) string {
	switch {
	case id.Email != "":
		return id.Email
	case id.Login != "":
		return id.Login
	}
	return "anonymous"
}

// supersedeOlder rejects the other pending approvals of a's pipeline and branch (from
// open, the pipeline's pending approvals as listed, or err, the listing's failure) whose
// pushes are older than the newest push among them and a. It returns that newest one when
// it is not a (a is then to be superseded by it), else nil. Failures are logged, not
// returned: the new run's gate must open regardless.
func (s *Service) supersedeOlder(ctx context.Context, a *Approval, open []*Approval, err error) *Approval {
	if err != nil {
		s.log.Error("supersede: list pending", "err", err)
		return nil
	}
	newest := a
	var same []*Approval
	for _, o := range open {
		if o.ID == a.ID || o.Status != StatusPending || branchOf(o) != branchOf(a) {
			continue
		}
		same = append(same, o)
		if newerPush(o, newest) {
			newest = o
		}
	}
	for _, o := range same {
		if o.ID == newest.ID {
			continue
		}
		if _, err := s.Supersede(ctx, o.ID, newest.Commit); err != nil && !domain.IsKind(err, domain.Conflict) {
			s.log.Error("supersede failed", "approval", o.ID, "err", err)
		}
	}
	if newest == a {
		return nil
	}
	return newest
}

// supersededOnArrival ends a, just stored, because newer (a newer push of its branch)
// already waits at the gate.
func (s *Service) supersededOnArrival(ctx context.Context, a, newer *Approval) (*Approval, error) {
	s.log.Info("approval superseded on arrival", "approval", a.ID, "run", a.RunID, "by", newer.RunID)
	d, err := s.Supersede(ctx, a.ID, newer.Commit)
	if err != nil && !domain.IsKind(err, domain.Conflict) {
		// The decision is recorded (Transient: resuming failed); the task's retry
		// resumes with it.
		return nil, err
	}
	if got, gerr := s.Get(ctx, a.ID); gerr == nil {
		return got, nil
	}
	a.Final = d
	return a, nil
}

func branchOf(a *Approval) string {
	if a.Branch != "" {
		return a.Branch
	}
	return a.Summary.Branch
}

// newerPush reports whether x's push came after y's: by the time shipgate received each
// (an approval stored without it counts from its request), then by arrival at the gate,
// then by id, so every caller picks the same newest one.
func newerPush(x, y *Approval) bool {
	tx, ty := pushedAt(x), pushedAt(y)
	if !tx.Equal(ty) {
		return tx.After(ty)
	}
	if !x.RequestedAt.Equal(y.RequestedAt) {
		return x.RequestedAt.After(y.RequestedAt)
	}
	return x.ID > y.ID
}

func pushedAt(a *Approval) time.Time {
	if !a.ReceivedAt.IsZero() {
		return a.ReceivedAt
	}
	return a.RequestedAt
}

// Supersede ends approval id with outcome superseded ("superseded by <commit>") and fails
// its waiting run with ApprovalRejected.
func (s *Service) Supersede(ctx context.Context, id, byCommit string) (*domain.Decision, error) {
	rec, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	a := rec.a
	d := domain.Decision{ApprovalID: a.ID, Pipeline: a.Pipeline, RunID: a.RunID, Commit: a.Commit,
		Outcome: domain.Superseded, Channel: domain.ChannelSystem, Comment: "superseded by " + byCommit,
		ManifestDigest: a.ManifestDigest, DecidedAt: s.now().UTC()}
	won, _, err := s.finalize(ctx, rec, d, domain.RecApprovalSuperseded, "system", nil)
	if err == nil && won != nil && won.Outcome != domain.Superseded {
		return won, domain.Errorf(domain.Conflict, "approval %s was already %s", id, won.Outcome)
	}
	return won, err
}

// Expire records that the run's wait timed out (the state machine's States.Timeout path),
// closes the approval and tells its approvers. If an outcome was recorded first (a
// decision raced the timeout), that decision is returned unchanged.
func (s *Service) Expire(ctx context.Context, st domain.State) (domain.Decision, error) {
	if st.Run.ID == "" {
		return domain.Decision{}, domain.Errorf(domain.Invalid, "expire: state has no run id")
	}
	pipeline := st.Run.Pipeline
	if pipeline == "" {
		pipeline = s.cfg.Pipeline
	}
	id := ID(pipeline, st.Run.ID)
	rec, err := s.get(ctx, id)
	if err != nil && !domain.IsKind(err, domain.NotFound) {
		return domain.Decision{}, err
	}
	d := domain.Decision{ApprovalID: id, Pipeline: pipeline, RunID: st.Run.ID, Commit: st.Run.Push.Commit,
		Outcome: domain.Expired, Channel: domain.ChannelSystem, DecidedAt: s.now().UTC()}
	if st.Stage != nil {
		d.ManifestDigest = st.Stage.ManifestDigest
	}
	if st.Error != nil && st.Error.Error != "" {
		d.Comment = "wait ended: " + st.Error.Error
	}
	won, err := s.putDecision(ctx, d, s.now().Add(s.lease))
	if err != nil {
		return domain.Decision{}, err
	}
	if !won {
		cur, dst, err := s.decision(ctx, st.Run.ID)
		if err != nil {
			return domain.Decision{}, err
		}
		switch {
		case cur.Outcome == domain.Expired && dst.resumed:
			return cur, nil // a retried Expire whose first attempt completed
		case cur.Outcome == domain.Expired:
			// An earlier attempt recorded the expiry but not the run's end: finish it.
			d = cur
		default:
			if !dst.resumed {
				if err := s.markResumed(ctx, st.Run.ID, id, s.now().UTC(), "wait timed out after the decision"); err != nil {
					return domain.Decision{}, s.expireUnrecorded(st.Run.ID, err)
				}
			}
			// The recorded outcome stands, but the run ends here without deploying: say so in
			// the trail, or a reader would see an approval and wonder where the deploy went.
			s.appendAudit(ctx, domain.Record{Type: domain.RecApprovalExpired, Pipeline: pipeline, RunID: d.RunID, Commit: d.Commit,
				Actor: "system", Time: d.DecidedAt, Outcome: string(domain.Expired), Channel: domain.ChannelSystem, ApprovalID: id,
				Detail: map[string]any{"reason": "the wait timed out before the run was resumed with the recorded " + string(cur.Outcome) + " decision"}})
			return cur, nil
		}
	}
	// Nothing to resume: the timeout already ended the wait.
	if err := s.markResumed(ctx, st.Run.ID, id, s.now().UTC(), "expired"); err != nil {
		return d, s.expireUnrecorded(st.Run.ID, err)
	}
	var approvers []string
	if rec != nil {
		approvers = rec.a.Approvers
	}
	s.appendAudit(ctx, domain.Record{Type: domain.RecApprovalExpired, Pipeline: pipeline, RunID: d.RunID, Commit: d.Commit,
		Actor: "system", Time: d.DecidedAt, Outcome: string(domain.Expired), Channel: domain.ChannelSystem, ApprovalID: id,
		Detail: map[string]any{"manifestDigest": d.ManifestDigest}})
	s.log.Info("approval expired", "approval", id, "run", d.RunID)
	if s.send != nil {
		for _, to := range approvers {
			if err := s.send.Send(ctx, s.expiredMessage(rec.a, to)); err != nil {
				s.log.Error("notify expiry", "to", to, "err", err)
			}
		}
	}
	return d, nil
}

// expireUnrecorded is Expire's error when the run's end could not be written: Transient,
// so the state's Retry runs Expire again, which finishes the job (and audits and tells
// the approvers once); the sweep would otherwise try to resume a run no longer waiting.
func (s *Service) expireUnrecorded(runID string, err error) error {
	s.log.Error("expire: record the end of the run", "run", runID, "err", err)
	return &domain.Error{Kind: domain.Transient, Op: "expire run " + runID, Err: err,
		Msg: "the wait ended but could not be recorded; retry to complete it"}
}

// Sweep resumes runs whose final decision is recorded but whose resume never completed
// (the decider crashed, or Step Functions was unreachable). It returns how many it resumed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	open, err := s.Open(ctx, s.cfg.Pipeline)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, a := range open {
		// Any open approval may hold a recorded decision: the decider may have crashed
		// between writing it and marking the approval.
		if _, _, err := s.decision(ctx, a.RunID); err != nil {
			continue
		}
		rec, err := s.get(ctx, a.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, st, err := s.decision(ctx, a.RunID)
		if err != nil || st.resumed {
			continue
		}
		ok, err := s.resume(ctx, rec, d)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Sweeper runs Sweep now and then every interval until ctx ends. Local mode runs it so
// a decision taken while the engine was down resumes its run once the engine is back.
func (s *Service) Sweeper(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep", "resumed", n, "err", err)
		} else if n > 0 {
			s.log.Info("sweep resumed runs", "resumed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pending lists the pipeline's approvals that still wait for decisions, oldest first.
func (s *Service) Pending(ctx context.Context) ([]*Approval, error) {
	open, err := s.Open(ctx, s.cfg.Pipeline)
	if err != nil {
		return nil, err
	}
	out := open[:0]
	for _, a := range open {
		if a.Status == StatusPending {
			out = append(out, a)
		}
	}
	return out, nil
}

// ByRun returns the approval of a run of this pipeline.
func (s *Service) ByRun(ctx context.Context, runID string) (*Approval, error) {
	a, err := s.Get(ctx, ID(s.cfg.Pipeline, runID))
	if domain.IsKind(err, domain.NotFound) {
		return nil, domain.Errorf(domain.NotFound, "run %s has no approval (not at the gate yet, or not a run of pipeline %s)", runID, s.cfg.Pipeline)
	}
	return a, err
}
