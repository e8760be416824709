package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codecommit"
	cctypes "github.com/aws/aws-sdk-go-v2/service/codecommit/types"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/gittest"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/ccapi"
)

// newRepo makes a repository with n commits on main; commit i adds f<i>.txt and, from
// the second on, modifies f0.txt. It returns the directory and the commit ids, oldest first.
func newRepo(t *testing.T, n int) (string, []string) {
	dir := t.TempDir()
	gittest.Git(t, dir, "init", "-q", "-b", "main")
	var ids []string
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			os.WriteFile(filepath.Join(dir, "f0.txt"), []byte(fmt.Sprint(i)), 0o644)
		}
		gittest.Git(t, dir, "add", ".")
		gittest.Git(t, dir, "commit", "-q", "-m", fmt.Sprintf("commit %d\n\nbody of %d", i, i))
		ids = append(ids, gittest.Git(t, dir, "rev-parse", "HEAD"))
	}
	return dir, ids
}

func TestGitCommitsListsThePushOldestFirst(t *testing.T) {
	dir, ids := newRepo(t, 5)
	cases := []struct {
		name          string
		old           string
		max           int
		wantIDs       []string
		wantTruncated bool
	}{
		{"update", ids[1], 50, ids[2:], false},
		{"new branch", "", 50, ids, false},
		{"capped keeps newest", ids[0], 2, ids[3:], true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs, truncated, err := trigger.GitCommits{}.Commits(context.Background(), dir, ids[4], c.old, c.max)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, cm := range cs {
				got = append(got, cm.ID)
			}
			if strings.Join(got, ",") != strings.Join(c.wantIDs, ",") || truncated != c.wantTruncated {
				t.Errorf("commits %v truncated %v, want %v %v", got, truncated, c.wantIDs, c.wantTruncated)
			}
		})
	}
	cs, _, _ := trigger.GitCommits{}.Commits(context.Background(), dir, ids[4], ids[3], 50)
	c := cs[0]
	if c.Message != "commit 4\n\nbody of 4" || c.Author.Email != "dev@example.com" || c.Timestamp.IsZero() ||
		strings.Join(c.Added, ",") != "f4.txt" || strings.Join(c.Modified, ",") != "f0.txt" {
		t.Errorf("commit = %+v", c)
	}
	if _, _, err := (trigger.GitCommits{}).Commits(context.Background(), t.TempDir(), ids[4], "", 5); err == nil {
		t.Error("listing in a directory that is not a repository did not fail")
	}
	if _, _, err := (trigger.GitCommits{}).Commits(context.Background(), dir, "--output=/tmp/x", "", 5); err == nil {
		t.Error("a commit id that is an option was not refused")
	}
}

// fakeCodeCommit answers GetCommit from a map, as the CodeCommit API would.
type fakeCodeCommit struct {
	commits map[string]cctypes.Commit
	calls   int
	err     error
}

func (f *fakeCodeCommit) GetCommit(_ context.Context, in *codecommit.GetCommitInput, _ ...func(*codecommit.Options)) (*codecommit.GetCommitOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.commits[aws.ToString(in.CommitId)]
	if !ok {
		return nil, &cctypes.CommitIdDoesNotExistException{Message: aws.String("no commit " + aws.ToString(in.CommitId))}
	}
	return &codecommit.GetCommitOutput{Commit: &c}, nil
}

// chain builds n commits, each the parent of the next; ids are 40-hex.
func chain(n int) (*fakeCodeCommit, []string) {
	f := &fakeCodeCommit{commits: map[string]cctypes.Commit{}}
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%040x", i+1)
		c := cctypes.Commit{CommitId: aws.String(id), Message: aws.String(fmt.Sprintf("change %d\n", i)),
			Author: &cctypes.UserInfo{Name: aws.String("Mary Major"), Email: aws.String("mary@example.com"), Date: aws.String(fmt.Sprintf("%d +0000", 1700000000+i))}}
		if i > 0 {
			c.Parents = []string{ids[i-1]}
		}
		f.commits[id] = c
		ids = append(ids, id)
	}
	return f, ids
}

func TestCodeCommitCommitsWalksFirstParentsToTheOldTip(t *testing.T) {
	cases := []struct {
		name          string
		n, oldIdx     int // oldIdx -1: new branch
		max           int
		wantFirst     int
		wantCount     int
		wantTruncated bool
		wantCalls     int
	}{
		{"update of three", 10, 6, 50, 7, 3, false, 3},
		{"new branch whole history", 4, -1, 50, 0, 4, false, 4},
		{"capped", 200, 0, 50, 150, 50, true, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ids := chain(c.n)
			old := ""
			if c.oldIdx >= 0 {
				old = ids[c.oldIdx]
			}
			cs, truncated, err := ccapi.Commits{API: f}.Commits(context.Background(), "MyDemoRepo", ids[c.n-1], old, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != c.wantCount || truncated != c.wantTruncated || f.calls != c.wantCalls {
				t.Fatalf("%d commits, truncated %v, %d calls; want %d, %v, %d", len(cs), truncated, f.calls, c.wantCount, c.wantTruncated, c.wantCalls)
			}
			if cs[0].ID != ids[c.wantFirst] || cs[len(cs)-1].ID != ids[c.n-1] {
				t.Errorf("range %s..%s, want %s..%s", cs[0].ID, cs[len(cs)-1].ID, ids[c.wantFirst], ids[c.n-1])
			}
			if want := time.Unix(1700000000+int64(c.n-1), 0).UTC(); !cs[len(cs)-1].Timestamp.Equal(want) || cs[0].Author.Email != "mary@example.com" {
				t.Errorf("head commit %+v", cs[len(cs)-1])
			}
		})
	}
}

