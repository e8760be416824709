package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/shared/app"
	"github.com/shipgate/shipgate/shared/workflow"
)

func TestFromEnv(t *testing.T) {
	base := map[string]string{workflow.EnvTable: "t", workflow.EnvPipeline: "p"}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c app.Config)
	}{
		{"minimal", nil, "", func(t *testing.T, c app.Config) {
			if c.Table != "t" || c.Pipeline != "p" || c.ApprovalTimeout != 0 {
				t.Errorf("got %+v", c)
			}
		}},
		{"lists and approval timeout", map[string]string{workflow.EnvBranches: "main, release/* ,", workflow.EnvApprovalTimeout: "3600", workflow.EnvBaseURL: "https://x.example/"},
			"", func(t *testing.T, c app.Config) {
				if strings.Join(c.Branches, "|") != "main|release/*" || c.ApprovalTimeout != time.Hour || c.BaseURL != "https://x.example" {
					t.Errorf("got branches %q, timeout %v, base %q", c.Branches, c.ApprovalTimeout, c.BaseURL)
				}
			}},
		{"bad approval timeout", map[string]string{workflow.EnvApprovalTimeout: "72h"}, workflow.EnvApprovalTimeout, nil},
		{"missing table", map[string]string{workflow.EnvTable: ""}, workflow.EnvTable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := app.FromEnv(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
