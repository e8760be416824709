package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxRequestBody bounds what the adapter accepts; API Gateway itself caps payloads at
// 10 MB, so anything larger cannot arrive from it anyway.
const MaxRequestBody = 10 << 20

// Lambda adapts an http.Handler to API Gateway HTTP API (payload format 2.0) events.
type Lambda struct{ H http.Handler }

// Handle turns the event into a request, serves it, and turns the response back.
func (l Lambda) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := Request(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: err.Error() + "\n",
			Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, nil
	}
	rec := newRecorder()
	l.H.ServeHTTP(rec, req)
	return rec.response(), nil
}

// Request builds the http.Request API Gateway described: the body is base64-decoded when
// flagged, so handlers (and HMAC checks) always see the raw bytes; JWT claims become the
// request's identity (the email claim, else the username).
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("request body is flagged base64 but does not decode: %w", err)
		}
		body = b
	}
	if len(body) > MaxRequestBody {
		return nil, fmt.Errorf("request body of %d bytes is over the %d byte limit", len(body), MaxRequestBody)
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	u := &url.URL{Path: ev.RawPath, RawQuery: ev.RawQueryString}
	if u.Path == "" {
		u.Path = ev.RequestContext.HTTP.Path
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("bad request line: %w", err)
	}
	for k, v := range ev.Headers {
		// API Gateway joins repeated headers with commas; keep them as one value.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = ev.RequestContext.DomainName
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.ContentLength = int64(len(body))
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		email := a.JWT.Claims["email"]
		if email == "" {
			email = a.JWT.Claims["cognito:username"]
		}
		if email != "" {
			req = req.WithContext(WithIdentity(req.Context(), email))
		}
	}
	return req, nil
}

// recorder collects a handler's response for API Gateway. (httptest's recorder would do,
// but it drags the flag package and a test certificate into the Lambda binary.)
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	wrote  bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, code: http.StatusOK} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// response converts the recorded response; bodies that are not UTF-8 text go base64.
func (r *recorder) response() events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: r.code, Headers: map[string]string{}}
	for k, vs := range r.header {
		if strings.EqualFold(k, "Set-Cookie") {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ",")
	}
	b := r.body.Bytes()
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
