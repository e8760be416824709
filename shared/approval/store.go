package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
)

// Table items (key schema fixed in package workflow; attribute "doc" holds the JSON form):
//
//	PK APPROVAL#<id>  SK APPROVAL        the pending approval, its task token, status;
//	                                     GSI4PK PENDING#<pipeline>, GSI4SK <requested>#<id>
//	                                     while the run still waits on it (sparse index)
//	PK APPROVAL#<id>  SK VOTE#<email>    one approver's decision (written once)
//	PK RUN#<run>      SK DECISION        the final outcome (written once), resume state
const (
	pendingIndex = "GSI4"
	skApproval   = "APPROVAL"
	skVotePrefix = "VOTE#"
	skDecision   = "DECISION"
)

// Status is where an approval is in its life.
type Status string

const (
	StatusPending Status = "pending" // waiting for decisions
	StatusDecided Status = "decided" // final outcome recorded, the run not yet resumed
	StatusClosed  Status = "closed"  // the run was resumed (or the wait ended)
)

// DynamoAPI is the part of the DynamoDB client the store uses.
type DynamoAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store keeps approvals, votes and final decisions in the shipgate table.
type Store struct {
	db    DynamoAPI
	table string
}

// NewStore returns a store on table. The deploy stage uses it for FinalDecision.
func NewStore(db DynamoAPI, table string) (*Store, error) {
	if db == nil {
		return nil, errors.New("approval store: DynamoDB client is nil")
	}
	if table == "" {
		return nil, errors.New("approval store: table name is empty")
	}
	return &Store{db: db, table: table}, nil
}

// ID is the approval id of a run: derived, so a retried RequestApproval finds the same
// approval, and the CLI and the Expire task need only the run id. It reveals nothing that
// grants anything; links are authorized by their signature.
func ID(pipeline, runID string) string {
	h := sha256.Sum256([]byte(pipeline + "\x00" + runID))
	return "ap-" + hex.EncodeToString(h[:10])
}

// ValidID reports whether s has the shape of an approval id (used to refuse junk early).
func ValidID(s string) bool {
	if len(s) != 23 || !strings.HasPrefix(s, "ap-") {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}

func approvalKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str("APPROVAL#" + id), "SK": str(skApproval)}
}

func decisionKey(runID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str("RUN#" + runID), "SK": str(skDecision)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func getS(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// classify turns an SDK error into a kinded error so callers and the Lambda boundary can
// tell "retry" (throttling, network) from a bug.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var thr *types.ProvisionedThroughputExceededException
	var lim *types.RequestLimitExceeded
	var ise *types.InternalServerError
	if errors.As(err, &thr) || errors.As(err, &lim) || errors.As(err, &ise) || errors.Is(err, context.DeadlineExceeded) {
		return &domain.Error{Kind: domain.Transient, Op: op, Err: err}
	}
	return &domain.Error{Kind: domain.Internal, Op: op, Err: err}
}

func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// putApproval writes a new pending approval, or replaces the task token of one still
// pending (a retried RequestApproval gets a fresh token from Step Functions).
func (s *Store) putApproval(ctx context.Context, a *Approval, taskToken string) error {
	doc := *a
	doc.Votes, doc.Final = nil, nil
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	item := approvalKey(a.ID)
	item["doc"] = str(string(b))
	item["taskToken"] = str(taskToken)
	item["status"] = str(string(StatusPending))
	item["runId"] = str(a.RunID)
	item["pipeline"] = str(a.Pipeline)
	item["expiresAt"] = str(timeString(a.ExpiresAt))
	item["GSI4PK"] = str("PENDING#" + a.Pipeline)
	item["GSI4SK"] = str(timeString(a.RequestedAt) + "#" + a.ID)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR #st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": str(string(StatusPending))},
	})
	if isConditionFailed(err) {
		return domain.Errorf(domain.Conflict, "approval %s of run %s was already decided", a.ID, a.RunID)
	}
	return classify("store approval", err)
}

// record is an approval with its server-side-only task token.
type record struct {
	a         *Approval
	taskToken string
}

// get reads the approval and its votes with one strongly consistent Query.
func (s *Store) get(ctx context.Context, id string) (*record, error) {
	var rec *record
	var votes []Vote
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("APPROVAL#" + id)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, classify("read approval", err)
		}
		for _, it := range out.Items {
			sk := getS(it, "SK")
			switch {
			case sk == skApproval:
				var a Approval
				if err := json.Unmarshal([]byte(getS(it, "doc")), &a); err != nil {
					return nil, domain.Errorf(domain.Internal, "approval %s: corrupt item: %w", id, err)
				}
				a.Status = Status(getS(it, "status"))
				rec = &record{a: &a, taskToken: getS(it, "taskToken")}
			case strings.HasPrefix(sk, skVotePrefix):
				var v Vote
				if err := json.Unmarshal([]byte(getS(it, "doc")), &v); err != nil {
					return nil, domain.Errorf(domain.Internal, "approval %s: corrupt vote: %w", id, err)
				}
				votes = append(votes, v)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	if rec == nil {
		return nil, domain.Errorf(domain.NotFound, "no approval %s", id)
	}
	sort.Slice(votes, func(i, j int) bool { return votes[i].At.Before(votes[j].At) })
	rec.a.Votes = votes
	return rec, nil
}

// Get returns the approval id with its votes and, once recorded, its final decision.
func (s *Store) Get(ctx context.Context, id string) (*Approval, error) {
	rec, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	// Read the decision whatever the status says: a decider that crashed between writing
	// the decision and updating the approval leaves it "pending" with an outcome.
	d, _, err := s.decision(ctx, rec.a.RunID)
	switch {
	case err == nil:
		rec.a.Final = &d
		if rec.a.Status == StatusPending {
			rec.a.Status = StatusDecided
		}
	case !domain.IsKind(err, domain.NotFound):
		return nil, err
	}
	return rec.a, nil
}

// putVote records one approver's vote; a second vote by the same approver is refused.
func (s *Store) putVote(ctx context.Context, id string, v Vote) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			"PK": str("APPROVAL#" + id), "SK": str(skVotePrefix + v.Approver),
			"doc": str(string(b)), "outcome": str(string(v.Outcome)), "approver": str(v.Approver),
			"channel": str(string(v.Channel)), "at": str(timeString(v.At)),
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return domain.Errorf(domain.Conflict, "%s has already decided on this approval", v.Approver)
	}
	return classify("record vote", err)
}

