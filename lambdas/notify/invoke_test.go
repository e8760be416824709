package notify_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shipgate/shipgate/lambdas/notify"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// The payload the NotifyFailure state sends ({"event", "state"} with the Catch's
// $.error), through aws-lambda-go's handler.
func TestInvokeWithTheDefinitionsPayload(t *testing.T) {
	ev, err := os.ReadFile("testdata/failed.json")
	if err != nil {
		t.Fatal(err)
	}
	snd := &sender{}
	h, _ := notify.NewWith(app.Config{Pipeline: "demo", Bucket: "b", BaseURL: "http://127.0.0.1:8080"}, &app.Deps{}, notify.Options{Sender: snd, Audit: &kittest.Audit{}})
	if _, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(snd.msgs) != 1 {
		t.Fatalf("sent %d messages, want 1", len(snd.msgs))
	}
	m := snd.msgs[0]
	for _, want := range []string{"failed at the test stage", "calc_test.go:21: got 3, want 4", "Full log: s3://b/logs/demo/main-0123abcd-1732580000/test.log", "http://127.0.0.1:8080/runs/main-0123abcd-1732580000"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Text)
		}
	}
	if m.Subject != "[shipgate] test failed: demo main@0123abcd0123" {
		t.Errorf("subject = %q", m.Subject)
	}
}
