package trigger_test

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/table/tabletest"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
)

// One dynalite for the package; every test gets its own table.
var (
	db  *tabletest.DB
	ddb *dynamodb.Client
)

func TestMain(m *testing.M) {
	db = tabletest.Start("trigger")
	ddb = db.Client
	code := m.Run()
	db.Stop()
	os.Exit(code)
}

func newTable(t testing.TB) string { return db.NewTable(t) }

type env struct {
	svc   *trigger.Service
	sfn   *triggertest.SFN
	audit *triggertest.Audit
	table string
	clock *clock
}

// clock advances one millisecond per reading, so every delivery is received at a
// different time, as redeliveries are.
type clock struct{ n atomic.Int64 }

func (c *clock) now() time.Time {
	return time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC).Add(time.Duration(c.n.Add(1)) * time.Millisecond)
}

func newEnv(t testing.TB, cfg app.Config, o trigger.Options) *env {
	t.Helper()
	e := &env{sfn: triggertest.NewSFN(t), audit: &triggertest.Audit{}, table: newTable(t), clock: &clock{}}
	if cfg.Pipeline == "" {
		cfg.Pipeline = "demo"
	}
	cfg.Table = e.table
	cfg.StateMachineARN = triggertest.StateMachineARN
	if o.Audit == nil {
		o.Audit = e.audit
	}
	o.SFN = e.sfn.Client()
	svc, err := trigger.New(cfg, &app.Deps{DynamoDB: ddb, Now: e.clock.now}, o)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

const (
	sha1  = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	sha2  = "3e5983a5b2c8d3e1f0a9b8c7d6e5f4a3b2c1d0e9"
	sha3  = "26a8f2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5"
	zeros = "0000000000000000000000000000000000000000"
)

func push(repo, branch, commit string) domain.Push {
	return domain.Push{
		Provider: domain.ProviderGitHub, Repository: repo, CloneURL: "https://github.com/" + repo + ".git",
		Ref: "refs/heads/" + branch, Branch: branch, Commit: commit, Message: "change",
		Pusher: domain.Identity{Name: "octocat", Login: "octocat", Email: "octocat@example.com"},
	}
}
