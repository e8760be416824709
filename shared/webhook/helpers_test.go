package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/table/tabletest"
	"github.com/shipgate/shipgate/shared/trigger"
	"github.com/shipgate/shipgate/shared/trigger/triggertest"
	"github.com/shipgate/shipgate/shared/webhook"
)

// One dynalite for the package; every test gets its own table.
var (
	db  *tabletest.DB
	ddb *dynamodb.Client
)

func TestMain(m *testing.M) {
	db = tabletest.Start("webhook")
	ddb = db.Client
	code := m.Run()
	db.Stop()
	os.Exit(code)
}

func newTable(t testing.TB) string { return db.NewTable(t) }

var secret = []byte("It's a Secret to Everybody")

// stack is the real route: an HTTP server on 127.0.0.1 with the webhook handler in front
// of the real trigger service (dynalite, the Step Functions stand-in, an audit recorder).
type stack struct {
	url   string
	sfn   *triggertest.SFN
	audit *triggertest.Audit
}

func newStack(t testing.TB, o webhook.Options) *stack {
	t.Helper()
	s := &stack{sfn: triggertest.NewSFN(t), audit: &triggertest.Audit{}}
	svc, err := trigger.New(app.Config{Pipeline: "demo", Table: newTable(t), StateMachineARN: triggertest.StateMachineARN},
		&app.Deps{DynamoDB: ddb}, trigger.Options{Audit: s.audit, SFN: s.sfn.Client()})
	if err != nil {
		t.Fatal(err)
	}
	o.Trigger = svc
	h, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.Path, h)
	mux.Handle(webhook.Path, h) // other methods reach the handler's own 405
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL + webhook.Path
	return s
}

type delivery struct {
	method  string
	event   string
	body    []byte
	headers map[string]string // set as given; "" removes a header
}

// signed is a delivery GitHub would send: event, delivery id, JSON body, signature.
func signed(event string, body []byte) delivery {
	return delivery{event: event, body: body, headers: map[string]string{
		"X-Hub-Signature-256": webhook.SignatureValue(secret, body),
		"X-GitHub-Delivery":   "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"Content-Type":        "application/json",
	}}
}

func (s *stack) deliver(t testing.TB, d delivery) (int, webhook.Response) {
	t.Helper()
	m := d.method
	if m == "" {
		m = http.MethodPost
	}
	req, err := http.NewRequest(m, s.url, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	if d.event != "" {
		req.Header.Set("X-GitHub-Event", d.event)
	}
	for k, v := range d.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r webhook.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("status %d, body %q: not a JSON response: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, r
}
