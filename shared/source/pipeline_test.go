package source

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/source/gitserver"
	"github.com/shipgate/shipgate/shared/spec"
)

// TestFetchThenFilter is the Build stage's first half with real parts: fetch a pushed
// commit over HTTPS with a token, read its spec, and apply the spec's filters to the
// files the push really changed.
func TestFetchThenFilter(t *testing.T) {
	work, err := gitserver.InitRepo(filepath.Join(t.TempDir(), "work"), "main")
	if err != nil {
		t.Fatal(err)
	}
	const specYAML = "branches: [main]\npaths: [\"src/**\"]\napproval: {approvers: [a@example.com]}\ndeploy: {commands: [./deploy.sh]}\n"
	base, err := work.Commit("base", map[string]string{"shipgate.yml": specYAML, "src/a.go": "package a\n", "docs/x.md": "x\n"})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := work.Commit("docs only", map[string]string{"docs/x.md": "y\n"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := work.Commit("code", map[string]string{"src/a.go": "package a // changed\n"})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := work.Commit("spec typo", map[string]string{"shipgate.yml": strings.Replace(specYAML, "paths:", "path:", 1)})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := work.Remove("no spec", "shipgate.yml")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := work.PushBare(filepath.Join(root, "acme", "app.git")); err != nil {
		t.Fatal(err)
	}
	srv, err := gitserver.Start(gitserver.Options{Root: root, Auth: gitserver.GitHubToken("ghs_t")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fe := New(Options{GitHubToken: func(context.Context) (string, error) { return "ghs_t", nil }, GitHubHosts: []string{host(srv.URL)}, CAFile: srv.CAFile})

	tests := []struct {
		name           string
		commit, before string
		branch         string
		wantRun        bool
		wantReason     string
		wantKind       domain.Kind // from spec.Load; "" means a spec
		wantMsg        string
	}{
		{name: "docs-only push is skipped", commit: docs, before: base, branch: "main",
			wantReason: "none of the 1 changed files (docs/x.md) matches paths [src/**]"},
		{name: "code push runs", commit: code, before: docs, branch: "main", wantRun: true},
		{name: "new branch is filtered by name", commit: code, before: strings.Repeat("0", 40), branch: "feature/x",
			wantReason: "branch feature/x matches none of [main]"},
		{name: "unknown before runs", commit: docs, before: "", branch: "main", wantRun: true},
		{name: "spec typo names the line", commit: broken, before: code, branch: "main",
			wantKind: domain.SpecInvalid, wantMsg: "shipgate.yml:2: path: unknown key (did you mean paths?)"},
		{name: "spec removed", commit: gone, before: broken, branch: "main",
			wantKind: domain.SpecMissing, wantMsg: "no shipgate.yml at the repository root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := domain.Push{Provider: domain.ProviderGitHub, Repository: "acme/app", CloneURL: srv.URL + "/acme/app.git",
				Ref: "refs/heads/" + tt.branch, Branch: tt.branch, Commit: tt.commit, Before: tt.before}
			dir := filepath.Join(t.TempDir(), "ws")
			res, err := fe.Fetch(context.Background(), p, dir)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			s, err := spec.Load(dir)
			if tt.wantKind != "" {
				if domain.KindOf(err) != tt.wantKind || err.Error() != tt.wantMsg {
					t.Errorf("Load: got %s %q, want %s %q", domain.KindOf(err), err, tt.wantKind, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			run, reason := spec.Matches(s, tt.branch, res.ChangedFiles)
			if run != tt.wantRun || reason != tt.wantReason {
				t.Errorf("Matches(changed %q) = %v %q, want %v %q", res.ChangedFiles, run, reason, tt.wantRun, tt.wantReason)
			}
		})
	}
}
