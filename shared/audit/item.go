package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Key design (docs/audit.md explains it for people). Every audit record is one item in the
// chain partition of its pipeline; the GSIs are views of those same items, so a record is
// written exactly once and can never be half-visible.
const (
	pipePrefix     = "PIPE#"     // PK of the chain, and GSI3PK (a pipeline's records by time)
	seqPrefix      = "SEQ#"      // SK of the chain, and GSI1SK (a run's records in order)
	runPrefix      = "RUN#"      // GSI1PK: everything about one run
	runsPrefix     = "RUNS#"     // GSI2PK: run.started records of a pipeline, by time
	commitPrefix   = "COMMIT#"   // GSI5PK: push records by the first 7 hex digits of the commit
	approverPrefix = "APPROVER#" // GSI5PK: approval records by the (lowercased) person acting
	registryPK     = "PIPELINES" // one item per pipeline, so verify can find every chain without a Scan
	seqDigits      = 12
	shortSHA       = 7
	formatVersion  = 1
)

// Index names as the table defines them. GSI4 belongs to the pending approvals.
const (
	idxRun      = "GSI1"
	idxRuns     = "GSI2"
	idxTime     = "GSI3"
	idxPeople   = "GSI5"
	systemActor = "system"
)

// tsLayout is fixed width so that times sort as strings in sort keys; it is also valid
// RFC 3339, which is why the time attribute uses it too.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func tsKey(t time.Time) string { return t.UTC().Format(tsLayout) }

func seqKey(seq int64) string { return fmt.Sprintf("%s%0*d", seqPrefix, seqDigits, seq) }

// parseSeqKey accepts exactly the form seqKey writes; anything else in a chain partition
// was not written by Append.
func parseSeqKey(sk string) (int64, bool) {
	digits, ok := strings.CutPrefix(sk, seqPrefix)
	if !ok || len(digits) != seqDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil && n > 0
}

// Entry is a stored audit record: the producer's Record plus what the store assigned.
type Entry struct {
	domain.Record
	// Seq orders the records of one pipeline: 1, 2, 3 ... without gaps.
	Seq int64 `json:"seq"`
	// PrevHash is the Hash of record Seq-1 of the same pipeline ("" for Seq 1).
	PrevHash string `json:"prevHash"`
	// Hash is the SHA-256 (hex) of this record's canonical content, PrevHash included.
	Hash string `json:"hash"`
	// Suspect, when set, says why this record failed the checks a single record allows
	// (its hash, its place in a chain, its index keys) as it was read. Only Verify checks
	// the links between records.
	Suspect string `json:"suspect,omitempty"`
}

// selfCheck is the part of verification that needs no other record.
func (s *stored) selfCheck() string {
	n, ok := parseSeqKey(s.SK)
	switch {
	case s.PK != pipePrefix+s.Pipeline:
		return "not stored in its pipeline's chain (planted)"
	case !ok:
		return "its key was not written by the audit store (inserted)"
	case s.SeqText != strconv.FormatInt(n, 10):
		return "its seq does not match its key (edited)"
	case s.contentHash() != s.Hash:
		return "its content does not match its hash (edited)"
	}
	if msg := indexDrift(s); msg != "" {
		return msg + " (edited)"
	}
	return ""
}

// stored is an entry in the exact string form it has in the table. Hashes are computed
// over these strings, so verification never depends on re-encoding (number formats,
// map order) matching what the writer did.
type stored struct {
	PK, SK     string
	Seq        int64
	SeqText    string
	Type       string
	Pipeline   string
	RunID      string
	Commit     string
	Actor      string
	Time       string
	Stage      string
	Outcome    string
	Channel    string
	ApprovalID string
	Detail     string
	PrevHash   string
	Hash       string
	Version    string
	Item       map[string]types.AttributeValue
}

// canonical is the hashed form: fixed field order, every value a string as stored.
type canonical struct {
	V          string `json:"v"`
	Pipeline   string `json:"pipeline"`
	Seq        string `json:"seq"`
	Type       string `json:"type"`
	RunID      string `json:"runId"`
	Commit     string `json:"commit"`
	Actor      string `json:"actor"`
	Time       string `json:"time"`
	Stage      string `json:"stage"`
	Outcome    string `json:"outcome"`
	Channel    string `json:"channel"`
	ApprovalID string `json:"approvalId"`
	Detail     string `json:"detail"`
	Prev       string `json:"prev"`
}

