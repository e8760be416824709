package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codecommit"
	cctypes "github.com/aws/aws-sdk-go-v2/service/codecommit/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	lambdatrigger "github.com/shipgate/shipgate/lambdas/trigger"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/table/tabletest"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/ccapi"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

const (
	head = "3e5983a5b2c8d3e1f0a9b8c7d6e5f4a3b2c1d0e9"
	old  = "26a8f2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5"
)

type getCommit struct{}

func (getCommit) GetCommit(_ context.Context, in *codecommit.GetCommitInput, _ ...func(*codecommit.Options)) (*codecommit.GetCommitOutput, error) {
	if aws.ToString(in.CommitId) != head {
		return nil, errors.New("unexpected commit " + aws.ToString(in.CommitId))
	}
	return &codecommit.GetCommitOutput{Commit: &cctypes.Commit{CommitId: aws.String(head), Message: aws.String("Fix login\n"),
		Parents: []string{old}, Author: &cctypes.UserInfo{Name: aws.String("Mary Major"), Email: aws.String("mary@example.com")}}}, nil
}

// TestHandlerThroughTheLambdaRuntimeCodec feeds the documented CodeCommit event to the
// handler the way Lambda does (aws-lambda-go's JSON codec), with the real audit store on
// dynalite, and checks the run, the result JSON and the typed error of a bad event.
func TestHandlerThroughTheLambdaRuntimeCodec(t *testing.T) {
	ctx := context.Background()
	db := newDB(t, "shipgate")
	sfn := triggertest.NewSFN(t)
	cfg := app.Config{Pipeline: "demo", Table: "shipgate", StateMachineARN: triggertest.StateMachineARN, Branches: []string{"my*"}}
	h, err := lambdatrigger.NewWithOptions(cfg, &app.Deps{DynamoDB: db}, trigger.Options{SFN: sfn.Client(), Commits: ccapi.Commits{API: getCommit{}}})
	if err != nil {
		t.Fatal(err)
	}
	if h.Service() == nil {
		t.Fatal("Service() is nil")
	}
	invoke := lambda.NewHandler(h.Handle)
	sample, err := os.ReadFile(filepath.Join("..", "..", "shared", "trigger", "testdata", "codecommit-reference-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke.Invoke(ctx, sample)
	if err != nil {
		t.Fatal(err)
	}
	var res trigger.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Started || res.RunID != trigger.ExecutionName("MyDemoRepo", "refs/heads/myBranch", head) {
		t.Errorf("result %s", out)
	}
	execs := sfn.Executions()
	if len(execs) != 1 || !strings.Contains(execs[0].Input, `"message":"Fix login"`) || !strings.Contains(execs[0].Input, `"provider":"codecommit"`) {
		t.Errorf("executions %+v", execs)
	}
	page, err := audit.NewDynamo(db, "shipgate").Query(ctx, audit.Filter{Pipeline: "demo", Type: domain.RecRunStarted})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 || page.Records[0].Record.Actor != "arn:aws:iam::123456789012:user/Mary_Major" {
		t.Errorf("run.started records %+v", page.Records)
	}

	// An event that is not a CodeCommit push fails loudly, typed for the Lambda boundary.
	bad, _ := json.Marshal(events.CloudWatchEvent{ID: "x", DetailType: "Something Else", Detail: json.RawMessage(`{}`)})
	_, err = invoke.Invoke(ctx, bad)
	if err == nil {
		t.Fatal("a foreign event was accepted")
	}
	if name := reflect.TypeOf(err).Elem().Name(); name != "Internal" {
		t.Errorf("error type %s, want Internal (never retried)", name)
	}
}

func TestNewNeedsItsConfiguration(t *testing.T) {
	_, err := lambdatrigger.New(app.Config{Pipeline: "demo"}, &app.Deps{})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v, want the missing pieces named", err)
	}
}

// newDB starts a dynalite for the test and creates the shipgate table on it.
func newDB(t *testing.T, name string) *dynamodb.Client {
	t.Helper()
	db := tabletest.Start("")
	t.Cleanup(db.Stop)
	db.Create(t, name)
	return db.Client
}
