package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Order of a page. The zero value is each access pattern's natural order: a run's records
// oldest first (the story of the run), everything else newest first.
type Order string

const (
	OrderDefault Order = ""
	OrderOldest  Order = "oldest"
	OrderNewest  Order = "newest"
)

// Filter selects audit records. At least one of Pipeline, Run, Commit or Approver is
// needed; the most selective one picks the index and the others filter within it.
type Filter struct {
	Pipeline string
	Run      string
	// Commit is a full SHA or a prefix of at least 7 hex digits.
	Commit string
	// Approver is who acted on an approval (email, login or ARN; case-insensitive).
	Approver string
	// Decision keeps approval records with this outcome.
	Decision domain.Outcome
	Type     domain.RecordType
	// Since (inclusive) and Until (exclusive) bound the record time.
	Since, Until time.Time
	// RunsOnly lists a pipeline's runs (their run.started records).
	RunsOnly bool
	Order    Order
	// Limit is the page size, 1..MaxLimit; 0 means DefaultLimit.
	Limit int
	// PageToken continues from a previous Page.Next with the same filters.
	PageToken string
}

// Page is one page of records; Next is empty on the last page.
type Page struct {
	Records []Entry `json:"records"`
	Next    string  `json:"next,omitempty"`
}

// Querier answers filtered audit queries; the HTTP handler and the CLI depend on it.
type Querier interface {
	Query(ctx context.Context, f Filter) (Page, error)
}

