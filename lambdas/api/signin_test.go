package api_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shipgate/shipgate/lambdas/api"
	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/approval/approvaltest"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/spec"
	"github.com/shipgate/shipgate/shared/webauth/cognitotest"
)

// gateway plays API Gateway's HTTP API for the Api Lambda: each request over TLS becomes
// a payload 2.0 event (cookies in their own field, bodies base64), and the event's
// response goes back to the client, Set-Cookie from the cookies field. No authorizer:
// the routes are public at API Gateway, as the CDK app now deploys them.
type gateway struct {
	*httptest.Server
	h      *api.Handler
	events int
}

func startGateway(t *testing.T) *gateway {
	g := &gateway{}
	g.Server = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.StartTLS()
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, Body: base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				ev.Cookies = append(ev.Cookies, strings.Split(v, "; ")...)
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.RequestContext.HTTP.Method = r.Method
	ev.RequestContext.HTTP.Path = r.URL.Path
	ev.RequestContext.HTTP.SourceIP = "127.0.0.1"
	ev.RequestContext.DomainName = r.Host
	g.events++
	res, err := g.h.Handle(r.Context(), ev)
	if err != nil {
		http.Error(w, "lambda error: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range res.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	out := []byte(res.Body)
	if res.IsBase64Encoded {
		out, _ = base64.StdEncoding.DecodeString(res.Body)
	}
	w.WriteHeader(res.StatusCode)
	w.Write(out)
}

var (
	ann = "ann@example.com"
	eve = domain.Identity{Name: "Eve", Email: "eve@example.com", Login: "eve"}
)

// signedInSite is the Api Lambda configured for Cognito, behind the gateway, on a gate
// with a real table, the Step Functions stand-in and the Cognito stand-in.
type signedInSite struct {
	gw  *gateway
	idp *cognitotest.Server
	env *approvaltest.Env
	cfg app.Config
}

func newSignedInSite(t *testing.T) *signedInSite {
	t.Helper()
	ctx := context.Background()
	dyn, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dyn.Stop() })
	s := &signedInSite{gw: startGateway(t)}
	s.idp = cognitotest.Start(t, s.gw.URL, ann)
	s.env = approvaltest.NewEnv(t, dyn.URL, approvaltest.Options{BaseURL: s.gw.URL})
	s.cfg = s.env.Cfg
	s.cfg.StateMachineARN = "arn:aws:states:us-east-1:000000000000:stateMachine:shipgate"
	s.cfg.CognitoPoolID, s.cfg.CognitoClientID, s.cfg.CognitoDomain, s.cfg.CognitoIssuer = s.idp.PoolID, s.idp.ClientID, s.idp.URL, s.idp.Issuer()
	h, err := api.New(s.cfg, s.env.Deps, api.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.gw.h = h
	return s
}

func (s *signedInSite) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.gw.Client()
	c.Jar = jar
	return c
}

func read(t *testing.T, res *http.Response, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

var hidden = regexp.MustCompile(`name="(f|digest)" value="([^"]*)"`)

// A browser opens the console, signs in at the (stand-in) hosted UI, sees the pending
// approval and approves it from the console form: the decision is the signed-in user's,
// by the console channel, and the run is resumed.
func TestConsoleSignInThenApproveThroughAPIGatewayEvents(t *testing.T) {
	s := newSignedInSite(t)
	a, _ := s.env.Request(approvaltest.Push{RunID: "run-signin-1", Pusher: eve}, spec.Approval{Approvers: []string{ann, "bo@example.com"}})
	c := s.browser(t)
	res, err := c.Get(s.gw.URL + "/")
	page := read(t, res, err)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, ann) || !strings.Contains(page, a.ID) {
		t.Fatalf("console after sign-in = %d, want 200 listing %s for %s:\n%s", res.StatusCode, a.ID, ann, page)
	}
	if ex, _ := s.idp.Counts(); ex != 1 {
		t.Errorf("%d code exchanges, want 1", ex)
	}
	form := url.Values{"decision": {"approve"}, "comment": {"signed in through Cognito"}}
	for _, m := range hidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("f") == "" {
		t.Fatalf("no console form token on the page:\n%s", page)
	}
	res, err = c.PostForm(s.gw.URL+"/approvals/"+a.ID, form)
	body := read(t, res, err)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("console approve = %d:\n%s", res.StatusCode, body)
	}
	got, err := s.env.Svc.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Final == nil || got.Final.Outcome != domain.Approved || len(got.Votes) != 1 || got.Votes[0].Actor.Email != ann || got.Votes[0].Channel != domain.ChannelConsole {
		t.Errorf("approval after the console POST: final %+v votes %+v; want approved by %s via console", got.Final, got.Votes, ann)
	}
	if n := len(s.env.SFN.Accepted()); n != 1 {
		t.Errorf("%d task results sent, want 1 (the run resumed)", n)
	}
}

