package ddblocal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/ddblocal"
)

// Many clients race for one key with conditional writes: exactly one put wins, and
// counters updated in parallel lose no increment.
func TestConcurrentConditionalWrites(t *testing.T) {
	s, err := ddblocal.Start(ddblocal.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := client(t, s.URL)
	ctx := context.Background()
	if err := createFixture(ctx, c); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for round := 0; round < 5; round++ {
		key := fmt.Sprintf("race%d", round)
		var wg sync.WaitGroup
		results := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, results[i] = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tH),
					Item:                map[string]types.AttributeValue{"id": S(key), "who": N(fmt.Sprint(i))},
					ConditionExpression: aws.String("attribute_not_exists(id)")})
			}(i)
		}
		wg.Wait()
		winner, wins := -1, 0
		for i, err := range results {
			var ccf *types.ConditionalCheckFailedException
			switch {
			case err == nil:
				winner = i
				wins++
			case !errors.As(err, &ccf):
				t.Errorf("round %d writer %d: %v; want success or ConditionalCheckFailedException", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won; want exactly 1", round, wins)
		}
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tH), Key: map[string]types.AttributeValue{"id": S(key)}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Item["who"].(*types.AttributeValueMemberN).Value; got != fmt.Sprint(winner) {
			t.Errorf("round %d: stored writer %s; want the winner %d", round, got, winner)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tH), Key: map[string]types.AttributeValue{"id": S("counter")},
					UpdateExpression: aws.String("ADD hits :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": N("1")}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tH), Key: map[string]types.AttributeValue{"id": S("counter")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Item["hits"].(*types.AttributeValueMemberN).Value; got != fmt.Sprint(n*5) {
		t.Errorf("counter = %s after %d parallel increments", got, n*5)
	}
}