// Validate reports the first bad value in f as a domain.Invalid error.
func (f Filter) Validate() error {
	if f.Pipeline == "" && f.Run == "" && f.Commit == "" && f.Approver == "" {
		return domain.Errorf(domain.Invalid, "give a pipeline, run, commit or approver to query the audit trail")
	}
	if f.Commit != "" {
		if len(f.Commit) < shortSHA || len(f.Commit) > 64 || strings.Trim(strings.ToLower(f.Commit), "0123456789abcdef") != "" {
			return domain.Errorf(domain.Invalid, "commit %q: want a hex SHA of at least %d digits", f.Commit, shortSHA)
		}
	}
	if f.Decision != "" {
		if _, err := ParseDecision(string(f.Decision)); err != nil {
			return err
		}
	}
	if f.Type != "" && !knownType(f.Type) {
		return domain.Errorf(domain.Invalid, "record type %q: want one of %s", f.Type, strings.Join(typeNames(), ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return domain.Errorf(domain.Invalid, "since %s is not before until %s", f.Since.UTC().Format(time.RFC3339), f.Until.UTC().Format(time.RFC3339))
	}
	if f.RunsOnly && f.Pipeline == "" {
		return domain.Errorf(domain.Invalid, "listing runs needs a pipeline")
	}
	switch f.Order {
	case OrderDefault, OrderOldest, OrderNewest:
	default:
		return domain.Errorf(domain.Invalid, "order %q: want %q or %q", f.Order, OrderOldest, OrderNewest)
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return domain.Errorf(domain.Invalid, "limit %d: want 1..%d", f.Limit, MaxLimit)
	}
	return nil
}

// Decisions are the outcomes the decision filter accepts.
var Decisions = []domain.Outcome{domain.Approved, domain.Rejected, domain.Expired, domain.Superseded}

// ParseDecision checks a decision filter value.
func ParseDecision(s string) (domain.Outcome, error) {
	for _, d := range Decisions {
		if strings.EqualFold(s, string(d)) {
			return d, nil
		}
	}
	names := make([]string, len(Decisions))
	for i, d := range Decisions {
		names[i] = string(d)
	}
	return "", domain.Errorf(domain.Invalid, "unknown decision %q: want one of %s", s, strings.Join(names, ", "))
}

// ParseTime reads a filter time: RFC 3339 (2026-11-26T09:30:00Z, any offset) or a date
// (2026-11-26, midnight UTC). The result is UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, domain.Errorf(domain.Invalid, "time %q: want RFC 3339 (2026-11-26T09:30:00Z) or a date (2026-11-26)", s)
}

var recordTypes = []domain.RecordType{
	domain.RecRunStarted, domain.RecPushSkipped, domain.RecPushDuplicate, domain.RecStageStarted,
	domain.RecStageFinished, domain.RecApprovalRequested, domain.RecApprovalDecision, domain.RecApprovalFinal,
	domain.RecApprovalRefused, domain.RecApprovalExpired, domain.RecApprovalSuperseded,
	domain.RecDeployStarted, domain.RecDeployFinished, domain.RecRunFinished,
}

func knownType(t domain.RecordType) bool {
	for _, k := range recordTypes {
		if k == t {
			return true
		}
	}
	return false
}

func typeNames() []string {
	out := make([]string, len(recordTypes))
	for i, t := range recordTypes {
		out[i] = string(t)
	}
	return out
}

// plan is one Query: the index and key condition chosen for a Filter, plus the filters
// the key cannot express.
type plan struct {
	index   string // "" for the table itself
	ixPK    string // the index's key attributes, for building page tokens
	ixSK    string
	keyCond string
	filters []string
	names   map[string]string
	values  map[string]types.AttributeValue
	forward bool
}

func (p *plan) val(name string, v string) string {
	p.values[name] = str(v)
	return name
}

// timeRange adds the record-time bounds on an index whose sort key starts with the time.
func (p *plan) timeRange(f Filter) {
	switch {
	case !f.Since.IsZero() && !f.Until.IsZero():
		p.keyCond += " AND #ixsk BETWEEN " + p.val(":since", tsKey(f.Since)) + " AND " + p.val(":until", tsKey(f.Until))
	case !f.Since.IsZero():
		p.keyCond += " AND #ixsk >= " + p.val(":since", tsKey(f.Since))
	case !f.Until.IsZero():
		p.keyCond += " AND #ixsk < " + p.val(":until", tsKey(f.Until))
	default:
		return
	}
	p.names["#ixsk"] = p.ixSK
}

func planFor(f Filter) *plan {
	p := &plan{names: map[string]string{}, values: map[string]types.AttributeValue{}}
	timeInKey, pipelineInKey, commitInKey, approverInKey, runsInKey := false, false, false, false, false
	pk := func(ix workflow.Index, v string) {
		p.index, p.ixPK, p.ixSK = ix.Name, ix.PK, ix.SK
		p.names["#ixpk"] = ix.PK
		p.keyCond = "#ixpk = " + p.val(":ixpk", v)
	}
	idx := indexes()
	switch {
	case f.Run != "":
		pk(idx[idxRun], runPrefix+f.Run)
		p.forward = true
	case f.Commit != "":
		c := strings.ToLower(f.Commit)
		pk(idx[idxPeople], commitPrefix+commitBucket(c))
		p.names["#ixsk"] = p.ixSK
		p.keyCond += " AND begins_with(#ixsk, " + p.val(":commit", c) + ")"
		commitInKey = true
	case f.Approver != "":
		pk(idx[idxPeople], approverPrefix+strings.ToLower(f.Approver))
		p.timeRange(f)
		approverInKey, timeInKey = true, true
	case f.RunsOnly:
		pk(idx[idxRuns], runsPrefix+f.Pipeline)
		p.timeRange(f)
		pipelineInKey, timeInKey, runsInKey = true, true, true
	default:
		pk(idx[idxTime], pipePrefix+f.Pipeline)
		p.timeRange(f)
		pipelineInKey, timeInKey = true, true
	}
	switch f.Order {
	case OrderOldest:
		p.forward = true
	case OrderNewest:
		p.forward = false
	}
	add := func(cond string, names ...string) {
		for i := 0; i+1 < len(names); i += 2 {
			p.names[names[i]] = names[i+1]
		}
		p.filters = append(p.filters, cond)
	}
	if f.Pipeline != "" && !pipelineInKey {
		add("#pipeline = "+p.val(":pipeline", f.Pipeline), "#pipeline", "pipeline")
	}
	if f.Run != "" && p.index != idxRun {
		add("#run = "+p.val(":run", f.Run), "#run", "runId")
	}
	if f.Commit != "" && !commitInKey {
		add("begins_with(#commit, "+p.val(":commit", strings.ToLower(f.Commit))+")", "#commit", "commit")
	}
	if f.Approver != "" && !approverInKey {
		add("#people = "+p.val(":approver", approverPrefix+strings.ToLower(f.Approver)), "#people", "GSI5PK")
	}
	if f.RunsOnly && !runsInKey {
		add("#type = "+p.val(":started", string(domain.RecRunStarted)), "#type", "type")
	}
	if f.Type != "" {
		add("#type = "+p.val(":type", string(f.Type)), "#type", "type")
	}
	if f.Decision != "" {
		add("#outcome = "+p.val(":decision", string(f.Decision))+" AND begins_with(#type, "+p.val(":approval", "approval.")+")",
			"#outcome", "outcome", "#type", "type")
	}
	if !timeInKey {
		if !f.Since.IsZero() {
			add("#time >= "+p.val(":since", tsKey(f.Since)), "#time", "time")
		}
		if !f.Until.IsZero() {
			add("#time < "+p.val(":until", tsKey(f.Until)), "#time", "time")
		}
	}
	return p
}

func indexes() map[string]workflow.Index {
	m := map[string]workflow.Index{}
	for _, ix := range workflow.TableIndexes() {
		m[ix.Name] = ix
	}
	return m
}

// shape fingerprints everything but the start key, so a page token is refused when
// replayed with other filters (it would silently skip or repeat records).
func (p *plan) shape() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n%s\n", p.index, p.keyCond, p.forward, strings.Join(p.filters, " AND "))
	keys := make([]string, 0, len(p.values))
	for k := range p.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, p.values[k].(*types.AttributeValueMemberS).Value)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

