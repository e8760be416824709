package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/approval"
	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/audit"
	"github.com/shipgate/shipgate/shared/console"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/web"
)

var dynamoURL string

func TestMain(m *testing.M) { approvaltest.Main(m, &dynamoURL) }

var (
	ana   = domain.Identity{Name: "Ana", Email: "ana@example.com"}
	eve   = domain.Identity{Name: "Eve", Email: "eve@example.com", Login: "eve"}
	three = []string{"ana@example.com", "bo@example.com", "cy@example.com"}
)

// site is the console behind the real router on a real loopback server.
type site struct {
	*approvaltest.Env
	URL string
	mu  sync.Mutex
	out bytes.Buffer // every response body, grepped for the task token
}

func newSite(t testing.TB, localUser string, realAudit ...bool) *site {
	var h http.Handler
	s := &site{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.out.Write(rec.Body.Bytes())
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.Env = approvaltest.NewEnv(t, dynamoURL, approvaltest.Options{BaseURL: srv.URL, RealAudit: len(realAudit) > 0 && realAudit[0]})
	s.Env.Watch(func() string { s.mu.Lock(); defer s.mu.Unlock(); return s.out.String() })
	c, err := console.New(s.Svc, console.Options{BaseURL: srv.URL, LocalUser: localUser, FormKey: s.Deps.SigningKey, Audit: s.Audit})
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(web.Routes{Console: c})
	return s
}

func (s *site) request(t testing.TB, run string, ap spec.Approval) (*approval.Approval, map[string]string) {
	a, _ := s.Request(approvaltest.Push{RunID: run, Pusher: eve}, ap)
	return a, s.Links(run)
}

func get(t testing.TB, c *http.Client, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t testing.TB, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// unchanged asserts nothing was decided: no votes, still pending, no resume.
func (s *site) unchanged(t testing.TB, id string) {
	t.Helper()
	a, err := s.Svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Votes) != 0 || a.Status != approval.StatusPending || a.Final != nil {
		t.Errorf("approval changed: status %s, %d votes, final %v", a.Status, len(a.Votes), a.Final)
	}
	if n := len(s.SFN.Calls()); n != 0 {
		t.Errorf("run resumed: %d SendTask calls", n)
	}
	if n := len(s.Audit.Records(domain.RecApprovalDecision)); n != 0 {
		t.Errorf("%d decision records written", n)
	}
}

func TestApprovalPageGetAndHeadChangeNothing(t *testing.T) {
	s := newSite(t, "")
	a, links := s.request(t, "view-1", spec.Approval{Approvers: three})
	link := links["bo@example.com"]
	// A link-protection service rewrites the link to itself and redirects (twice) to it;
	// scanners follow such chains, with GET and with HEAD.
	wrapper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop1" {
			http.Redirect(w, r, "/hop2?u="+url.QueryEscape(r.URL.Query().Get("u")), http.StatusFound)
			return
		}
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusMovedPermanently)
	}))
	defer wrapper.Close()
	scanned := wrapper.URL + "/hop1?u=" + url.QueryEscape(link)
	tests := []struct {
		name, method, url string
	}{
		{"GET", http.MethodGet, link},
		{"HEAD", http.MethodHead, link},
		{"scanner GET following redirects", http.MethodGet, scanned},
		{"scanner HEAD following redirects", http.MethodHead, scanned},
		{"GET again", http.MethodGet, link},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, http.DefaultClient, tc.method, tc.url)
			if code != http.StatusOK {
				t.Fatalf("status: got %d, want 200", code)
			}
			if tc.method == http.MethodGet {
				for _, want := range []string{"acme/web", "main", a.Commit, "Fix the &lt;checkout&gt; button", "Eve", "eve@example.com",
					"12 passed, 0 failed, 1 skipped", "site", "dist/site.tar.gz", strings.Repeat("e", 64), a.ManifestDigest, `name="decision" value="approve"`} {
					if !strings.Contains(body, want) {
						t.Errorf("page lacks %q", want)
					}
				}
			}
			s.unchanged(t, a.ID)
		})
	}
}

