package snsnotify

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/shipgate/shipgate/shared/notify"
	"github.com/shipgate/shipgate/shared/notify/snsnotify/snstest"
)

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
			stand := &snstest.StandIn{Fail: tc.fail}
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
			got := stand.Publishes()
			if len(got) != tc.wantN {
				t.Fatalf("got %d publishes, want %d", len(got), tc.wantN)
			}
			for i, f := range got {
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
