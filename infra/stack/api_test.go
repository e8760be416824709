package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/shipgate/shipgate/shared/workflow"

	"sort"
	"strings"
	"testing"
)

// TestRoutes: every route is public at API Gateway and one Lambda integration serves
// all; the Api function authenticates them (webhook HMAC, approval link, and the Cognito
// sign-in for the console and /api), so it gets the pool, client and hosted UI domain.
func TestRoutes(t *testing.T) {
	s := synthStack(t)
	got := map[string]string{}
	integrations := map[string]bool{}
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := props(r)
		got[p["RouteKey"].(string)] = p["AuthorizationType"].(string)
		integrations[jsonString(p["Target"])] = true
	}
	want := map[string]string{
		"POST /webhooks/github": "NONE",
		"GET /approvals/{id}":   "NONE",
		"HEAD /approvals/{id}":  "NONE",
		"POST /approvals/{id}":  "NONE",
		"GET /":                 "NONE",
		"ANY /api/{proxy+}":     "JWT",
		"GET /{proxy+}":         "NONE",
	}
	if jsonString(got) != jsonString(want) {
		t.Errorf("routes (key -> authorization) = %s\nwant %s", jsonString(got), jsonString(want))
	}
	if len(integrations) != 1 {
		t.Errorf("%d distinct integrations, want 1 (the Api function)", len(integrations))
	}
	_, integ := s.only(t, "AWS::ApiGatewayV2::Integration")
	if !strings.Contains(jsonString(props(integ)["IntegrationUri"]), s.fnIDs["Api"]) {
		t.Errorf("integration targets %s, want the Api function", jsonString(props(integ)["IntegrationUri"]))
	}
	// /api (programs with a Bearer token) is behind a Cognito JWT authorizer for this
	// pool and client; the browser console is authenticated by the function's session.
	_, authz := s.only(t, "AWS::ApiGatewayV2::Authorizer")
	ap := props(authz)
	if ap["AuthorizerType"] != "JWT" || !strings.Contains(jsonString(ap["JwtConfiguration"]), "cognito-idp") ||
		!strings.Contains(jsonString(ap["JwtConfiguration"]), "Audience") {
		t.Errorf("authorizer = %s, want a JWT authorizer with the pool as issuer and the client as audience", jsonString(ap))
	}
	// Each public route's APIG4 suppression says how that route is authenticated.
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		key := props(r)["RouteKey"].(string)
		if props(r)["AuthorizationType"] == "JWT" {
			continue
		}
		var reason string
		for _, rule := range asList(at(r, "Metadata", "cdk_nag", "rules_to_suppress")) {
			if at(rule, "id") == "AwsSolutions-APIG4" {
				reason, _ = at(rule, "reason").(string)
			}
		}
		wantWord := "Cognito"
		switch {
		case strings.Contains(key, "/webhooks/"):
			wantWord = "HMAC"
		case strings.Contains(key, "/approvals/"):
			wantWord = "link"
		}
		if !strings.Contains(reason, wantWord) {
			t.Errorf("route %s (%s): APIG4 suppression reason %q does not mention %s", key, id, reason, wantWord)
		}
	}

	poolID := *s.stack.Stack.GetLogicalId(s.stack.API.UserPool.Node().DefaultChild().(cfnEl))
	_, client := s.only(t, "AWS::Cognito::UserPoolClient")
	cp := props(client)
	for _, tc := range []struct{ field, want string }{
		{"AllowedOAuthFlows", `["code"]`},
		{"AllowedOAuthFlowsUserPoolClient", `true`},
		{"GenerateSecret", `false`},
		{"AllowedOAuthScopes", `["openid","email"]`},
	} {
		if g := jsonString(cp[tc.field]); g != tc.want {
			t.Errorf("user pool client %s = %s, want %s", tc.field, g, tc.want)
		}
	}
	apiID := *s.stack.Stack.GetLogicalId(s.stack.API.HttpApi.Node().DefaultChild().(cfnEl))
	for field, path := range map[string]string{"CallbackURLs": "/auth/callback", "LogoutURLs": "/auth/signed-out"} {
		urls := asList(cp[field])
		if len(urls) != 1 || !strings.Contains(jsonString(urls[0]), apiID) || !strings.HasSuffix(jsonString(urls[0]), `"`+path+`"]]}`) {
			t.Errorf("user pool client %s = %s, want only <api url>%s", field, jsonString(cp[field]), path)
		}
	}
	vars, _ := at(props(s.resources("AWS::Lambda::Function")[s.fnIDs["Api"]]), "Environment", "Variables").(map[string]any)
	clientID := *s.stack.Stack.GetLogicalId(s.stack.API.Client.Node().DefaultChild().(cfnEl))
	domainID := *s.stack.Stack.GetLogicalId(s.stack.API.Domain.Node().DefaultChild().(cfnEl))
	for _, tc := range []struct{ key, want string }{
		{workflow.EnvCognitoPoolID, `{"Ref":"` + poolID + `"}`},
		{workflow.EnvCognitoClientID, `{"Ref":"` + clientID + `"}`},
		{workflow.EnvCognitoDomain, domainID},
	} {
		if g := jsonString(vars[tc.key]); !strings.Contains(g, tc.want) {
			t.Errorf("Api function %s = %s, want it to reference %s", tc.key, g, tc.want)
		}
	}
	if g := jsonString(vars[workflow.EnvCognitoDomain]); !strings.Contains(g, "https://") || !strings.Contains(g, ".amazoncognito.com") {
		t.Errorf("Api function %s = %s, want the hosted UI's https base URL", workflow.EnvCognitoDomain, g)
	}
	_, pool := s.only(t, "AWS::Cognito::UserPool")
	pp := props(pool)
	if jsonString(at(pp, "AdminCreateUserConfig", "AllowAdminCreateUserOnly")) != "true" || pp["MfaConfiguration"] != "ON" {
		t.Errorf("user pool: admin-created users only and MFA on, got %s / %v", jsonString(pp["AdminCreateUserConfig"]), pp["MfaConfiguration"])
	}
	if pp["UserPoolTier"] != "PLUS" || jsonString(at(pp, "UserPoolAddOns", "AdvancedSecurityMode")) != `"ENFORCED"` {
		t.Errorf("user pool tier %v add-ons %s, want PLUS with threat protection enforced", pp["UserPoolTier"], jsonString(pp["UserPoolAddOns"]))
	}
	_, stage := s.only(t, "AWS::ApiGatewayV2::Stage")
	sp := props(stage)
	format, _ := at(sp, "AccessLogSettings", "Format").(string)
	if format == "" || at(sp, "AccessLogSettings", "DestinationArn") == nil {
		t.Errorf("stage has no access log settings: %s", jsonString(sp))
	}
	for _, leak := range []string{"querystring", "queryString", "$context.path"} {
		if strings.Contains(format, leak) {
			t.Errorf("access log format contains %s: the approval link's token would be logged", leak)
		}
	}
	if at(sp, "DefaultRouteSettings", "ThrottlingRateLimit") == nil {
		t.Errorf("stage has no throttling: %s", jsonString(sp))
	}
}