func TestLinkPostApprovesAndTokenMustBeInTheBody(t *testing.T) {
	s := newSite(t, "")
	a, links := s.request(t, "post-1", spec.Approval{Approvers: three})
	tok := approvaltest.LinkToken(links["cy@example.com"])

	// The token only in the query string (what a cross-site form could replay from a
	// leaked URL) is not enough: POST requires it in the body.
	code, _ := postForm(t, s.URL+"/approvals/"+a.ID+"?t="+tok, url.Values{"decision": {"approve"}})
	if code != http.StatusUnauthorized {
		t.Errorf("token in query only: got %d, want 401", code)
	}
	s.unchanged(t, a.ID)

	code, body := postForm(t, s.URL+"/approvals/"+a.ID, url.Values{"t": {tok}, "decision": {"approve"}, "comment": {"ship it"}, "digest": {a.ManifestDigest}})
	if code != http.StatusOK || !strings.Contains(body, `id="outcome" class="approved"`) {
		t.Fatalf("POST: got %d %s, want 200 approved", code, body)
	}
	calls := s.SFN.Accepted()
	if len(calls) != 1 || calls[0].Op != "SendTaskSuccess" {
		t.Fatalf("calls: got %+v, want one SendTaskSuccess", calls)
	}
	fd, err := s.Svc.FinalDecision(context.Background(), "post-1")
	if err != nil || fd.Channel != domain.ChannelEmail || fd.Approvers[0] != "cy@example.com" || fd.Comment != "ship it" {
		t.Errorf("recorded: %+v (%v)", fd, err)
	}
	// The page after the decision shows the outcome and no form.
	code, body = get(t, http.DefaultClient, http.MethodGet, links["ana@example.com"])
	if code != 200 || strings.Contains(body, `value="approve"`) || !strings.Contains(body, "approved") {
		t.Errorf("page after decision: got %d, want the outcome and no form", code)
	}
}

