package ddblocal_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/ddblocal"
	"github.com/shipgate/shipgate/shared/table"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := ddblocal.Start(ddblocal.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	ep := awsclient.Endpoints{DynamoDB: s.URL}
	cfg, _ := awsclient.Load(ctx, ep)
	c := awsclient.DynamoDB(cfg, ep)
	if err := table.Ensure(ctx, c, "tbl"); err != nil {
		t.Fatal(err)
	}
	put := func(pk, sk string, cond *string) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"), Item: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
			"GSI1PK": &types.AttributeValueMemberS{Value: "g"}, "GSI1SK": &types.AttributeValueMemberS{Value: sk},
			"n": &types.AttributeValueMemberN{Value: "1.50"},
		}, ConditionExpression: cond})
		return err
	}
	for _, sk := range []string{"b", "a", "c"} {
		if err := put("p", sk, aws.String("attribute_not_exists(PK)")); err != nil {
			t.Fatal(err)
		}
	}
	err = put("p", "a", aws.String("attribute_not_exists(PK)"))
	var ccf *types.ConditionalCheckFailedException
	if !errorsAs(err, &ccf) {
		t.Fatalf("second put: %v", err)
	}
	out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("tbl"), IndexName: aws.String("GSI1"),
		KeyConditionExpression: aws.String("GSI1PK = :g AND GSI1SK > :a"), ExpressionAttributeValues: map[string]types.AttributeValue{
			":g": &types.AttributeValueMemberS{Value: "g"}, ":a": &types.AttributeValueMemberS{Value: "a"}}, ScanIndexForward: aws.Bool(false), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 || out.Items[0]["SK"].(*types.AttributeValueMemberS).Value != "c" || out.LastEvaluatedKey == nil {
		t.Fatalf("query: %+v", out)
	}
	up, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "p"}, "SK": &types.AttributeValueMemberS{Value: "a"}},
		UpdateExpression: aws.String("SET n = n + :one, #l = list_append(if_not_exists(#l, :e), :x) REMOVE GSI1PK"), ExpressionAttributeNames: map[string]string{"#l": "l"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":e": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			":x": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "z"}}}}, ReturnValues: types.ReturnValueAllNew})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.Attributes["n"].(*types.AttributeValueMemberN).Value; got != "2.5" {
		t.Fatalf("n = %s", got)
	}
	s.Close()
	s2, err := ddblocal.Start(ddblocal.Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ep = awsclient.Endpoints{DynamoDB: s2.URL}
	c = awsclient.DynamoDB(cfg, ep)
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "p"}, "SK": &types.AttributeValueMemberS{Value: "a"}}, ConsistentRead: aws.Bool(true)})
	if err != nil || g.Item["l"] == nil || g.Item["GSI1PK"] != nil {
		t.Fatalf("get after restart: %v %+v", err, g)
	}
}
