package snsnotify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/shipgate/shipgate/shared/notify"
)

// snsStandIn speaks the SNS query protocol for Publish and records what it got.
type snsStandIn struct {
	mu   sync.Mutex
	got  []map[string]string
	fail string // recipient whose publish fails
}

func (s *snsStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "Publish" {
		http.Error(w, "bad request", 400)
		return
	}
	f := map[string]string{}
	for k := range r.Form {
		f[k] = r.Form.Get(k)
	}
	s.mu.Lock()
	s.got = append(s.got, f)
	s.mu.Unlock()
	if f["MessageAttributes.entry.1.Value.StringValue"] == s.fail {
		w.WriteHeader(400)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>nope</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`)
}

func TestSNSPublishesOncePerRecipientWithFilterAttribute(t *testing.T) {
	tests := []struct {
		name    string
		to      []string
		fail    string
		wantN   int
		wantErr string
	}{
		{"two recipients", []string{"Ana@Example.com", "bo@example.com"}, "", 2, ""},
		{"second fails", []string{"ana@example.com", "bo@example.com"}, "bo@example.com", 2, "bo@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stand := &snsStandIn{fail: tc.fail}
			srv := httptest.NewServer(stand)
			defer srv.Close()
			client := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), RetryMaxAttempts: 1})
			s, err := New(client, "arn:aws:sns:us-east-1:1:shipgate")
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), notify.Message{To: tc.to, Subject: "Approve — deploy\nnow", Text: "plain body"})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Send: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want error naming %s", err, tc.wantErr)
			}
			if len(stand.got) != tc.wantN {
				t.Fatalf("got %d publishes, want %d", len(stand.got), tc.wantN)
			}
			for i, f := range stand.got {
				if got, want := f["MessageAttributes.entry.1.Name"], notify.RecipientAttribute; got != want {
					t.Errorf("publish %d attribute name: got %q, want %q", i, got, want)
				}
				if got, want := f["MessageAttributes.entry.1.Value.StringValue"], notify.NormalizeEmail(tc.to[i]); got != want {
					t.Errorf("publish %d recipient: got %q, want %q", i, got, want)
				}
				if got := f["Subject"]; got != "Approve ? deploy now" {
					t.Errorf("subject: got %q, want ASCII one line", got)
				}
				if got := f["Message"]; got != "plain body" {
					t.Errorf("message: got %q", got)
				}
			}
		})
	}
}