// decisionItem is the stored final decision and whether the run has been resumed with it.
type decisionState struct {
	resumed    bool
	claimUntil time.Time
}

// putDecision writes the final decision if none exists, claiming the right to resume the
// run until claimUntil. It reports whether this call wrote it (the first outcome wins).
func (s *Store) putDecision(ctx context.Context, d domain.Decision, claimUntil time.Time) (bool, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	item := decisionKey(d.RunID)
	item["doc"] = str(string(b))
	item["outcome"] = str(string(d.Outcome))
	item["approvalId"] = str(d.ApprovalID)
	item["pipeline"] = str(d.Pipeline)
	item["decidedAt"] = str(timeString(d.DecidedAt))
	item["claimUntil"] = str(timeString(claimUntil))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, classify("record decision", err)
	}
	return true, nil
}

// FinalDecision returns the recorded final decision of a run (strongly consistent), or an
// error of kind NotFound when there is none. Deploy calls it before acting.
func (s *Store) FinalDecision(ctx context.Context, runID string) (domain.Decision, error) {
	d, _, err := s.decision(ctx, runID)
	return d, err
}

func (s *Store) decision(ctx context.Context, runID string) (domain.Decision, decisionState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: decisionKey(runID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return domain.Decision{}, decisionState{}, classify("read decision", err)
	}
	if len(out.Item) == 0 {
		return domain.Decision{}, decisionState{}, domain.Errorf(domain.NotFound, "no decision recorded for run %s", runID)
	}
	var d domain.Decision
	if err := json.Unmarshal([]byte(getS(out.Item, "doc")), &d); err != nil {
		return d, decisionState{}, domain.Errorf(domain.Internal, "decision of run %s: corrupt item: %w", runID, err)
	}
	st := decisionState{resumed: getS(out.Item, "resumedAt") != ""}
	if c := getS(out.Item, "claimUntil"); c != "" {
		st.claimUntil, _ = time.Parse(time.RFC3339Nano, c)
	}
	return d, st, nil
}

// claimResume takes the right to resume the run with its recorded decision, unless the
// run was resumed already or another caller holds an unexpired claim. This is what keeps
// "exactly one SendTask* call" true when retries and sweeps race the first decider.
func (s *Store) claimResume(ctx context.Context, runID string, now, until time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       decisionKey(runID),
		UpdateExpression:          aws.String("SET claimUntil = :until"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(resumedAt) AND (attribute_not_exists(claimUntil) OR claimUntil < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":until": str(timeString(until)), ":now": str(timeString(now))},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, classify("claim resume", err)
	}
	return true, nil
}

// releaseClaim gives the claim back after a failed resume so a retry need not wait.
func (s *Store) releaseClaim(ctx context.Context, runID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 decisionKey(runID),
		UpdateExpression:    aws.String("REMOVE claimUntil"),
		ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(resumedAt)"),
	})
	if isConditionFailed(err) {
		return nil
	}
	return classify("release resume claim", err)
}

// markResumed records that the run was resumed (note says how) and drops the approval
// from the pending index.
func (s *Store) markResumed(ctx context.Context, runID, id string, at time.Time, note string) error {
	// The two items are independent; updating them side by side halves the wait.
	statusErr := make(chan error, 1)
	go func() { statusErr <- s.setStatus(ctx, id, StatusClosed) }()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       decisionKey(runID),
		UpdateExpression:          aws.String("SET resumedAt = :at, resumeNote = :note REMOVE claimUntil"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": str(timeString(at)), ":note": str(note)},
	})
	serr := <-statusErr
	if err != nil {
		return classify("mark resumed", err)
	}
	return serr
}

// setStatus moves an approval on; closing it removes it from the pending index.
func (s *Store) setStatus(ctx context.Context, id string, st Status) error {
	expr := "SET #st = :st"
	if st == StatusClosed {
		expr += " REMOVE GSI4PK, GSI4SK"
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       approvalKey(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":st": str(string(st))},
	})
	if isConditionFailed(err) {
		return nil // no approval item (Expire of a run whose request never stored one)
	}
	return classify("update approval status", err)
}

// Open lists the approvals of pipeline that still hold a run (pending, or decided but not
// yet resumed), oldest first. The pending index is eventually consistent: an approval
// requested a moment ago may be missing for a moment.
func (s *Store) Open(ctx context.Context, pipeline string) ([]*Approval, error) {
	var out []*Approval
	var start map[string]types.AttributeValue
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(pendingIndex),
			KeyConditionExpression:    aws.String("GSI4PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("PENDING#" + pipeline)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, classify("list pending approvals", err)
		}
		for _, it := range res.Items {
			var a Approval
			if err := json.Unmarshal([]byte(getS(it, "doc")), &a); err != nil {
				return nil, domain.Errorf(domain.Internal, "pending approval: corrupt item: %w", err)
			}
			a.Status = Status(getS(it, "status"))
			out = append(out, &a)
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		start = res.LastEvaluatedKey
	}
	return out, nil
}

// errString keeps SDK error text out of places it should not be without losing it.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(err)
}
