package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// MarkerAPI is the part of the DynamoDB client the deploy marker uses.
type MarkerAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ MarkerAPI = (*dynamodb.Client)(nil)

// Marker states. A run is deployed at most once: the marker is claimed (deploying)
// before the first side effect, so a retry after a Lambda timeout finds it and does not
// deploy again.
const (
	markerDeploying = "deploying"
	markerDeployed  = "deployed"
	markerFailed    = "failed"
)

// marker is the deploy marker item at PK "RUN#<run>", SK "DEPLOY".
type marker struct {
	Status         string
	Attempt        string
	StartedAt      time.Time
	FinishedAt     time.Time
	ManifestDigest string
	Target         string
	LogKey         string
	ExitCode       int
	Message        string
}

type markers struct {
	db    MarkerAPI
	table string
}

func markerKey(runID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		workflow.AttrPK: &types.AttributeValueMemberS{Value: "RUN#" + runID},
		workflow.AttrSK: &types.AttributeValueMemberS{Value: "DEPLOY"},
	}
}

func newAttempt() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// get returns the marker (strongly consistent), or nil when there is none.
func (m markers) get(ctx context.Context, runID string) (*marker, error) {
	out, err := m.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.table), Key: markerKey(runID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, artifact.Wrap(err, domain.Internal, "read deploy marker of run %s", runID)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	s := func(k string) string {
		if v, ok := out.Item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	mk := &marker{Status: s("status"), Attempt: s("attempt"), ManifestDigest: s("manifestDigest"), Target: s("target"), LogKey: s("logKey"), Message: s("message")}
	mk.StartedAt, _ = time.Parse(time.RFC3339Nano, s("startedAt"))
	mk.FinishedAt, _ = time.Parse(time.RFC3339Nano, s("finishedAt"))
	if v, ok := out.Item["exitCode"].(*types.AttributeValueMemberN); ok {
		mk.ExitCode, _ = strconv.Atoi(v.Value)
	}
	return mk, nil
}

// claim writes the marker if none exists. It reports false when one already does.
func (m markers) claim(ctx context.Context, runID string, mk marker) (bool, error) {
	item := markerKey(runID)
	item["status"] = &types.AttributeValueMemberS{Value: markerDeploying}
	item["attempt"] = &types.AttributeValueMemberS{Value: mk.Attempt}
	item["startedAt"] = &types.AttributeValueMemberS{Value: mk.StartedAt.UTC().Format(time.RFC3339Nano)}
	item["manifestDigest"] = &types.AttributeValueMemberS{Value: mk.ManifestDigest}
	if mk.Target != "" {
		item["target"] = &types.AttributeValueMemberS{Value: mk.Target}
	}
	_, err := m.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(m.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, artifact.Wrap(err, domain.Internal, "claim deploy marker of run %s", runID)
	}
	return true, nil
}

// finish records the attempt's outcome, only if the marker is still this attempt's.
func (m markers) finish(ctx context.Context, runID string, mk marker) error {
	_, err := m.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(m.table),
		Key:                 markerKey(runID),
		UpdateExpression:    aws.String("SET #s = :s, finishedAt = :f, exitCode = :e, logKey = :l, message = :m"),
		ConditionExpression: aws.String("attempt = :a"),
		ExpressionAttributeNames: map[string]string{
			"#s": "status",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: mk.Status},
			":f": &types.AttributeValueMemberS{Value: mk.FinishedAt.UTC().Format(time.RFC3339Nano)},
			":e": &types.AttributeValueMemberN{Value: strconv.Itoa(mk.ExitCode)},
			":l": &types.AttributeValueMemberS{Value: mk.LogKey},
			":m": &types.AttributeValueMemberS{Value: mk.Message},
			":a": &types.AttributeValueMemberS{Value: mk.Attempt},
		},
	})
	if err != nil {
		return artifact.Wrap(err, domain.Internal, "record the deploy outcome of run %s", runID)
	}
	return nil
}

// release deletes this attempt's marker: used only when the attempt stopped before any
// side effect that is not idempotent, so a retry may claim again.
func (m markers) release(ctx context.Context, runID, attempt string) error {
	_, err := m.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(m.table),
		Key:                 markerKey(runID),
		ConditionExpression: aws.String("attempt = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberS{Value: attempt},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return artifact.Wrap(err, domain.Internal, "release deploy marker of run %s", runID)
	}
	return nil
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}