// TestCodeCommitRule: branch creations and updates of the configured repository reach
// the Trigger function, with retries and a dead-letter queue.
func TestCodeCommitRule(t *testing.T) {
	s := synthStack(t)
	_, rule := s.only(t, "AWS::Events::Rule")
	p := props(rule)
	pat := p["EventPattern"]
	if got := jsonString(at(pat, "detail")); got != `{"event":["referenceCreated","referenceUpdated"],"referenceType":["branch"]}` {
		t.Errorf("detail pattern = %s", got)
	}
	if got := jsonString(at(pat, "detail-type")); got != `["CodeCommit Repository State Change"]` {
		t.Errorf("detail-type = %s", got)
	}
	if got := jsonString(at(pat, "source")); got != `["aws.codecommit"]` {
		t.Errorf("source = %s", got)
	}
	if got := jsonString(at(pat, "resources")); !strings.Contains(got, ":demo-repo") {
		t.Errorf("resources = %s, want the demo-repo repository", got)
	}
	targets := asList(p["Targets"])
	if len(targets) != 1 || !strings.Contains(jsonString(at(targets[0], "Arn")), s.fnIDs["Trigger"]) {
		t.Fatalf("targets = %s, want the Trigger function", jsonString(targets))
	}
	if at(targets[0], "DeadLetterConfig", "Arn") == nil || at(targets[0], "RetryPolicy", "MaximumRetryAttempts") == nil {
		t.Errorf("target has no dead-letter queue or retry policy: %s", jsonString(targets[0]))
	}
	dlq := jsonString(at(targets[0], "DeadLetterConfig", "Arn"))
	_, eic := s.only(t, "AWS::Lambda::EventInvokeConfig")
	if got := jsonString(at(props(eic), "DestinationConfig", "OnFailure", "Destination")); got != dlq {
		t.Errorf("Trigger's async failures go to %s, want the rule's dead-letter queue %s", got, dlq)
	}
	if !strings.Contains(jsonString(props(eic)["FunctionName"]), s.fnIDs["Trigger"]) {
		t.Errorf("async invoke config is for %s, want the Trigger", jsonString(props(eic)["FunctionName"]))
	}
}

