package audit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/domain"
)

// fakeQuerier lets a test make the store fail.
type fakeQuerier struct {
	query func(context.Context, Filter) (Page, error)
}

func (f fakeQuerier) Query(ctx context.Context, fl Filter) (Page, error) { return f.query(ctx, fl) }

func get(t *testing.T, method, u string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPServesAuditQueries(t *testing.T) {
	d := NewDynamo(testDB, newTable(t))
	seedTrail(t, d)
	evil := rec(domain.RecApprovalDecision, "web", "r9", 40)
	evil.Actor, evil.Outcome = "eve@example.com", "rejected"
	evil.Detail = map[string]any{"comment": "<script>alert(1)</script>"}
	mustAppend(t, d, evil)
	srv := httptest.NewServer(NewHTTP(d, WithDefaultPipeline("web")))
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantType   string
		want       []string
		notWant    []string
	}{
		{"api run in order", "GET", "/api/audit?run=r1&limit=3", 200, "application/json",
			[]string{`"type":"run.started"`, `"type":"approval.requested"`, `"next":"`}, []string{"approval.final"}},
		{"api default pipeline", "GET", "/api/audit?type=push.skipped", 200, "application/json",
			[]string{`"type":"push.skipped"`, `"commit":"` + shaC}, nil},
		{"api approver and decision", "GET", "/api/audit?approver=bob%40example.com&decision=approved", 200, "application/json",
			[]string{`"approval.final"`, `"approval.decision"`}, []string{`"rejected"`}},
		{"api commit", "GET", "/api/audit?commit=" + shaA[:7] + "&pipeline=api", 200, "application/json", []string{`"runId":"r3"`}, []string{`"runId":"r1"`}},
		{"api unknown decision", "GET", "/api/audit?decision=maybe", 400, "application/json", []string{`"error":"unknown decision \"maybe\"`}, nil},
		{"api unparsable time", "GET", "/api/audit?since=noon", 400, "application/json", []string{`since: time \"noon\"`}, nil},
		{"api bad limit", "GET", "/api/audit?limit=-1", 400, "application/json", []string{"limit"}, nil},
		{"api bad runs flag", "GET", "/api/audit?runs=maybe", 400, "application/json", []string{`runs \"maybe\"`}, nil},
		{"api bad order", "GET", "/api/audit?order=up", 400, "application/json", []string{`order \"up\"`}, nil},
		{"api refuses POST", "POST", "/api/audit", 405, "text/plain", nil, nil},
		{"page lists records with run links", "GET", "/audit?pipeline=web&runs=true", 200, "text/html",
			[]string{"<table>", `href="?run=r2"`, "run.started", "alice@example.com", "max-width:1100px", "system-ui"}, []string{"<td>approval.final</td>"}},
		{"page escapes record content", "GET", "/audit?run=r9", 200, "text/html",
			[]string{"comment=&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;"}, []string{"<script>alert", `\u003c`}},
		{"page keeps filters in the form and links the next page", "GET", "/audit?approver=bob%40example.com&limit=1", 200, "text/html",
			[]string{`value="bob@example.com"`, `rel="next"`, "approver=bob%40example.com"}, nil},
		{"page shows a bad filter", "GET", "/audit?until=tomorrow", 400, "text/html", []string{`role="alert"`, "until: time &#34;tomorrow&#34;"}, nil},
		{"page with nothing found", "GET", "/audit?pipeline=nope", 200, "text/html", []string{"No records match."}, nil},
		{"other path", "GET", "/audit/x", 404, "text/plain", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := get(t, tc.method, srv.URL+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", status, tc.wantStatus, body)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("got Content-Type %q, want %s", ct, tc.wantType)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}

	t.Run("api pages cover the pipeline once", func(t *testing.T) {
		seen := map[int64]bool{}
		q := url.Values{"pipeline": {"web"}, "limit": {"4"}}
		for i := 0; i < 10; i++ {
			status, _, body := get(t, "GET", srv.URL+"/api/audit?"+q.Encode())
			var p Page
			if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
				t.Fatalf("got %d %s", status, body)
			}
			for _, e := range p.Records {
				if seen[e.Seq] {
					t.Errorf("seq %d twice", e.Seq)
				}
				seen[e.Seq] = true
			}
			if p.Next == "" {
				break
			}
			q.Set("page", p.Next)
		}
		if len(seen) != 11 {
			t.Errorf("got %d records of web, want 11", len(seen))
		}
	})
}

func TestHTTPHidesStoreFailures(t *testing.T) {
	secret := "dial tcp 10.1.2.3:8000: connection refused"
	tests := []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"transient", domain.Errorf(domain.Transient, "audit query: %w", errors.New(secret)), 503},
		{"internal", errors.New(secret), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHTTP(fakeQuerier{func(context.Context, Filter) (Page, error) { return Page{}, tc.err }}, WithDefaultPipeline("web"))
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, path := range []string{"/api/audit", "/audit"} {
				status, _, body := get(t, "GET", srv.URL+path)
				if status != tc.wantStatus || strings.Contains(body, "10.1.2.3") {
					t.Errorf("%s: got %d %q, want %d without internals", path, status, body, tc.wantStatus)
				}
			}
		})
	}
}

func TestHTTPPageMarksSuspectRecords(t *testing.T) {
	page := Page{Records: []Entry{
		{Record: domain.Record{Type: domain.RecApprovalFinal, Pipeline: "web", Actor: "bob@example.com", Time: t0}, Seq: 1},
		{Record: domain.Record{Type: domain.RecApprovalFinal, Pipeline: "web", Actor: "eve@example.com", Time: t0}, Seq: 2,
			Suspect: "its content does not match its hash (edited)"},
	}}
	srv := httptest.NewServer(NewHTTP(fakeQuerier{func(context.Context, Filter) (Page, error) { return page, nil }}, WithDefaultPipeline("web")))
	defer srv.Close()
	status, _, body := get(t, "GET", srv.URL+"/audit")
	for _, w := range []string{`1 record(s) on this page fail their integrity check`, `class="suspect" title="integrity check failed: its content does not match its hash (edited)"`} {
		if status != 200 || !strings.Contains(body, w) {
			t.Errorf("got %d, body lacks %q:\n%s", status, w, body)
		}
	}
	if n := strings.Count(body, `class="suspect"`); n != 1 {
		t.Errorf("got %d suspect rows, want 1", n)
	}
}
