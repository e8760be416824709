package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// Claim item: one per push, keyed by the execution name. It carries no GSI attributes,
// so it stays out of every index the audit trail and approvals use.
const (
	claimPKPrefix = "PUSH#"
	claimSK       = "PUSH"
	attrInput     = "input"
	attrReceived  = "receivedAt"
	attrDelivery  = "deliveryId"
	attrPipeline  = "pipeline"
	attrAnnounced = "announced"
)

// ClaimKey is the table key of the claim of the push whose execution is name.
func ClaimKey(name string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		workflow.AttrPK: &ddbtypes.AttributeValueMemberS{Value: claimPKPrefix + name},
		workflow.AttrSK: &ddbtypes.AttributeValueMemberS{Value: claimSK},
	}
}

type claimed struct {
	input string      // the execution input every delivery starts with
	push  domain.Push // decoded from input (what the first delivery saw)
	first bool
}

// claim stores input as the push's execution input unless a delivery got there first, and
// returns the stored one either way.
func (s *Service) claim(ctx context.Context, name, input string, p domain.Push) (claimed, error) {
	item := ClaimKey(name)
	item[attrInput] = &ddbtypes.AttributeValueMemberS{Value: input}
	item[attrReceived] = &ddbtypes.AttributeValueMemberS{Value: p.ReceivedAt.Format(time.RFC3339Nano)}
	item[attrPipeline] = &ddbtypes.AttributeValueMemberS{Value: s.pipeline}
	if p.DeliveryID != "" {
		item[attrDelivery] = &ddbtypes.AttributeValueMemberS{Value: p.DeliveryID}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": workflow.AttrPK},
	})
	if err == nil {
		return claimed{input: input, push: p, first: true}, nil
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return claimed{}, classifyAWS("claim push "+name, err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: ClaimKey(name), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return claimed{}, classifyAWS("read claim of push "+name, err)
	}
	v, ok := out.Item[attrInput].(*ddbtypes.AttributeValueMemberS)
	if !ok {
		return claimed{}, domain.Errorf(domain.Internal, "claim of push %s has no stored input", name)
	}
	var in executionInput
	if err := json.Unmarshal([]byte(v.Value), &in); err != nil {
		return claimed{}, domain.Errorf(domain.Internal, "claim of push %s: stored input: %v", name, err)
	}
	return claimed{input: v.Value, push: in.Run.Push}, nil
}

// announce marks the claim as announced; true means this caller was first and owes the
// run.started record.
func (s *Service) announce(ctx context.Context, name string) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      ClaimKey(name),
		UpdateExpression:         aws.String("SET #a = :t"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND attribute_not_exists(#a)"),
		ExpressionAttributeNames: map[string]string{"#a": attrAnnounced, "#pk": workflow.AttrPK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":t": &ddbtypes.AttributeValueMemberS{Value: s.now().UTC().Format(time.RFC3339Nano)},
		},
	})
	if err == nil {
		return true, nil
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return false, classifyAWS("announce run "+name, err)
}

// unannounce gives the announcement back after the audit write failed. It is best effort:
// the delivery already fails, and if this fails too the record is lost (see the package
// comment for when it is written twice instead).
// It outlives the caller's deadline, since a timed-out audit write is the likely cause.
func (s *Service) unannounce(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      ClaimKey(name),
		UpdateExpression:         aws.String("REMOVE #a"),
		ExpressionAttributeNames: map[string]string{"#a": attrAnnounced},
	})
}

func (s *Service) skip(ctx context.Context, p domain.Push, reason string) (Result, error) {
	r := pushRecord(domain.RecPushSkipped, s.pipeline, "", p, s.now())
	r.Outcome = string(Skipped)
	r.Detail["reason"] = reason
	if err := s.audit.Append(ctx, r); err != nil {
		return Result{}, fmt.Errorf("record push.skipped: %w", err)
	}
	return Result{Outcome: Skipped, Reason: reason}, nil
}

func (s *Service) duplicate(ctx context.Context, p domain.Push, name, arn, reason string) (Result, error) {
	r := pushRecord(domain.RecPushDuplicate, s.pipeline, name, p, s.now())
	r.Outcome = string(Duplicate)
	r.Detail["reason"] = reason
	if arn != "" {
		r.Detail["executionArn"] = arn
	}
	if err := s.audit.Append(ctx, r); err != nil {
		return Result{}, fmt.Errorf("record push.duplicate for %s: %w", name, err)
	}
	return Result{Outcome: Duplicate, RunID: name, ExecutionARN: arn, Reason: reason}, nil
}

func startedRecord(pipeline, name, arn string, p domain.Push) domain.Record {
	r := pushRecord(domain.RecRunStarted, pipeline, name, p, p.ReceivedAt)
	r.Outcome = string(Started)
	r.Detail["executionArn"] = arn
	r.Detail["commits"] = len(p.Commits)
	if p.CommitsTruncated {
		r.Detail["commitsTruncated"] = true
	}
	if p.CompareURL != "" {
		r.Detail["compareUrl"] = p.CompareURL
	}
	if p.Message != "" {
		r.Detail["message"] = truncateUTF8(p.Message, 512)
	}
	return r
}

func pushRecord(t domain.RecordType, pipeline, runID string, p domain.Push, at time.Time) domain.Record {
	d := map[string]any{}
	for k, v := range map[string]string{
		"provider": string(p.Provider), "repository": p.Repository, "ref": p.Ref, "branch": p.Branch,
		"before": p.Before, "deliveryId": p.DeliveryID, "pusherName": p.Pusher.Name,
		"pusherEmail": p.Pusher.Email, "pusherLogin": p.Pusher.Login,
	} {
		if v != "" {
			d[k] = v
		}
	}
	if !p.ReceivedAt.IsZero() {
		d["receivedAt"] = p.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	return domain.Record{
		Type: t, Pipeline: pipeline, RunID: runID, Commit: p.Commit,
		Actor: Actor(p.Pusher), Time: at.UTC(), Detail: d,
	}
}

// Actor is how the audit trail names a pusher: login (GitHub login or IAM ARN), else
// email, else name, else "unknown".
func Actor(id domain.Identity) string {
	for _, v := range []string{id.Login, id.Email, id.Name} {
		if v != "" {
			return v
		}
	}
	return "unknown"
}

// classifyAWS marks throttling and 5xx answers as Transient (worth a redelivery) and
// everything else as Internal.
func classifyAWS(op string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
			"InternalServerError", "ServiceUnavailable", "LimitExceededException":
			return &domain.Error{Kind: domain.Transient, Op: op, Err: err}
		}
		var fault interface{ ErrorFault() smithy.ErrorFault }
		if errors.As(err, &fault) && fault.ErrorFault() == smithy.FaultServer {
			return &domain.Error{Kind: domain.Transient, Op: op, Err: err}
		}
		return &domain.Error{Kind: domain.Internal, Op: op, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &domain.Error{Kind: domain.Transient, Op: op, Err: err}
	}
	// Network errors and retries exhausted end up here: worth another delivery.
	return &domain.Error{Kind: domain.Transient, Op: op, Err: err}
}