// TestHandleCodeCommitOnAWS: the documented event, with commits from the CodeCommit API,
// becomes a run with everything it needs.
func TestHandleCodeCommitOnAWS(t *testing.T) {
	f, ids := chain(3)
	ev := loadEvent(t, "codecommit-reference-updated.json")
	ev.Detail = []byte(strings.NewReplacer(sha2, ids[2], sha3, ids[0]).Replace(string(ev.Detail)))
	e := newEnv(t, app.Config{Repository: "MyDemoRepo"}, trigger.Options{Commits: ccapi.Commits{API: f}})
	res, err := e.svc.HandleCodeCommit(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Started {
		t.Fatalf("outcome %+v", res)
	}
	p := runOf(t, e).Push
	for _, c := range []struct{ field, got, want string }{
		{"provider", string(p.Provider), "codecommit"},
		{"cloneUrl", p.CloneURL, "https://git-codecommit.us-east-2.amazonaws.com/v1/repos/MyDemoRepo"},
		{"compareUrl", p.CompareURL, "https://us-east-2.console.aws.amazon.com/codesuite/codecommit/repositories/MyDemoRepo/compare/" + ids[0] + "/.../" + ids[2] + "?region=us-east-2"},
		{"message", p.Message, "change 2"},
		{"pusher", p.Pusher.Login, "arn:aws:iam::123456789012:user/Mary_Major"},
		{"deliveryId", p.DeliveryID, ev.ID},
		{"receivedAt", p.ReceivedAt.Format(time.RFC3339), "2019-06-12T10:23:43Z"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if len(p.Commits) != 2 || p.Commits[1].ID != ids[2] {
		t.Errorf("commits %+v, want the two after the old tip", p.Commits)
	}
}

func TestHandleCodeCommitDoesNotListCommitsOfFilteredPushes(t *testing.T) {
	f, _ := chain(1)
	e := newEnv(t, app.Config{Branches: []string{"main"}}, trigger.Options{Commits: ccapi.Commits{API: f}})
	res, err := e.svc.HandleCodeCommit(context.Background(), loadEvent(t, "codecommit-reference-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Skipped || f.calls != 0 {
		t.Errorf("outcome %s after %d GetCommit calls, want skipped after none", res.Outcome, f.calls)
	}
}

func TestHandleCodeCommitListingFailureIsTransient(t *testing.T) {
	f := &fakeCodeCommit{err: errors.New("connection reset")}
	e := newEnv(t, app.Config{}, trigger.Options{Commits: ccapi.Commits{API: f}})
	_, err := e.svc.HandleCodeCommit(context.Background(), loadEvent(t, "codecommit-reference-updated.json"))
	if !domain.IsKind(err, domain.Transient) {
		t.Errorf("err = %v (kind %s), want Transient so EventBridge retries", err, domain.KindOf(err))
	}
	if len(e.sfn.Executions()) != 0 || len(e.audit.Records()) != 0 {
		t.Error("a failed listing left an execution or a record")
	}
}

// TestLocalPushTravelsTheCodeCommitPath: a local repository push, as the git watcher
// reports it, starts a local-provider run cloned from the directory with git's commits.
func TestLocalPushTravelsTheCodeCommitPath(t *testing.T) {
	dir, ids := newRepo(t, 3)
	e := newEnv(t, app.Config{}, trigger.LocalOptions(nil))
	ev := trigger.CodeCommitEvent(dir, "refs/heads/main", ids[0], ids[2], "dev@example.com", time.Now())
	res, err := e.svc.HandleCodeCommit(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != trigger.Started || res.RunID != trigger.ExecutionName(dir, "refs/heads/main", ids[2]) {
		t.Fatalf("result %+v", res)
	}
	p := runOf(t, e).Push
	if p.Provider != domain.ProviderLocal || p.CloneURL != dir || p.CompareURL != "" || p.Message != "commit 2\n\nbody of 2" ||
		len(p.Commits) != 2 || p.Pusher.Login != "dev@example.com" {
		t.Errorf("push = %+v", p)
	}
	// The watcher reporting the same change again starts nothing new.
	again, err := e.svc.HandleCodeCommit(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != trigger.Duplicate {
		t.Errorf("second report: %s, want duplicate", again.Outcome)
	}
	// A deleted branch is recorded, not started.
	del, err := e.svc.HandleCodeCommit(context.Background(), trigger.CodeCommitEvent(dir, "refs/heads/main", ids[2], "", "dev@example.com", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if del.Outcome != trigger.Skipped || del.Reason != "branch main deleted" {
		t.Errorf("deletion: %+v", del)
	}
}

func runOf(t *testing.T, e *env) domain.Run {
	t.Helper()
	execs := e.sfn.Executions()
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	var in struct{ Run domain.Run }
	if err := json.Unmarshal([]byte(execs[0].Input), &in); err != nil {
		t.Fatal(err)
	}
	return in.Run
}