// Well-formed tokens that fail verification are refused with 403 and audited. Requests
// anyone can send without holding any token (no token, a malformed one, an id that is no
// approval id) are refused without writing an audit record: the route is public, and the
// trail is a hash chain nobody should be able to grow at will.
func TestBadTokensAre403AndAudited(t *testing.T) {
	s := newSite(t, "", true) // records also go to the real audit store, checked at the end
	a, links := s.request(t, "bad-1", spec.Approval{Approvers: three, Timeout: spec.Duration(time.Hour)})
	s.Clock.Advance(time.Second)
	b, blinks := s.request(t, "bad-2", spec.Approval{Approvers: three, Supersede: new(bool)})
	good := approvaltest.LinkToken(links["bo@example.com"])
	flip := func(tok string, i int) string {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		raw[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	tests := []struct {
		name, id, tok string
		advance       time.Duration
		wantCode      int
		wantAudit     bool
	}{
		{"tampered mac", a.ID, flip(good, 25), 0, http.StatusForbidden, true},
		{"tampered expiry", a.ID, flip(good, 3), 0, http.StatusForbidden, true},
		{"other run's token", a.ID, approvaltest.LinkToken(blinks["bo@example.com"]), 0, http.StatusForbidden, true},
		{"this token on the other run", b.ID, good, 0, http.StatusForbidden, true},
		{"other approver (index edited)", a.ID, flip(good, 13), 0, http.StatusForbidden, true},
		{"unknown approval", "ap-00000000000000000000", good, 0, http.StatusForbidden, true},
		{"expired", a.ID, good, time.Hour, http.StatusForbidden, true},
		{"missing", a.ID, "", 0, http.StatusForbidden, false},
		{"garbage", a.ID, "not-a-token", 0, http.StatusForbidden, false},
		{"right length, not base64", a.ID, strings.Repeat("*", len(good)), 0, http.StatusForbidden, false},
		{"wrong version", a.ID, flip(good, 0), 0, http.StatusForbidden, false},
		{"not an approval id", "anything", good, 0, http.StatusNotFound, false},
		{"not an approval id, no token", "wp-login.php", "", 0, http.StatusNotFound, false},
		{"approval id not hex", "ap-zzzzzzzzzzzzzzzzzzzz", good, 0, http.StatusNotFound, false},
	}
	audited := 0
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		for _, tc := range tests {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				s.Clock.Advance(tc.advance)
				defer s.Clock.Advance(-tc.advance)
				before := len(s.Audit.Records(""))
				var code int
				if method != http.MethodPost {
					code, _ = get(t, http.DefaultClient, method, s.URL+"/approvals/"+tc.id+"?t="+url.QueryEscape(tc.tok))
				} else {
					form := url.Values{"t": {tc.tok}, "decision": {"approve"}}
					if tc.tok == "" {
						form.Set("t", "x") // an empty t would mean "console form"
					}
					code, _ = postForm(t, s.URL+"/approvals/"+tc.id, form)
				}
				if code != tc.wantCode {
					t.Errorf("status: got %d, want %d", code, tc.wantCode)
				}
				recs := s.Audit.Records("")
				if !tc.wantAudit {
					if len(recs) != before {
						t.Errorf("audit records: got %d new (%+v), want none", len(recs)-before, recs[before:])
					}
					return
				}
				audited++
				if len(recs) != before+1 || recs[len(recs)-1].Type != domain.RecApprovalRefused {
					t.Fatalf("refusal records: got %d new, want 1 approval.refused", len(recs)-before)
				}
				if r := recs[len(recs)-1]; r.ApprovalID != tc.id || r.Detail["reason"] == "" {
					t.Errorf("refusal record: %+v", r)
				}
			})
		}
	}
	s.unchanged(t, a.ID)
	page, err := audit.NewDynamo(s.DB, s.Cfg.Table).Query(context.Background(), audit.Filter{Pipeline: "demo", Type: domain.RecApprovalRefused, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(page.Records); got != audited || audited == 0 {
		t.Errorf("refusals in the real audit trail: got %d, want %d", got, audited)
	}
}

// A signed-in console user posting to an id that is no approval id gets 404 and writes
// nothing, form token or not.
func TestConsolePostToAJunkIDWritesNothing(t *testing.T) {
	s := newSite(t, "bo@example.com")
	for _, id := range []string{"anything", "ap-zzzzzzzzzzzzzzzzzzzz"} {
		t.Run(id, func(t *testing.T) {
			code, _ := postForm(t, s.URL+"/approvals/"+id, url.Values{"decision": {"approve"}, "f": {"AAAAAAAAAAAAAAAAAAAAAA"}})
			if code != http.StatusNotFound {
				t.Errorf("status: got %d, want 404", code)
			}
			if recs := s.Audit.Records(""); len(recs) != 0 {
				t.Errorf("audit records: got %+v, want none", recs)
			}
		})
	}
}

func TestSelfApprovalThroughTheLinkIsRefused(t *testing.T) {
	s := newSite(t, "")
	a, links := s.request(t, "self-1", spec.Approval{Approvers: []string{"eve@example.com", "bo@example.com"}})
	code, body := postForm(t, s.URL+"/approvals/"+a.ID, url.Values{"t": {approvaltest.LinkToken(links["eve@example.com"])}, "decision": {"approve"}})
	if code != http.StatusForbidden || !strings.Contains(body, "cannot approve") {
		t.Errorf("got %d, want 403 explaining self-approval", code)
	}
	if len(s.Audit.Records(domain.RecApprovalRefused)) != 1 {
		t.Errorf("self-approval not audited")
	}
	s.unchanged(t, a.ID)
}

// A pusher known only by a login (a CodeCommit caller ARN, or locally the committer's
// email) cannot approve through their own link, nor from the console.
func TestSelfApprovalOfALoginOnlyPusherIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		pusher domain.Identity
	}{
		{"login is the email", domain.Identity{Login: "ana@example.com"}},
		{"login is an ARN with an email session", domain.Identity{Login: "arn:aws:sts::1:assumed-role/Dev/ana@example.com"}},
	}
	for i, tc := range tests {
		t.Run(tc.name+" via the link", func(t *testing.T) {
			s := newSite(t, "")
			run := fmt.Sprintf("selflink-%d", i)
			a, _ := s.Request(approvaltest.Push{RunID: run, Pusher: tc.pusher}, spec.Approval{Approvers: three})
			tok := approvaltest.LinkToken(s.Links(run)["ana@example.com"])
			code, body := postForm(t, s.URL+"/approvals/"+a.ID, url.Values{"t": {tok}, "decision": {"approve"}})
			if code != http.StatusForbidden || !strings.Contains(body, "cannot approve") {
				t.Errorf("got %d, want 403 explaining self-approval", code)
			}
			s.unchanged(t, a.ID)
		})
		t.Run(tc.name+" via the console", func(t *testing.T) {
			s := newSite(t, "Ana@example.com")
			a, _ := s.Request(approvaltest.Push{RunID: fmt.Sprintf("selfcon-%d", i), Pusher: tc.pusher}, spec.Approval{Approvers: three})
			f := console.FormTokenForTest(s.Deps.SigningKey, "Ana@example.com", a.ID)
			code, body := postForm(t, s.URL+"/approvals/"+a.ID, url.Values{"f": {f}, "decision": {"approve"}})
			if code != http.StatusForbidden || !strings.Contains(body, "cannot approve") {
				t.Errorf("got %d, want 403 explaining self-approval", code)
			}
			s.unchanged(t, a.ID)
		})
	}
}