// Through events: unauthenticated console GETs redirect to sign in, POSTs and /api get
// 401, the approval link routes and the webhook still reach their handlers, and a
// Bearer ID token works on /api.
func TestSignInRequiredOnlyForTheConsole(t *testing.T) {
	s := newSignedInSite(t)
	a, _ := s.env.Request(approvaltest.Push{RunID: "run-signin-2", Pusher: eve}, spec.Approval{Approvers: []string{ann}})
	link := s.env.Links("run-signin-2")[ann]
	c := s.gw.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tests := []struct {
		name, method, path, bearer, body string
		wantCode                         int
		wantLoc, wantBody                string
	}{
		{"console home redirects", "GET", "/", "", "", http.StatusFound, s.gw.URL + "/auth/login?next=%2F", ""},
		{"run page redirects", "GET", "/runs/run-signin-2", "", "", http.StatusFound, s.gw.URL + "/auth/login?next=%2Fruns%2Frun-signin-2", ""},
		{"audit page redirects", "GET", "/audit", "", "", http.StatusFound, s.gw.URL + "/auth/login?next=%2Faudit", ""},
		{"login goes to the hosted UI", "GET", "/auth/login", "", "", http.StatusFound, s.idp.URL + "/oauth2/authorize?", ""},
		{"console POST without a link token", "POST", "/approvals/" + a.ID, "", "decision=approve", http.StatusUnauthorized, "", "sign in"},
		{"API list", "GET", "/api/approvals", "", "", http.StatusUnauthorized, "", `"error"`},
		{"audit API", "GET", "/api/audit", "", "", http.StatusUnauthorized, "", `"error"`},
		{"API with a forged Bearer", "GET", "/api/approvals", "x.y.z", "", http.StatusUnauthorized, "", `"error"`},
		{"API with an ID token", "GET", "/api/approvals", s.idp.Sign(s.idp.Claims(ann)), "", http.StatusOK, "", a.ID},
		{"approval link page without a session", "GET", strings.TrimPrefix(link, s.gw.URL), "", "", http.StatusOK, "", a.ID},
		{"approval link with a forged token", "GET", "/approvals/" + a.ID + "?t=forged", "", "", http.StatusForbidden, "", ""},
		{"webhook without a signature", "POST", "/webhooks/github", "", "{}", http.StatusUnauthorized, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.gw.URL+tc.path, strings.NewReader(tc.body))
			if tc.body != "" && tc.body[0] != '{' {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			res, err := c.Do(req)
			body := read(t, res, err)
			if res.StatusCode != tc.wantCode {
				t.Fatalf("%s %s = %d, want %d:\n%s", tc.method, tc.path, res.StatusCode, tc.wantCode, body)
			}
			if loc := res.Header.Get("Location"); tc.wantLoc != "" && !strings.HasPrefix(loc, tc.wantLoc) {
				t.Errorf("Location = %q, want it to start with %q", loc, tc.wantLoc)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("body does not contain %q:\n%s", tc.wantBody, body)
			}
		})
	}
	// The link page above and the refused POST decided nothing.
	if got, _ := s.env.Svc.Get(context.Background(), a.ID); len(got.Votes) != 0 {
		t.Errorf("%d votes after GETs and refused POSTs, want 0", len(got.Votes))
	}
}

func TestNewAuthConfiguration(t *testing.T) {
	deps := &app.Deps{SigningKey: []byte("0123456789abcdef0123456789abcdef")}
	deps.AWS.Region = "eu-west-1"
	full := app.Config{BaseURL: "https://abc.execute-api.eu-west-1.amazonaws.com", CognitoPoolID: "eu-west-1_Pool",
		CognitoClientID: "client", CognitoDomain: "https://demo-123.auth.eu-west-1.amazoncognito.com"}
	tests := []struct {
		name    string
		mod     func(*app.Config, *app.Deps)
		wantNil bool
		wantErr string
	}{
		{"nothing configured: no sign-in", func(c *app.Config, _ *app.Deps) { *c = app.Config{BaseURL: c.BaseURL} }, true, ""},
		{"fully configured", func(*app.Config, *app.Deps) {}, false, ""},
		{"client missing", func(c *app.Config, _ *app.Deps) { c.CognitoClientID = "" }, false, "SHIPGATE_COGNITO_CLIENT_ID"},
		{"domain missing", func(c *app.Config, _ *app.Deps) { c.CognitoDomain = "" }, false, "SHIPGATE_COGNITO_DOMAIN"},
		{"no region, no issuer", func(_ *app.Config, d *app.Deps) { d.AWS.Region = "" }, false, "region"},
		{"no region but an issuer", func(c *app.Config, d *app.Deps) {
			d.AWS.Region = ""
			c.CognitoIssuer = "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Pool"
		}, false, ""},
		{"plain http hosted UI", func(c *app.Config, _ *app.Deps) { c.CognitoDomain = "http://demo.example.com" }, false, "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, d := full, *deps
			tc.mod(&c, &d)
			a, err := api.NewAuth(c, &d, nil, nil)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("NewAuth = %v, want an error naming %s", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("NewAuth: %v", err)
			case (a == nil) != tc.wantNil:
				t.Errorf("NewAuth = %v, want nil: %v", a, tc.wantNil)
			}
		})
	}
}

// The email link decides without any session: its signed token is the credential.
func TestApprovalLinkDecidesWithoutASession(t *testing.T) {
	s := newSignedInSite(t)
	a, _ := s.env.Request(approvaltest.Push{RunID: "run-signin-3", Pusher: eve}, spec.Approval{Approvers: []string{ann}})
	link := s.env.Links("run-signin-3")[ann]
	c := s.gw.Client() // no cookie jar: never signed in
	res, err := c.PostForm(s.gw.URL+"/approvals/"+a.ID, url.Values{"t": {approvaltest.LinkToken(link)}, "decision": {"approve"}, "digest": {a.ManifestDigest}})
	body := read(t, res, err)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("link POST = %d:\n%s", res.StatusCode, body)
	}
	got, err := s.env.Svc.Get(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Final == nil || got.Final.Outcome != domain.Approved || len(got.Votes) != 1 || got.Votes[0].Channel != domain.ChannelEmail {
		t.Errorf("after the link POST: final %+v votes %+v, want approved by email link", got.Final, got.Votes)
	}
}
