package stack

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Context keys (cdk.json "context", or `cdk deploy -c key=value`); docs/deploy.md lists them.
const (
	CtxRepository      = "repository"      // CodeCommit repository name, or GitHub owner/repo
	CtxBranches        = "branches"        // branch globs that start runs (trigger pre-filter)
	CtxApprovers       = "approvers"       // approver emails: each gets a filtered SNS subscription
	CtxNotifyEmails    = "notifyEmails"    // emails told about run results and alarms
	CtxApprovalTimeout = "approvalTimeout" // default wait for a decision when the spec names none
	CtxBuildMemory     = "buildMemory"     // MiB for the Build and Test functions
	CtxBuildTimeout    = "buildTimeout"    // Lambda timeout of Build and Test (at most 15m)
	CtxPipelineName    = "pipelineName"    // pipeline name; also names the state machine
	CtxTableName       = "tableName"       // optional physical table name
	CtxBucketName      = "bucketName"      // optional physical artifacts bucket name
	CtxDeployBuckets   = "deployBuckets"   // S3 buckets the Deploy function may write to
	CtxCognitoDomain   = "cognitoDomain"   // optional Cognito hosted UI domain prefix
)

// Config is the deployment's configuration, read from CDK context by FromContext.
type Config struct {
	Repository      string
	Branches        []string
	Approvers       []string
	NotifyEmails    []string
	ApprovalTimeout time.Duration
	BuildMemoryMiB  int
	BuildTimeout    time.Duration
	PipelineName    string
	TableName       string // "" lets CloudFormation name it
	BucketName      string // "" lets CloudFormation name it
	DeployBuckets   []string
	CognitoDomain   string // "" derives "<pipeline>-<account>"
}

// Defaults used when a context value is absent.
const (
	DefaultPipelineName    = "shipgate"
	DefaultApprovalTimeout = 72 * time.Hour
	DefaultBuildMemoryMiB  = 3008
	DefaultBuildTimeout    = 15 * time.Minute
	// MaxApprovalTimeout leaves a day of the state machine's 30-day limit for the stages.
	MaxApprovalTimeout = 29 * 24 * time.Hour
)

// Provider says where pushes come from, derived from the repository's form.
type Provider string

const (
	ProviderCodeCommit Provider = "codecommit"
	ProviderGitHub     Provider = "github"
)

// Provider is CodeCommit for a bare repository name and GitHub for owner/repo (or no
// repository at all: the webhook then accepts any repository whose deliveries it can verify).
func (c Config) Provider() Provider {
	if c.Repository != "" && !strings.Contains(c.Repository, "/") {
		return ProviderCodeCommit
	}
	return ProviderGitHub
}

// Recipients are every address that gets an SNS email subscription, sorted and without
// duplicates (ignoring case, first spelling kept), so the template does not change when
// the context lists them differently.
func (c Config) Recipients() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range append(append([]string{}, c.Approvers...), c.NotifyEmails...) {
		k := strings.ToLower(e)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	codeCommitRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	gitHubRE     = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	emailRE      = regexp.MustCompile(`^[^@\s,]+@[^@\s,]+\.[^@\s,]+$`)
	bucketRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	tableRE      = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	domainRE     = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
)