func (s *stored) contentHash() string {
	b, _ := json.Marshal(canonical{
		V: s.Version, Pipeline: s.Pipeline, Seq: s.SeqText, Type: s.Type, RunID: s.RunID,
		Commit: s.Commit, Actor: s.Actor, Time: s.Time, Stage: s.Stage, Outcome: s.Outcome,
		Channel: s.Channel, ApprovalID: s.ApprovalID, Detail: s.Detail, Prev: s.PrevHash,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newStored lays out record r as entry seq of its pipeline's chain after prevHash.
func newStored(r domain.Record, seq int64, prevHash string) (*stored, error) {
	detail := ""
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return nil, domain.Errorf(domain.Invalid, "audit record %s: detail is not JSON-encodable: %w", r.Type, err)
		}
		detail = string(b)
	}
	s := &stored{
		PK: pipePrefix + r.Pipeline, SK: seqKey(seq), Seq: seq, SeqText: strconv.FormatInt(seq, 10),
		Type: string(r.Type), Pipeline: r.Pipeline, RunID: r.RunID, Commit: strings.ToLower(r.Commit),
		Actor: r.Actor, Time: tsKey(r.Time), Stage: r.Stage, Outcome: r.Outcome,
		Channel: string(r.Channel), ApprovalID: r.ApprovalID, Detail: detail, PrevHash: prevHash,
		Version: strconv.Itoa(formatVersion),
	}
	s.Hash = s.contentHash()
	return s, nil
}

// indexKeys derives the GSI attributes from the content, so verify can tell when they were
// altered (a record hidden from, or planted into, a query).
func (s *stored) indexKeys() map[string]string {
	k := map[string]string{}
	seqTail := "#" + s.SK
	k["GSI3PK"] = pipePrefix + s.Pipeline
	k["GSI3SK"] = s.Time + seqTail
	if s.RunID != "" {
		k["GSI1PK"] = runPrefix + s.RunID
		k["GSI1SK"] = s.SK + "#" + s.Pipeline
	}
	switch domain.RecordType(s.Type) {
	case domain.RecRunStarted:
		k["GSI2PK"] = runsPrefix + s.Pipeline
		k["GSI2SK"] = s.Time + seqTail
	}
	switch {
	case isPushType(s.Type) && s.Commit != "":
		k["GSI5PK"] = commitPrefix + commitBucket(s.Commit)
		k["GSI5SK"] = s.Commit + "#" + s.Time + "#" + s.Pipeline + seqTail
	case strings.HasPrefix(s.Type, "approval.") && isPerson(s.Actor):
		k["GSI5PK"] = approverPrefix + strings.ToLower(s.Actor)
		k["GSI5SK"] = s.Time + "#" + s.Pipeline + seqTail
	}
	return k
}

func isPushType(t string) bool {
	switch domain.RecordType(t) {
	case domain.RecRunStarted, domain.RecPushSkipped, domain.RecPushDuplicate:
		return true
	}
	return false
}

func isPerson(actor string) bool { return actor != "" && !strings.EqualFold(actor, systemActor) }

func commitBucket(sha string) string {
	if len(sha) > shortSHA {
		return sha[:shortSHA]
	}
	return sha
}

func (s *stored) item() map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		workflow.AttrPK: str(s.PK),
		workflow.AttrSK: str(s.SK),
		"v":             &types.AttributeValueMemberN{Value: s.Version},
		"seq":           &types.AttributeValueMemberN{Value: s.SeqText},
		"type":          str(s.Type),
		"pipeline":      str(s.Pipeline),
		"actor":         str(s.Actor),
		"time":          str(s.Time),
		"hash":          str(s.Hash),
	}
	// DynamoDB refuses empty strings in key attributes, and empty optional fields would
	// only add noise for people reading the table with the AWS CLI.
	opt := map[string]string{"runId": s.RunID, "commit": s.Commit, "stage": s.Stage, "outcome": s.Outcome,
		"channel": s.Channel, "approvalId": s.ApprovalID, "detail": s.Detail, "prevHash": s.PrevHash}
	for k, v := range opt {
		if v != "" {
			it[k] = str(v)
		}
	}
	for k, v := range s.indexKeys() {
		it[k] = str(v)
	}
	return it
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func getS(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// fromItem reads an item back in stored form. It never fails: whatever is malformed is
// left for verify to report, and for queries to show as it is.
func fromItem(it map[string]types.AttributeValue) *stored {
	s := &stored{
		PK: getS(it, workflow.AttrPK), SK: getS(it, workflow.AttrSK), SeqText: getN(it, "seq"),
		Type: getS(it, "type"), Pipeline: getS(it, "pipeline"), RunID: getS(it, "runId"),
		Commit: getS(it, "commit"), Actor: getS(it, "actor"), Time: getS(it, "time"),
		Stage: getS(it, "stage"), Outcome: getS(it, "outcome"), Channel: getS(it, "channel"),
		ApprovalID: getS(it, "approvalId"), Detail: getS(it, "detail"), PrevHash: getS(it, "prevHash"),
		Hash: getS(it, "hash"), Version: getN(it, "v"), Item: it,
	}
	s.Seq, _ = strconv.ParseInt(s.SeqText, 10, 64)
	return s
}

// entry converts to the public form. Detail numbers stay json.Number so that large
// integers survive the round trip exactly.
func (s *stored) entry() Entry {
	e := Entry{Seq: s.Seq, PrevHash: s.PrevHash, Hash: s.Hash}
	e.Type = domain.RecordType(s.Type)
	e.Pipeline, e.RunID, e.Commit, e.Actor = s.Pipeline, s.RunID, s.Commit, s.Actor
	e.Stage, e.Outcome, e.Channel, e.ApprovalID = s.Stage, s.Outcome, domain.Channel(s.Channel), s.ApprovalID
	if t, err := time.Parse(time.RFC3339Nano, s.Time); err == nil {
		e.Time = t.UTC()
	}
	if s.Detail != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(s.Detail)))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) == nil {
			e.Detail = m
		} else {
			e.Detail = map[string]any{"unparsed": s.Detail}
		}
	}
	return e
}