// 50 concurrent approve and reject POSTs through the real routes, from five approvers'
// links: one outcome, exactly one SendTask call.
func TestFiftyConcurrentPostsOneOutcome(t *testing.T) {
	s := newSite(t, "")
	people := []string{"p0@x.io", "p1@x.io", "p2@x.io", "p3@x.io", "p4@x.io"}
	a, links := s.request(t, "race-1", spec.Approval{Approvers: people, Required: 2})
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			form := url.Values{"t": {approvaltest.LinkToken(links[people[i%5]])}, "decision": {"approve"}}
			if i%3 == 2 {
				form.Set("decision", "reject")
				form.Set("comment", "no")
			}
			resp, err := http.PostForm(s.URL+"/approvals/"+a.ID, form)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}(i)
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK && c != http.StatusConflict {
			t.Errorf("POST %d: status %d, want 200 or 409", i, c)
		}
	}
	calls := s.SFN.Calls()
	if len(calls) != 1 {
		t.Fatalf("SendTask calls: got %d, want exactly 1", len(calls))
	}
	fd, err := s.Svc.FinalDecision(context.Background(), "race-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[domain.Outcome]string{domain.Approved: "SendTaskSuccess", domain.Rejected: "SendTaskFailure"}[fd.Outcome]; calls[0].Op != want {
		t.Errorf("recorded %s, resumed with %s", fd.Outcome, calls[0].Op)
	}
}

var formTokenRE = regexp.MustCompile(`name="f" value="([^"]+)"`)

func TestConsoleListsAndDecides(t *testing.T) {
	s := newSite(t, "Bo@Example.com")
	a, _ := s.request(t, "con-1", spec.Approval{Approvers: three})
	code, body := get(t, http.DefaultClient, http.MethodGet, s.URL+"/")
	if code != 200 || !strings.Contains(body, "approval-"+a.ID) || !strings.Contains(body, "12 passed") {
		t.Fatalf("home: got %d, want the pending approval with its summary", code)
	}
	m := formTokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("home has no decision form for an approver")
	}
	tests := []struct {
		name     string
		form     url.Values
		wantCode int
	}{
		{"no form token", url.Values{"decision": {"reject"}, "comment": {"x"}}, http.StatusForbidden},
		{"forged form token", url.Values{"f": {"AAAAAAAAAAAAAAAAAAAAAA"}, "decision": {"reject"}, "comment": {"x"}}, http.StatusForbidden},
		{"reject without comment", url.Values{"f": {m[1]}, "decision": {"reject"}}, http.StatusBadRequest},
		{"approve", url.Values{"f": {m[1]}, "decision": {"approve"}, "digest": {a.ManifestDigest}}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postForm(t, s.URL+"/approvals/"+a.ID, tc.form)
			if code != tc.wantCode {
				t.Errorf("got %d, want %d: %s", code, tc.wantCode, body)
			}
		})
	}
	if got := len(s.Audit.Records(domain.RecApprovalRefused)); got != 2 {
		t.Errorf("refused form posts audited: got %d, want 2", got)
	}
	fd, err := s.Svc.FinalDecision(context.Background(), "con-1")
	if err != nil || fd.Channel != domain.ChannelConsole || fd.Approvers[0] != "bo@example.com" {
		t.Errorf("recorded: %+v (%v)", fd, err)
	}
	if _, body := get(t, http.DefaultClient, http.MethodGet, s.URL+"/"); !strings.Contains(body, `id="none"`) {
		t.Errorf("home still lists the decided approval")
	}
	if code, body := get(t, http.DefaultClient, http.MethodGet, s.URL+"/runs/con-1"); code != 200 || !strings.Contains(body, `class="approved"`) {
		t.Errorf("run page: got %d, want the approved outcome", code)
	}
}

