package deploy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shipgate/shipgate/lambdas/deploy"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// S3 throttling while copying to the target (before any deploy command ran) fails the
// attempt as Transient and releases the deploy marker, so the state machine's retry
// deploys; the commands still run exactly once.
func TestThrottledTargetCopyIsRetriedAndDeploysOnce(t *testing.T) {
	st := kittest.Start(t, true)
	ctx := context.Background()
	log := filepath.Join(t.TempDir(), "deploys.log")
	state := staged(t, st, "throttled", log, "")

	// A proxy in front of the S3 stand-in that answers 503 SlowDown to writes into the
	// target bucket while throttle is set.
	target, _ := url.Parse(st.Endpoints.S3)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var throttle atomic.Bool
	throttle.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttle.Load() && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/"+kittest.Target+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ep := awsclient.Endpoints{S3: srv.URL, DynamoDB: st.Endpoints.DynamoDB}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	deps := st.Deps()
	deps.S3 = awsclient.S3(cfg, ep)

	aud := &kittest.Audit{}
	h, err := deploy.NewWith(st.Config(), deps, deploy.Options{Decisions: approved(state), Audit: aud, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Handle(ctx, state)
	var tr *lambdaerr.Transient
	if !asType(err, &tr) || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("throttled attempt: error = %T %v, want Transient naming SlowDown", err, err)
	}
	if got := lines(t, log); got != nil {
		t.Fatalf("deploy commands ran during the throttled attempt: %v", got)
	}
	throttle.Store(false)
	out, err := h.Handle(ctx, state)
	if err != nil || out.AlreadyDeployed {
		t.Fatalf("retry: %+v, %v; want a fresh deploy", out, err)
	}
	if got := lines(t, log); len(got) != 1 {
		t.Errorf("deploy commands ran %d times, want once", len(got))
	}
	want := "stage.started deploy.started deploy.finished:retrying stage.finished:failed stage.started deploy.started deploy.finished:succeeded stage.finished:succeeded"
	if got := strings.Join(aud.Types(), " "); got != want {
		t.Errorf("audit = %s\nwant    %s", got, want)
	}
}
