// Package audit is shipgate's audit trail: an append-only, hash-chained record of every
// push, stage, approval and deploy, kept in the user's own DynamoDB table so it outlives
// Step Functions' execution history. It answers each access pattern with a Query (never a
// Scan), verifies the chain to expose edited, deleted or inserted records, and serves the
// same filters as JSON (/api/audit) and as a console page (/audit).
package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// API is the part of the DynamoDB client the audit store uses. It has no UpdateItem,
// DeleteItem or BatchWriteItem on purpose: audit items are only ever created.
type API interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Appender is what record producers depend on.
type Appender interface {
	Append(ctx context.Context, r domain.Record) error
}

var (
	_ Appender = (*Dynamo)(nil)
	_ Querier  = (*Dynamo)(nil)
)

// Dynamo is the audit store on one DynamoDB table.
type Dynamo struct {
	db          API
	table       string
	now         func() time.Time
	maxAttempts int

	// locks serializes appends to one pipeline within this process, so that local mode's
	// in-process handlers do not race each other through conditional-write retries.
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// heads remembers the last record this instance wrote per pipeline (guarded by that
	// pipeline's lock). The next append tries the slot after it without reading the head
	// first; the conditional put still refuses the slot if another writer took it, and
	// only then is the head read. One round trip per append instead of two.
	heads map[string]*stored
}

// Option configures NewDynamo.
type Option func(*Dynamo)

// WithClock sets the clock used for records that arrive without a time.
func WithClock(now func() time.Time) Option { return func(d *Dynamo) { d.now = now } }

// WithMaxAttempts bounds how often Append retries after losing a race for the next
// sequence number (default 200: enough for dozens of concurrent writers on one pipeline).
func WithMaxAttempts(n int) Option {
	return func(d *Dynamo) {
		if n > 0 {
			d.maxAttempts = n
		}
	}
}

// NewDynamo returns the audit store on table.
func NewDynamo(client API, table string, opts ...Option) *Dynamo {
	d := &Dynamo{db: client, table: table, now: time.Now, maxAttempts: 200, locks: map[string]*sync.Mutex{}, heads: map[string]*stored{}}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Append adds r to the end of its pipeline's chain.
func (d *Dynamo) Append(ctx context.Context, r domain.Record) error {
	_, err := d.AppendEntry(ctx, r)
	return err
}

// AppendEntry adds r to the end of its pipeline's chain and returns it as stored.
//
// The next sequence number is claimed with a conditional put (attribute_not_exists): of
// several writers that read the same head, exactly one wins the slot and the others
// re-read the head and try the next one, so the chain serializes and never forks.
func (d *Dynamo) AppendEntry(ctx context.Context, r domain.Record) (Entry, error) {
	const op = "audit append"
	if err := validateRecord(r); err != nil {
		return Entry{}, err
	}
	if r.Time.IsZero() {
		r.Time = d.now()
	}
	lock := d.pipelineLock(r.Pipeline)
	lock.Lock()
	defer lock.Unlock()

	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		head := d.heads[r.Pipeline]
		if head == nil || attempt > 1 {
			var err error
			if head, err = d.head(ctx, r.Pipeline); err != nil {
				return Entry{}, fmt.Errorf("%s: %w", op, err)
			}
		}
		seq, prev := int64(1), ""
		if head != nil {
			seq, prev = head.Seq+1, head.Hash
		}
		s, err := newStored(r, seq, prev)
		if err != nil {
			return Entry{}, err
		}
		if head == nil {
			if err := d.register(ctx, r.Pipeline); err != nil {
				return Entry{}, fmt.Errorf("%s: %w", op, err)
			}
		}
		_, err = d.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(d.table),
			Item:                     s.item(),
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": workflow.AttrPK},
		})
		if err == nil {
			d.heads[r.Pipeline] = s
			return s.entry(), nil
		}
		delete(d.heads, r.Pipeline)
		if !isConditionFailed(err) {
			return Entry{}, domain.Errorf(domain.Transient, "%s: put %s %s: %w", op, s.PK, s.SK, err)
		}
		if attempt >= d.maxAttempts {
			return Entry{}, domain.Errorf(domain.Conflict, "%s: pipeline %s: lost the race for the next sequence number %d times", op, r.Pipeline, attempt)
		}
		// Full jitter: concurrent losers spread out instead of colliding again in lockstep.
		select {
		case <-ctx.Done():
			return Entry{}, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(backoff)) + 1)):
		}
		if backoff < 32*time.Millisecond {
			backoff *= 2
		}
	}
}

func validateRecord(r domain.Record) error {
	var missing []string
	if r.Type == "" {
		missing = append(missing, "type")
	}
	if r.Pipeline == "" {
		missing = append(missing, "pipeline")
	}
	if r.Actor == "" {
		missing = append(missing, "actor")
	}
	if len(missing) > 0 {
		return domain.Errorf(domain.Invalid, "audit record %q lacks %s", r.Type, strings.Join(missing, ", "))
	}
	return nil
}

func (d *Dynamo) pipelineLock(p string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.locks[p]
	if l == nil {
		l = &sync.Mutex{}
		d.locks[p] = l
	}
	return l
}

// head returns the last well-formed record of the pipeline's chain, or nil for an empty
// chain. Items with a malformed sort key (planted by hand) are skipped here and reported
// by Verify; they must not stop the trail from being written.
func (d *Dynamo) head(ctx context.Context, pipeline string) (*stored, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :seq)"),
		ExpressionAttributeNames:  map[string]string{"#pk": workflow.AttrPK, "#sk": workflow.AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pipePrefix + pipeline), ":seq": str(seqPrefix)},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(4),
	}
	for {
		out, err := d.db.Query(ctx, in)
		if err != nil {
			return nil, domain.Errorf(domain.Transient, "read head of pipeline %s: %w", pipeline, err)
		}
		for _, it := range out.Items {
			s := fromItem(it)
			// The key, not the seq attribute, decides the slot: an edited attribute must
			// not send every later append into an occupied slot.
			if n, ok := parseSeqKey(s.SK); ok {
				s.Seq = n
				return s, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// register records that the pipeline exists, so Verify can enumerate chains by a Query.
// It is written before the first record, so a crash in between leaves no unlisted chain.
func (d *Dynamo) register(ctx context.Context, pipeline string) error {
	_, err := d.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.table),
		Item: map[string]types.AttributeValue{
			workflow.AttrPK: str(registryPK),
			workflow.AttrSK: str(pipePrefix + pipeline),
			"pipeline":      str(pipeline),
		},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": workflow.AttrPK},
	})
	if err != nil && !isConditionFailed(err) {
		return domain.Errorf(domain.Transient, "register pipeline %s: %w", pipeline, err)
	}
	return nil
}

// Pipelines lists the pipelines that have an audit chain.
func (d *Dynamo) Pipelines(ctx context.Context) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": workflow.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(registryPK)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []string
	for {
		page, err := d.db.Query(ctx, in)
		if err != nil {
			return nil, domain.Errorf(domain.Transient, "list audited pipelines: %w", err)
		}
		for _, it := range page.Items {
			if p, ok := strings.CutPrefix(getS(it, workflow.AttrSK), pipePrefix); ok {
				out = append(out, p)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