func TestConsoleNonApproverGetsNoForm(t *testing.T) {
	s := newSite(t, "mallory@example.com")
	a, _ := s.request(t, "con-2", spec.Approval{Approvers: three})
	_, body := get(t, http.DefaultClient, http.MethodGet, s.URL+"/")
	if formTokenRE.MatchString(body) || !strings.Contains(body, "not an approver") {
		t.Errorf("a non-approver was offered a decision form")
	}
	// Even with a valid form token for themselves, the gate refuses them.
	f := console.FormTokenForTest(s.Deps.SigningKey, "mallory@example.com", a.ID)
	code, _ := postForm(t, s.URL+"/approvals/"+a.ID, url.Values{"f": {f}, "decision": {"approve"}})
	if code != http.StatusForbidden {
		t.Errorf("non-approver POST: got %d, want 403", code)
	}
	s.unchanged(t, a.ID)
}

func TestAPI(t *testing.T) {
	s := newSite(t, "ana@example.com")
	a, _ := s.request(t, "api-1", spec.Approval{Approvers: three})
	code, body := get(t, http.DefaultClient, http.MethodGet, s.URL+"/api/approvals")
	var list struct {
		Approvals []approval.Approval `json:"approvals"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Approvals) != 1 || list.Approvals[0].ID != a.ID {
		t.Fatalf("list: got %d %s (%v)", code, body, err)
	}
	post := func(ct, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/approvals/"+a.ID, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, ct, body string
		want           int
	}{
		{"form content type refused", "application/x-www-form-urlencoded", "decision=reject", http.StatusUnsupportedMediaType},
		{"unknown field", "application/json", `{"decision":"reject","why":"x"}`, http.StatusBadRequest},
		{"bad decision", "application/json", `{"decision":"maybe"}`, http.StatusBadRequest},
		{"reject with comment", "application/json", `{"decision":"reject","comment":"fails on Safari"}`, http.StatusOK},
		{"second decision conflicts", "application/json", `{"decision":"approve"}`, http.StatusConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := post(tc.ct, tc.body); code != tc.want {
				t.Errorf("got %d %s, want %d", code, body, tc.want)
			}
		})
	}
	calls := s.SFN.Accepted()
	if len(calls) != 1 || calls[0].Op != "SendTaskFailure" || calls[0].Cause != "rejected by ana@example.com: fails on Safari" {
		t.Errorf("calls: %+v", calls)
	}
	code, body = get(t, http.DefaultClient, http.MethodGet, s.URL+"/api/approvals/"+a.ID)
	if code != 200 || !strings.Contains(body, `"outcome": "rejected"`) {
		t.Errorf("get: %d %s", code, body)
	}
}

func TestSignedOutIsRefused(t *testing.T) {
	s := newSite(t, "")
	for _, p := range []string{"/", "/api/approvals", "/runs/x"} {
		if code, _ := get(t, http.DefaultClient, http.MethodGet, s.URL+p); code != http.StatusUnauthorized {
			t.Errorf("GET %s signed out: got %d, want 401", p, code)
		}
	}
}