// FromContext reads Config through get (node.TryGetContext in the app). Values may be
// strings (from -c key=value) or JSON values (from cdk.json): lists as JSON arrays or
// comma-separated strings, durations as Go durations ("72h") or seconds. Every bad value
// is reported, each naming its key.
func FromContext(get func(key string) any) (Config, error) {
	c := Config{
		PipelineName:    DefaultPipelineName,
		ApprovalTimeout: DefaultApprovalTimeout,
		BuildMemoryMiB:  DefaultBuildMemoryMiB,
		BuildTimeout:    DefaultBuildTimeout,
		Branches:        []string{"main"},
	}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("context %q: %s", key, fmt.Sprintf(format, args...)))
	}
	str := func(key string, dst *string) {
		switch v := get(key).(type) {
		case nil:
		case string:
			*dst = strings.TrimSpace(v)
		default:
			bad(key, "want a string, got %T", v)
		}
	}
	list := func(key string, dst *[]string) {
		var items []string
		switch v := get(key).(type) {
		case nil:
			return
		case string:
			items = strings.Split(v, ",")
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					bad(key, "want a list of strings, found %T", e)
					return
				}
				items = append(items, s)
			}
		default:
			bad(key, "want a list or a comma-separated string, got %T", v)
			return
		}
		var out []string
		for _, s := range items {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*dst = out
	}
	dur := func(key string, dst *time.Duration) {
		switch v := get(key).(type) {
		case nil:
		case float64:
			*dst = time.Duration(v * float64(time.Second))
		case string:
			s := strings.TrimSpace(v)
			if n, err := strconv.Atoi(s); err == nil {
				*dst = time.Duration(n) * time.Second
				return
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				bad(key, "%q is not a duration (like 72h or 15m) or a number of seconds", v)
				return
			}
			*dst = d
		default:
			bad(key, "want a duration, got %T", v)
		}
	}

	str(CtxRepository, &c.Repository)
	list(CtxBranches, &c.Branches)
	list(CtxApprovers, &c.Approvers)
	list(CtxNotifyEmails, &c.NotifyEmails)
	dur(CtxApprovalTimeout, &c.ApprovalTimeout)
	dur(CtxBuildTimeout, &c.BuildTimeout)
	str(CtxPipelineName, &c.PipelineName)
	str(CtxTableName, &c.TableName)
	str(CtxBucketName, &c.BucketName)
	list(CtxDeployBuckets, &c.DeployBuckets)
	str(CtxCognitoDomain, &c.CognitoDomain)
	switch v := get(CtxBuildMemory).(type) {
	case nil:
	case float64:
		c.BuildMemoryMiB = int(v)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			bad(CtxBuildMemory, "%q is not a whole number of MiB", v)
		}
		c.BuildMemoryMiB = n
	default:
		bad(CtxBuildMemory, "want a number of MiB, got %T", v)
	}

	if c.Repository != "" && !codeCommitRE.MatchString(c.Repository) && !gitHubRE.MatchString(c.Repository) {
		bad(CtxRepository, "%q is neither a CodeCommit repository name nor a GitHub owner/repo", c.Repository)
	}
	if len(c.Branches) == 0 {
		bad(CtxBranches, "lists no branch; give at least one (globs allowed, e.g. main,release/*)")
	}
	for _, k := range []struct {
		key    string
		emails []string
	}{{CtxApprovers, c.Approvers}, {CtxNotifyEmails, c.NotifyEmails}} {
		for _, e := range k.emails {
			if !emailRE.MatchString(e) {
				bad(k.key, "%q is not an email address", e)
			}
		}
	}
	if c.ApprovalTimeout < time.Minute || c.ApprovalTimeout > MaxApprovalTimeout {
		bad(CtxApprovalTimeout, "%v is outside 1m..%v (the state machine itself ends after 30 days)", c.ApprovalTimeout, MaxApprovalTimeout)
	}
	if c.BuildTimeout < 10*time.Second || c.BuildTimeout > 15*time.Minute {
		bad(CtxBuildTimeout, "%v is outside 10s..15m (Lambda's maximum)", c.BuildTimeout)
	}
	if c.BuildMemoryMiB < 128 || c.BuildMemoryMiB > 10240 {
		bad(CtxBuildMemory, "%d MiB is outside Lambda's 128..10240", c.BuildMemoryMiB)
	}
	if !nameRE.MatchString(c.PipelineName) {
		bad(CtxPipelineName, "%q must be 1-64 letters, digits, '-' or '_' (it names the state machine and S3 prefixes)", c.PipelineName)
	}
	if c.TableName != "" && !tableRE.MatchString(c.TableName) {
		bad(CtxTableName, "%q is not a valid DynamoDB table name", c.TableName)
	}
	if c.BucketName != "" && !bucketRE.MatchString(c.BucketName) {
		bad(CtxBucketName, "%q is not a valid S3 bucket name", c.BucketName)
	}
	for _, b := range c.DeployBuckets {
		if !bucketRE.MatchString(b) {
			bad(CtxDeployBuckets, "%q is not a valid S3 bucket name", b)
		}
	}
	if c.CognitoDomain != "" && (!domainRE.MatchString(c.CognitoDomain) || strings.Contains(c.CognitoDomain, "aws") || strings.Contains(c.CognitoDomain, "cognito")) {
		bad(CtxCognitoDomain, "%q must be lowercase letters, digits and '-', without 'aws' or 'cognito'", c.CognitoDomain)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("shipgate configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}
