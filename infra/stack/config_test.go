package stack

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func ctx(m map[string]any) func(string) any { return func(k string) any { return m[k] } }

func TestFromContext(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]any
		check   func(Config) string // "" when fine
		wantErr []string            // substrings, each must appear
	}{
		{
			name: "defaults",
			in:   map[string]any{},
			check: func(c Config) string {
				want := Config{PipelineName: "shipgate", ApprovalTimeout: 72 * time.Hour, BuildMemoryMiB: 3008, BuildTimeout: 15 * time.Minute, Branches: []string{"main"}}
				if !reflect.DeepEqual(c, want) {
					return "got " + jsonString(c)
				}
				if c.Provider() != ProviderGitHub {
					return "no repository should mean GitHub webhooks"
				}
				return ""
			},
		},
		{
			name: "strings from -c",
			in: map[string]any{"repository": "acme/shop", "branches": "main, release/*", "approvers": "a@x.io,b@x.io",
				"approvalTimeout": "48h", "buildMemory": "4096", "buildTimeout": "600", "pipelineName": "shop_ci"},
			check: func(c Config) string {
				if c.Repository != "acme/shop" || c.Provider() != ProviderGitHub || strings.Join(c.Branches, "|") != "main|release/*" ||
					len(c.Approvers) != 2 || c.ApprovalTimeout != 48*time.Hour || c.BuildMemoryMiB != 4096 || c.BuildTimeout != 10*time.Minute || c.PipelineName != "shop_ci" {
					return "got " + jsonString(c)
				}
				return ""
			},
		},
		{
			name: "JSON values from cdk.json",
			in:   map[string]any{"repository": "my-repo", "branches": []any{"main", "dev"}, "notifyEmails": []any{"o@x.io"}, "buildMemory": float64(2048), "approvalTimeout": float64(3600)},
			check: func(c Config) string {
				if c.Provider() != ProviderCodeCommit || len(c.Branches) != 2 || c.NotifyEmails[0] != "o@x.io" || c.BuildMemoryMiB != 2048 || c.ApprovalTimeout != time.Hour {
					return "got " + jsonString(c)
				}
				return ""
			},
		},
		{name: "bad repository", in: map[string]any{"repository": "a/b/c"}, wantErr: []string{`context "repository"`, "a/b/c"}},
		{name: "bad email", in: map[string]any{"approvers": "alice"}, wantErr: []string{`context "approvers"`, `"alice" is not an email`}},
		{name: "timeout too long", in: map[string]any{"approvalTimeout": "800h"}, wantErr: []string{`context "approvalTimeout"`}},
		{name: "unparsable duration", in: map[string]any{"buildTimeout": "soon"}, wantErr: []string{`context "buildTimeout"`, `"soon"`}},
		{name: "build timeout over Lambda's limit", in: map[string]any{"buildTimeout": "20m"}, wantErr: []string{"Lambda's maximum"}},
		{name: "memory out of range", in: map[string]any{"buildMemory": float64(64)}, wantErr: []string{`context "buildMemory"`}},
		{name: "memory not a number", in: map[string]any{"buildMemory": "lots"}, wantErr: []string{`"lots" is not a whole number`}},
		{name: "wrong type", in: map[string]any{"repository": float64(3)}, wantErr: []string{`context "repository": want a string`}},
		{name: "list of non-strings", in: map[string]any{"branches": []any{1.0}}, wantErr: []string{`context "branches": want a list of strings`}},
		{name: "empty branches", in: map[string]any{"branches": " , "}, wantErr: []string{"lists no branch"}},
		{name: "bad pipeline name", in: map[string]any{"pipelineName": "my pipeline"}, wantErr: []string{`context "pipelineName"`}},
		{name: "bad bucket names", in: map[string]any{"bucketName": "Bad_Bucket", "deployBuckets": "ok-bucket,NO"}, wantErr: []string{`context "bucketName"`, `context "deployBuckets": "NO"`}},
		{name: "bad cognito domain", in: map[string]any{"cognitoDomain": "my-aws-login"}, wantErr: []string{`context "cognitoDomain"`}},
		{name: "several errors at once", in: map[string]any{"approvers": "x", "buildMemory": float64(1)}, wantErr: []string{"approvers", "buildMemory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromContext(ctx(tc.in))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; want one mentioning %v", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FromContext: %v", err)
			}
			if msg := tc.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestRecipients(t *testing.T) {
	c := Config{Approvers: []string{"Bob@x.io", "alice@x.io"}, NotifyEmails: []string{"ops@x.io", "bob@x.io"}}
	if got, want := c.Recipients(), []string{"alice@x.io", "Bob@x.io", "ops@x.io"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Recipients() = %v, want %v (sorted and unique ignoring case, first spelling kept)", got, want)
	}
}

func TestStackName(t *testing.T) {
	tests := []struct{ pipeline, want string }{{"shipgate", "Shipgate"}, {"shop", "Shipgate-shop"}}
	for _, tc := range tests {
		if got := StackName(tc.pipeline); got != tc.want {
			t.Errorf("StackName(%q) = %q, want %q", tc.pipeline, got, tc.want)
		}
	}
}
