package stack

import (
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/shipgate/shipgate/shared/workflow"
)

// statement is one IAM statement with its resources rendered as JSON strings.
type statement struct {
	actions   []string
	resources []string
	condition string
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// roleStatements collects the statements of every policy attached to the role.
func (s *synthesized) roleStatements(roleID string) []statement {
	var out []statement
	for _, pol := range s.resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range asList(props(pol)["Roles"]) {
			if jsonString(r) == `{"Ref":"`+roleID+`"}` {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range asList(at(props(pol), "PolicyDocument", "Statement")) {
			if at(st, "Effect") != "Allow" {
				continue
			}
			var x statement
			for _, a := range asList(at(st, "Action")) {
				x.actions = append(x.actions, a.(string))
			}
			for _, r := range asList(at(st, "Resource")) {
				x.resources = append(x.resources, jsonString(r))
			}
			if c := at(st, "Condition"); c != nil {
				x.condition = jsonString(c)
			}
			out = append(out, x)
		}
	}
	return out
}

func (s *synthesized) fnRoleID(f workflow.Function) string {
	return *s.stack.Stack.GetLogicalId(s.stack.Functions.roles[f].Node().DefaultChild().(awscdk.CfnElement))
}

// TestLeastPrivilege: for every function, the exact set of actions its role allows, and
// for every statement, that its resources are this stack's own, narrowed as far as the
// handler's use allows (prefix of this pipeline, this state machine, this table).
func TestLeastPrivilege(t *testing.T) {
	s := synthStack(t)
	id := func(c awscdk.CfnElement) string { return *s.stack.Stack.GetLogicalId(c) }
	tableID := id(s.stack.Storage.Table.Node().DefaultChild().(awscdk.CfnElement))
	bucketID := id(s.stack.Storage.Bucket.Node().DefaultChild().(awscdk.CfnElement))
	topicID := id(s.stack.Notify.Topic.Node().DefaultChild().(awscdk.CfnElement))
	keyID := id(s.stack.Notify.Key.Node().DefaultChild().(awscdk.CfnElement))
	webhookID := id(s.stack.Storage.WebhookSecret.Node().DefaultChild().(awscdk.CfnElement))
	signingID := id(s.stack.Storage.SigningKey.Node().DefaultChild().(awscdk.CfnElement))

	base := []string{"logs:CreateLogStream", "logs:PutLogEvents",
		"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}
	s3r := []string{"s3:GetObject", "s3:ListBucket"}
	s3w := []string{"s3:AbortMultipartUpload", "s3:PutObject"}
	taskResponse := []string{"states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"}
	secret := []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"}
	publish := []string{"kms:Decrypt", "kms:GenerateDataKey", "sns:Publish"}
	cat := func(ls ...[]string) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l...)
		}
		return out
	}
	update := []string{"dynamodb:UpdateItem"}
	wantActions := map[workflow.Function][]string{
		workflow.FnTrigger:  cat(base, update, []string{"states:StartExecution", "states:DescribeExecution", "codecommit:GetCommit", "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}),
		workflow.FnAPI:      cat(base, update, s3r, []string{"states:StartExecution", "states:DescribeExecution", "states:ListExecutions", "states:GetExecutionHistory"}, taskResponse, secret),
		workflow.FnBuild:    cat(base, s3w, []string{"codecommit:GitPull", "codecommit:GetCommit"}),
		workflow.FnTest:     cat(base, s3r, s3w),
		workflow.FnStage:    cat(base, s3r, s3w),
		workflow.FnApproval: cat(base, update, s3r, taskResponse, secret, publish),
		workflow.FnExpire:   cat(base, update, publish),
		workflow.FnDeploy:   cat(base, update, []string{"dynamodb:DeleteItem"}, s3r, s3w),
		workflow.FnNotify:   cat(base, s3r, publish),
	}

	// resourceOK says whether a statement's resource is acceptable for an action.
	smArn := `:stateMachine:` + testConfig.PipelineName + `"`
	execArn := `:execution:` + testConfig.PipelineName + `:*"`
	resourceOK := func(f workflow.Function, action, res string) bool {
		svc := action[:strings.Index(action, ":")]
		switch {
		case svc == "logs":
			return strings.Contains(res, string(f)+"Logs")
		case svc == "dynamodb":
			return res == `{"Fn::GetAtt":["`+tableID+`","Arn"]}` || res == `{"Fn::Join":["",[{"Fn::GetAtt":["`+tableID+`","Arn"]},"/index/*"]]}`
		case action == "s3:ListBucket":
			return res == `{"Fn::GetAtt":["`+bucketID+`","Arn"]}` || strings.HasSuffix(res, `:s3:::demo-site-bucket"]]}`)
		case svc == "s3":
			if strings.HasSuffix(res, `:s3:::demo-site-bucket/*"]]}`) {
				return f == workflow.FnDeploy
			}
			for _, pre := range []string{prefixRuns, prefixWorkspaces, prefixLogs, prefixReports, prefixArtifacts} {
				if res == `{"Fn::Join":["",[{"Fn::GetAtt":["`+bucketID+`","Arn"]},"/`+pre+testConfig.PipelineName+`/*"]]}` {
					return true
				}
			}
			return false
		case action == "states:DescribeExecution" || action == "states:GetExecutionHistory":
			return strings.HasSuffix(res, execArn+"]]}")
		case svc == "states":
			return strings.HasSuffix(res, smArn+"]]}")
		case svc == "secretsmanager":
			if f == workflow.FnAPI && res == `{"Ref":"`+webhookID+`"}` {
				return true
			}
			return res == `{"Ref":"`+signingID+`"}`
		case svc == "sns":
			return res == `{"Ref":"`+topicID+`"}`
		case svc == "kms":
			return res == `{"Fn::GetAtt":["`+keyID+`","Arn"]}`
		case svc == "sqs":
			// the undelivered-push queue, as the Trigger's async failure destination
			return f == workflow.FnTrigger && strings.Contains(res, "CodeCommitUndelivered")
		case svc == "codecommit":
			return strings.HasSuffix(res, `:demo-repo"]]}`)
		}
		return false
	}

	for _, f := range AllFunctions() {
		t.Run(string(f), func(t *testing.T) {
			sts := s.roleStatements(s.fnRoleID(f))
			seen := map[string]bool{}
			for _, st := range sts {
				for _, a := range st.actions {
					seen[a] = true
					for _, r := range st.resources {
						if !resourceOK(f, a, r) {
							t.Errorf("%s allowed on %s: not this stack's resource, or broader than the handler needs", a, r)
						}
					}
					if a == "dynamodb:DeleteItem" && st.condition != `{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":"RUN#*"}}` &&
						st.condition != `{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["RUN#*"]}}` {
						t.Errorf("dynamodb:DeleteItem with condition %s, want it limited to RUN# partitions (never the audit chain)", st.condition)
					}
					if a == "s3:ListBucket" && strings.Contains(jsonString(st.resources), bucketID) && !strings.Contains(st.condition, `"s3:prefix"`) {
						t.Errorf("s3:ListBucket on the artifacts bucket without an s3:prefix condition")
					}
				}
			}
			var got []string
			for a := range seen {
				got = append(got, a)
			}
			want := append([]string{}, wantActions[f]...)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("actions:\n got  %v\n want %v", got, want)
			}
		})
	}
}

// TestStateMachineRole: the state machine may invoke the state functions and nothing
// else; it cannot start executions or answer tokens.
func TestStateMachineRole(t *testing.T) {
	s := synthStack(t)
	roleID := *s.stack.Stack.GetLogicalId(s.stack.Workflow.StateMachine.Role().Node().DefaultChild().(awscdk.CfnElement))
	invokable := map[string]bool{}
	for _, st := range s.roleStatements(roleID) {
		for _, a := range st.actions {
			switch {
			case a == "lambda:InvokeFunction":
				for _, r := range st.resources {
					invokable[r] = true
				}
			case strings.HasPrefix(a, "states:") || strings.HasPrefix(a, "dynamodb:") || strings.HasPrefix(a, "s3:"):
				t.Errorf("state machine role allows %s", a)
			}
		}
	}
	for _, f := range AllFunctions() {
		arn := `{"Fn::GetAtt":["` + s.fnIDs[f] + `","Arn"]}`
		entry := f != workflow.FnTrigger && f != workflow.FnAPI
		if invokable[arn] != entry {
			t.Errorf("state machine may invoke %s: %v, want %v", f, invokable[arn], entry)
		}
	}
}