type pageToken struct {
	Shape string            `json:"s"`
	Key   map[string]string `json:"k"`
}

func (p *plan) encodeToken(key map[string]types.AttributeValue) string {
	t := pageToken{Shape: p.shape(), Key: map[string]string{}}
	for k, v := range key {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			t.Key[k] = s.Value
		}
	}
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *plan) decodeToken(s string) (map[string]types.AttributeValue, error) {
	bad := func(why string) error {
		return domain.Errorf(domain.Invalid, "page token: %s", why)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad("not a token this store issued")
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || len(t.Key) == 0 {
		return nil, bad("not a token this store issued")
	}
	if t.Shape != p.shape() {
		return nil, bad("it belongs to a query with other filters")
	}
	want := []string{workflow.AttrPK, workflow.AttrSK}
	if p.index != "" {
		want = append(want, p.ixPK, p.ixSK)
	}
	key := map[string]types.AttributeValue{}
	for _, k := range want {
		v, ok := t.Key[k]
		if !ok {
			return nil, bad("it lacks key attribute " + k)
		}
		key[k] = str(v)
	}
	return key, nil
}

// keyOf is the start key that resumes a query right after item it.
func (p *plan) keyOf(it map[string]types.AttributeValue) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{workflow.AttrPK: it[workflow.AttrPK], workflow.AttrSK: it[workflow.AttrSK]}
	if p.index != "" {
		k[p.ixPK], k[p.ixSK] = it[p.ixPK], it[p.ixSK]
	}
	return k
}

// minReadAhead is the fewest records a filtered request evaluates.
const minReadAhead = 32

// nextReadAhead sizes a filtered query's next request from the last one, which asked
// for asked records, evaluated scanned and kept kept, when want more are wanted: from
// the share kept, twice what should hold them; four times as many when none was kept.
func nextReadAhead(asked, scanned, kept, want int) int {
	if scanned <= 0 {
		scanned = asked
	}
	n := scanned * 4
	if kept > 0 {
		n = 2 * want * ((scanned + kept - 1) / kept)
	}
	return min(max(n, minReadAhead), MaxLimit)
}

// Query returns one page of the records f selects, by a single index Query per DynamoDB
// page (never a Scan).
func (d *Dynamo) Query(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	p := planFor(f)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String(p.keyCond),
		ExpressionAttributeNames:  p.names,
		ExpressionAttributeValues: p.values,
		ScanIndexForward:          aws.Bool(p.forward),
	}
	if p.index != "" {
		in.IndexName = aws.String(p.index)
	}
	if len(p.filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(p.filters, " AND "))
	}
	if f.PageToken != "" {
		key, err := p.decodeToken(f.PageToken)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = key
	}
	page := Page{Records: []Entry{}}
	readAhead := 0 // with a filter, how many records the next request evaluates
	for {
		// Without a filter every evaluated item is a result, so ask for exactly what is
		// missing; with one, read ahead and cut the page at the last record kept.
		want := limit - len(page.Records)
		n := want
		if in.FilterExpression != nil {
			if readAhead == 0 {
				// In proportion to what is wanted: a small page of a common type is near
				// (the newest deploy of a pipeline is some twenty records away).
				readAhead = max(want*4, minReadAhead)
			}
			n = min(readAhead, MaxLimit)
		}
		in.Limit = aws.Int32(int32(n))
		out, err := d.db.Query(ctx, in)
		if err != nil {
			return Page{}, domain.Errorf(domain.Transient, "audit query: %w", err)
		}
		for i, it := range out.Items {
			s := fromItem(it)
			e := s.entry()
			e.Suspect = s.selfCheck()
			page.Records = append(page.Records, e)
			if len(page.Records) == limit {
				if i < len(out.Items)-1 || len(out.LastEvaluatedKey) > 0 {
					page.Next = p.encodeToken(p.keyOf(it))
				}
				return page, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if in.FilterExpression != nil {
			readAhead = nextReadAhead(n, int(out.ScannedCount), len(out.Items), limit-len(page.Records))
		}
	}
}
