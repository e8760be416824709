package stack

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/shipgate/shipgate/shared/workflow"
)

// TestTable: the audit/approvals table has exactly the shared key schema, and the
// properties an audit trail needs (PITR, deletion protection, encryption, never a TTL).
func TestTable(t *testing.T) {
	s := synthStack(t)
	_, tbl := s.only(t, "AWS::DynamoDB::Table")
	p := props(tbl)
	checks := []struct {
		name string
		got  any
		want string
	}{
		{"key schema", p["KeySchema"], `[{"AttributeName":"PK","KeyType":"HASH"},{"AttributeName":"SK","KeyType":"RANGE"}]`},
		{"billing", p["BillingMode"], `"PAY_PER_REQUEST"`},
		{"PITR", at(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"), `true`},
		{"deletion protection", p["DeletionProtectionEnabled"], `true`},
		{"encryption", p["SSESpecification"], `{"SSEEnabled":true}`},
		{"no TTL", p["TimeToLiveSpecification"], `null`},
		{"retained", tbl["DeletionPolicy"], `"Retain"`},
	}
	for _, c := range checks {
		if got := jsonString(c.got); got != c.want {
			t.Errorf("table %s = %s, want %s", c.name, got, c.want)
		}
	}
	var gotIx []string
	for _, g := range p["GlobalSecondaryIndexes"].([]any) {
		gotIx = append(gotIx, jsonString(g))
	}
	var wantIx []string
	for _, ix := range workflow.TableIndexes() {
		wantIx = append(wantIx, `{"IndexName":"`+ix.Name+`","KeySchema":[{"AttributeName":"`+ix.PK+`","KeyType":"HASH"},{"AttributeName":"`+ix.SK+`","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}`)
	}
	sort.Strings(gotIx)
	if strings.Join(gotIx, "\n") != strings.Join(wantIx, "\n") {
		t.Errorf("GSIs:\n%s\nwant:\n%s", strings.Join(gotIx, "\n"), strings.Join(wantIx, "\n"))
	}
	for _, a := range p["AttributeDefinitions"].([]any) {
		if typ := at(a, "AttributeType"); typ != "S" {
			t.Errorf("attribute %v has type %v, want S", at(a, "AttributeName"), typ)
		}
	}
}

// TestBuckets: the artifacts bucket is versioned, private, TLS-only, encrypted, logged,
// and its only expiring lifecycle rule is for workspaces/.
func TestBuckets(t *testing.T) {
	s := synthStack(t)
	artID := *s.stack.Stack.GetLogicalId(s.stack.Storage.Bucket.Node().DefaultChild().(awscdk.CfnElement))
	logID := *s.stack.Stack.GetLogicalId(s.stack.Storage.LogBucket.Node().DefaultChild().(awscdk.CfnElement))
	buckets := s.resources("AWS::S3::Bucket")
	if len(buckets) != 2 {
		t.Fatalf("%d buckets, want 2 (artifacts, access logs)", len(buckets))
	}
	for _, id := range []string{artID, logID} {
		b := buckets[id]
		p := props(b)
		checks := []struct {
			name string
			got  any
			want string
		}{
			{"public access block", p["PublicAccessBlockConfiguration"], `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}`},
			{"encryption", at(p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm"), `"AES256"`},
			{"retained", b["DeletionPolicy"], `"Retain"`},
		}
		for _, c := range checks {
			if got := jsonString(c.got); got != c.want {
				t.Errorf("bucket %s %s = %s, want %s", id, c.name, got, c.want)
			}
		}
		if !s.bucketDeniesInsecureTransport(id) {
			t.Errorf("bucket %s: no policy denies aws:SecureTransport=false", id)
		}
	}
	p := props(buckets[artID])
	if got := jsonString(at(p, "VersioningConfiguration", "Status")); got != `"Enabled"` {
		t.Errorf("artifacts versioning = %s, want Enabled", got)
	}
	if got := jsonString(at(p, "LoggingConfiguration", "DestinationBucketName")); got != `{"Ref":"`+logID+`"}` {
		t.Errorf("artifacts access logs go to %s, want the log bucket %s", got, logID)
	}
	rules, _ := at(p, "LifecycleConfiguration", "Rules").([]any)
	expiring := 0
	for _, r := range rules {
		if at(r, "ExpirationInDays") == nil && at(r, "NoncurrentVersionExpiration") == nil {
			continue
		}
		expiring++
		if pre := at(r, "Prefix"); pre != "workspaces/" {
			t.Errorf("lifecycle rule %s expires objects under prefix %v; only workspaces/ may expire (artifacts/ never)", jsonString(r), pre)
		}
	}
	if expiring != 1 {
		t.Errorf("%d expiring lifecycle rules, want exactly 1 (workspaces/)", expiring)
	}
}

func (s *synthesized) bucketDeniesInsecureTransport(bucketID string) bool {
	for _, pol := range s.resources("AWS::S3::BucketPolicy") {
		if jsonString(props(pol)["Bucket"]) != `{"Ref":"`+bucketID+`"}` {
			continue
		}
		for _, st := range at(props(pol), "PolicyDocument", "Statement").([]any) {
			if at(st, "Effect") == "Deny" && jsonString(at(st, "Condition", "Bool", "aws:SecureTransport")) == `"false"` {
				return true
			}
		}
	}
	return false
}

// TestNotifyTopic: the topic is KMS-encrypted and TLS-only, and each recipient has one
// email subscription filtered on the recipient attribute to their own address.
func TestNotifyTopic(t *testing.T) {
	s := synthStack(t)
	topicID := *s.stack.Stack.GetLogicalId(s.stack.Notify.Topic.Node().DefaultChild().(awscdk.CfnElement))
	keyID := *s.stack.Stack.GetLogicalId(s.stack.Notify.Key.Node().DefaultChild().(awscdk.CfnElement))
	topic := s.resources("AWS::SNS::Topic")[topicID]
	if got := jsonString(props(topic)["KmsMasterKeyId"]); got != `{"Fn::GetAtt":["`+keyID+`","Arn"]}` {
		t.Errorf("topic KmsMasterKeyId = %s, want the stack's key %s", got, keyID)
	}
	if got := jsonString(props(s.resources("AWS::KMS::Key")[keyID])["EnableKeyRotation"]); got != "true" {
		t.Errorf("key rotation = %s, want true", got)
	}
	sslDenied := false
	for _, pol := range s.resources("AWS::SNS::TopicPolicy") {
		if !strings.Contains(jsonString(props(pol)["Topics"]), topicID) {
			continue
		}
		for _, st := range at(props(pol), "PolicyDocument", "Statement").([]any) {
			if at(st, "Effect") == "Deny" && jsonString(at(st, "Condition", "Bool", "aws:SecureTransport")) == `"false"` {
				sslDenied = true
			}
		}
	}
	if !sslDenied {
		t.Errorf("topic policy does not deny aws:SecureTransport=false")
	}
	got := map[string]string{}
	for _, sub := range s.resources("AWS::SNS::Subscription") {
		p := props(sub)
		if jsonString(p["TopicArn"]) != `{"Ref":"`+topicID+`"}` {
			continue
		}
		if p["Protocol"] != "email" {
			t.Errorf("subscription protocol %v, want email", p["Protocol"])
		}
		got[p["Endpoint"].(string)] = jsonString(p["FilterPolicy"])
	}
	want := map[string]string{}
	for _, e := range []string{"alice@example.com", "bob@example.com", "ops@example.com"} {
		want[e] = `{"` + RecipientAttribute + `":["` + e + `"]}`
	}
	if jsonString(got) != jsonString(want) {
		t.Errorf("subscriptions (endpoint -> filter) = %s\nwant %s", jsonString(got), jsonString(want))
	}
}

// TestSecrets: webhook secret, link-signing key and (GitHub only) token are generated,
// and nothing else creates secrets.
func TestSecrets(t *testing.T) {
	s := synthStack(t)
	secrets := s.resources("AWS::SecretsManager::Secret")
	if len(secrets) != 2 {
		t.Fatalf("%d secrets, want 2 (webhook secret, link-signing key; no GitHub token for a CodeCommit repo)", len(secrets))
	}
	for id, sec := range secrets {
		if n := at(props(sec), "GenerateSecretString", "PasswordLength"); n == nil || n.(float64) < 40 {
			t.Errorf("secret %s generated length %v, want >= 40", id, n)
		}
	}
}

// TestFunctions: every function is arm64; zip functions are provided.al2023 with a
// bootstrap handler; Build and Test are container images with the configured memory and
// timeout; every function has its own role and log group.
func TestFunctions(t *testing.T) {
	s := synthStack(t)
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != len(AllFunctions()) {
		t.Errorf("%d Lambda functions, want %d", len(fns), len(AllFunctions()))
	}
	image := map[workflow.Function]bool{}
	for _, f := range ImageFunctions() {
		image[f] = true
	}
	roles := map[string]bool{}
	for _, f := range AllFunctions() {
		t.Run(string(f), func(t *testing.T) {
			r, ok := fns[s.fnIDs[f]]
			if !ok {
				t.Fatalf("no function %s", f)
			}
			p := props(r)
			if got := jsonString(p["Architectures"]); got != `["arm64"]` {
				t.Errorf("architectures = %s, want [arm64]", got)
			}
			if image[f] {
				if p["PackageType"] != "Image" {
					t.Errorf("PackageType = %v, want Image", p["PackageType"])
				}
				if p["MemorySize"] != float64(testConfig.BuildMemoryMiB) || p["Timeout"] != testConfig.BuildTimeout.Seconds() {
					t.Errorf("memory %v timeout %v, want %d and %v", p["MemorySize"], p["Timeout"], testConfig.BuildMemoryMiB, testConfig.BuildTimeout.Seconds())
				}
			} else {
				if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
					t.Errorf("runtime %v handler %v, want provided.al2023 bootstrap", p["Runtime"], p["Handler"])
				}
				res, ok := s.stack.Functions.Builds[f]
				if !ok || res.Size == 0 {
					t.Errorf("no bootstrap built for %s", f)
				} else {
					t.Logf("%s bootstrap: %.1f MB, zipped %.1f MB (built in %v)", f, float64(res.Size)/1e6, float64(zipSize(t, res.Path))/1e6, res.Duration.Round(1e7))
				}
			}
			role := jsonString(at(p, "Role", "Fn::GetAtt", 0))
			if roles[role] {
				t.Errorf("role %s is shared with another function", role)
			}
			roles[role] = true
			if at(p, "LoggingConfig", "LogGroup") == nil {
				t.Errorf("no dedicated log group")
			}
		})
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		if mp := props(r)["ManagedPolicyArns"]; mp != nil {
			t.Errorf("role %s has managed policies %s; want only grants and scoped statements", id, jsonString(mp))
		}
	}
}

// TestFunctionEnvironment: each function gets the variables its handler reads
// (shared/workflow Env*), with values pointing at this stack's resources.
func TestFunctionEnvironment(t *testing.T) {
	s := synthStack(t)
	fns := s.resources("AWS::Lambda::Function")
	tableID := *s.stack.Stack.GetLogicalId(s.stack.Storage.Table.Node().DefaultChild().(awscdk.CfnElement))
	common := []string{workflow.EnvTable, workflow.EnvPipeline}
	want := map[workflow.Function][]string{
		workflow.FnTrigger:  {workflow.EnvStateMachineARN, workflow.EnvRepository, workflow.EnvBranches},
		workflow.FnAPI:      {workflow.EnvBucket, workflow.EnvStateMachineARN, workflow.EnvBaseURL, workflow.EnvSigningKeySec, workflow.EnvWebhookSecret, workflow.EnvRepository, workflow.EnvBranches},
		workflow.FnBuild:    {workflow.EnvBucket, workflow.EnvRepository, workflow.EnvBranches, workflow.EnvApprovalTimeout},
		workflow.FnTest:     {workflow.EnvBucket},
		workflow.FnStage:    {workflow.EnvBucket},
		workflow.FnApproval: {workflow.EnvBucket, workflow.EnvStateMachineARN, workflow.EnvTopicARN, workflow.EnvBaseURL, workflow.EnvSigningKeySec},
		workflow.FnExpire:   {workflow.EnvTopicARN, workflow.EnvBaseURL},
		workflow.FnDeploy:   {workflow.EnvBucket},
		workflow.FnNotify:   {workflow.EnvBucket, workflow.EnvTopicARN, workflow.EnvNotifyEmails, workflow.EnvBaseURL},
	}
	// The Api function runs the console's Cognito sign-in.
	want[workflow.FnAPI] = append(want[workflow.FnAPI], workflow.EnvCognitoPoolID, workflow.EnvCognitoClientID, workflow.EnvCognitoDomain)
	for _, f := range AllFunctions() {
		vars, _ := at(props(fns[s.fnIDs[f]]), "Environment", "Variables").(map[string]any)
		var got []string
		for k := range vars {
			got = append(got, k)
		}
		sort.Strings(got)
		w := append(append([]string{}, common...), want[f]...)
		sort.Strings(w)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s environment keys = %v, want %v", f, got, w)
		}
		if v := jsonString(vars[workflow.EnvTable]); v != `{"Ref":"`+tableID+`"}` {
			t.Errorf("%s %s = %s, want the table", f, workflow.EnvTable, v)
		}
		if v := vars[workflow.EnvPipeline]; v != testConfig.PipelineName {
			t.Errorf("%s %s = %v, want %s", f, workflow.EnvPipeline, v, testConfig.PipelineName)
		}
		if v, ok := vars[workflow.EnvStateMachineARN]; ok && !strings.Contains(jsonString(v), ":stateMachine:"+testConfig.PipelineName) {
			t.Errorf("%s state machine ARN = %s, want one naming stateMachine:%s", f, jsonString(v), testConfig.PipelineName)
		}
	}
	bv, _ := at(props(fns[s.fnIDs[workflow.FnBuild]]), "Environment", "Variables").(map[string]any)
	if bv[workflow.EnvApprovalTimeout] != "259200" || bv[workflow.EnvBranches] != "main,release/*" || bv[workflow.EnvRepository] != "demo-repo" {
		t.Errorf("Build approval timeout/branches/repository = %v/%v/%v, want 259200/main,release/*/demo-repo",
			bv[workflow.EnvApprovalTimeout], bv[workflow.EnvBranches], bv[workflow.EnvRepository])
	}
}

// zipSize is the size of the deployment package CDK uploads for a zip function: the
// asset directory (just bootstrap) deflated.
func zipSize(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestImageAssets: synth stages the container images of Build and Test: an arm64 build
// of infra/image/Dockerfile selecting the handler, from a context holding the Go sources
// and none of node_modules, .git or earlier assemblies.
func TestImageAssets(t *testing.T) {
	s := synthStack(t)
	b, err := os.ReadFile(filepath.Join(s.outDir, StackName(testConfig.PipelineName)+".assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DockerImages map[string]struct {
			Source struct {
				Directory  string            `json:"directory"`
				DockerFile string            `json:"dockerFile"`
				BuildArgs  map[string]string `json:"dockerBuildArgs"`
				Platform   string            `json:"platform"`
			} `json:"source"`
		} `json:"dockerImages"`
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	var handlers []string
	for hash, img := range manifest.DockerImages {
		src := img.Source
		handlers = append(handlers, src.BuildArgs["HANDLER"])
		if src.DockerFile != "infra/image/Dockerfile" || src.Platform != "linux/arm64" {
			t.Errorf("image %s: dockerfile %q platform %q, want infra/image/Dockerfile and linux/arm64", hash, src.DockerFile, src.Platform)
		}
		dir := filepath.Join(s.outDir, src.Directory)
		for _, want := range []string{"go.mod", "go.sum", "infra/image/Dockerfile", "lambdas/" + src.BuildArgs["HANDLER"] + "/cmd"} {
			if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
				t.Errorf("image %s: build context lacks %s", hash, want)
			}
		}
		for _, unwanted := range []string{"node_modules", ".git", "cdk.out", "infra/build"} {
			if _, err := os.Stat(filepath.Join(dir, unwanted)); err == nil {
				t.Errorf("image %s: build context contains %s", hash, unwanted)
			}
		}
	}
	sort.Strings(handlers)
	if strings.Join(handlers, ",") != "build,test" {
		t.Errorf("image handlers = %v, want [build test]", handlers)
	}
	df, err := os.ReadFile(filepath.Join("..", "image", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-tags lambda.norpc", "-ldflags='-s -w'", "GOARCH=arm64", "./lambdas/${HANDLER}/cmd", "public.ecr.aws/lambda/provided:al2023", " git "} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