// TestAlarms: ExecutionsFailed on the state machine and Errors on each function, each
// with an action on the alarm topic.
func TestAlarms(t *testing.T) {
	s := synthStack(t)
	alarmTopic := *s.stack.Stack.GetLogicalId(s.stack.Notify.Alarms.Node().DefaultChild().(cfnEl))
	var metrics []string
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := props(a)
		if got := jsonString(p["AlarmActions"]); got != `[{"Ref":"`+alarmTopic+`"}]` {
			t.Errorf("alarm %s actions = %s, want the alarm topic", id, got)
		}
		dims := jsonString(p["Dimensions"])
		switch p["MetricName"] {
		case "ExecutionsFailed":
			metrics = append(metrics, "ExecutionsFailed")
		case "Errors":
			for f, fid := range s.fnIDs {
				if strings.Contains(dims, `"`+fid+`"`) {
					metrics = append(metrics, "Errors:"+string(f))
				}
			}
		default:
			metrics = append(metrics, p["MetricName"].(string))
		}
	}
	sort.Strings(metrics)
	want := []string{"ApproximateNumberOfMessagesVisible", "Errors:Api", "Errors:Approval", "Errors:Build", "Errors:Deploy", "Errors:Expire",
		"Errors:Notify", "Errors:Stage", "Errors:Test", "Errors:Trigger", "ExecutionsFailed"}
	if strings.Join(metrics, " ") != strings.Join(want, " ") {
		t.Errorf("alarms on %v\nwant %v", metrics, want)
	}
}

// TestOutputs: the keys the CLI and the docs rely on.
func TestOutputs(t *testing.T) {
	s := synthStack(t)
	outs, _ := s.template["Outputs"].(map[string]any)
	smID := *s.stack.Stack.GetLogicalId(s.stack.Workflow.StateMachine.Node().DefaultChild().(cfnEl))
	tableID := *s.stack.Stack.GetLogicalId(s.stack.Storage.Table.Node().DefaultChild().(cfnEl))
	bucketID := *s.stack.Stack.GetLogicalId(s.stack.Storage.Bucket.Node().DefaultChild().(cfnEl))
	tests := []struct{ key, want string }{
		{OutStateMachineArn, `{"Ref":"` + smID + `"}`},
		{OutTableName, `{"Ref":"` + tableID + `"}`},
		{OutBucketName, `{"Ref":"` + bucketID + `"}`},
		{OutPipelineName, `"` + testConfig.PipelineName + `"`},
		{OutWebhookURL, `"/webhooks/github"]]}`},
		{OutConsoleURL, `"/"]]}`},
		{OutLoginURL, `"/auth/login"]]}`},
	}
	for _, tc := range tests {
		got := jsonString(at(outs, tc.key, "Value"))
		if !strings.HasSuffix(got, tc.want) {
			t.Errorf("output %s = %s, want it to end with %s", tc.key, got, tc.want)
		}
	}
}

// TestNag: cdk-nag's AwsSolutions pack ran (its report is not empty), reports nothing
// unsuppressed (neither in its report nor as error/warning annotations), and every
// suppression sits on a resource (none stack-wide), carries a reason and is used.
func TestNag(t *testing.T) {
	s := synthStack(t)
	if len(s.nagReport) < 20 {
		t.Fatalf("nag report has %d rows: did the AwsSolutions pack run?", len(s.nagReport))
	}
	suppressedRules := map[string]bool{}
	counts := map[string]int{}
	for _, row := range s.nagReport[1:] {
		if len(row) < 3 {
			t.Fatalf("malformed nag report row %q", row)
		}
		counts[row[2]]++
		switch row[2] {
		case "Non-Compliant":
			t.Errorf("unsuppressed finding %s on %s", row[0], row[1])
		case "Suppressed":
			suppressedRules[row[0]] = true
		}
	}
	for path, entries := range s.metadata {
		for _, e := range asList(entries) {
			typ, _ := at(e, "type").(string)
			if typ == "aws:cdk:error" || typ == "aws:cdk:warning" {
				t.Errorf("%s %s: %s", typ, path, jsonString(at(e, "data")))
			}
		}
	}
	if tm, _ := s.template["Metadata"].(map[string]any); tm != nil && tm["cdk_nag"] != nil {
		t.Errorf("stack-wide nag suppressions: %s", jsonString(tm["cdk_nag"]))
	}
	n := 0
	for id, r := range s.template["Resources"].(map[string]any) {
		for _, rule := range asList(at(r, "Metadata", "cdk_nag", "rules_to_suppress")) {
			n++
			rid, _ := at(rule, "id").(string)
			if reason, _ := at(rule, "reason").(string); len(reason) < 30 {
				t.Errorf("%s: suppression %s has no real reason: %q", id, rid, reason)
			}
			if !suppressedRules[rid] {
				t.Errorf("%s: suppression of %s matches no finding; remove it", id, rid)
			}
		}
	}
	t.Logf("cdk-nag: %d compliant, %d suppressed, %d non-compliant checks; %d suppression entries (incl. inherited by child resources)",
		counts["Compliant"], counts["Suppressed"], counts["Non-Compliant"], n)
	t.Logf("synth: %v in total, of which %v defining the stack (including go build of the zip Lambdas) and %v app.Synth with cdk-nag",
		s.took.Round(1e7), s.define.Round(1e7), (s.took - s.define).Round(1e7))
}

type cfnEl = awscdk.CfnElement
