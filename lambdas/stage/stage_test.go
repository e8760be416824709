package stage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/lambdas/build"
	"github.com/shipgate/shipgate/lambdas/stage"
	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/lambdaerr"
	"github.com/shipgate/shipgate/shared/runner/stagekit/kittest"
)

// built runs the real Build stage on a repository with the given build commands and
// artifacts section.
func built(t *testing.T, st *kittest.Stack, id, buildCmd, artifacts string) domain.State {
	t.Helper()
	repo := kittest.NewRepo(t, map[string]string{
		"shipgate.yml": "build:\n  commands: [" + buildCmd + "]\n" + artifacts + `
approval:
  approvers: [alice@example.com]
deploy:
  commands: ["true"]
`,
	})
	bh, err := build.NewWith(st.Config(), st.Deps(), build.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	state := domain.State{Run: repo.Run(id)}
	b, err := bh.Handle(context.Background(), state)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	state.Build = &b
	return state
}

const makeFiles = `"mkdir -p dist docs/sub && head -c 3000000 /dev/urandom > dist/app.bin && echo a > docs/a.html && echo b > docs/sub/b.html && echo x > docs/notes.txt"`

func TestStageStage(t *testing.T) {
	st := kittest.Start(t, false)
	store := artifact.New(st.S3, kittest.Bucket)
	cases := []struct {
		name      string
		artifacts string
		wantPaths []string // name:path in manifest order
		wantType  any
		wantMsg   []string
		wantAudit []string
	}{
		{
			name:      "globs, streaming digests and the manifest",
			artifacts: "artifacts:\n  - name: app\n    paths: [dist/app.bin]\n  - name: docs\n    paths: [\"docs/**/*.html\"]\n",
			wantPaths: []string{"app:dist/app.bin", "docs:docs/a.html", "docs:docs/sub/b.html"},
			wantAudit: []string{"stage.started", "stage.finished:succeeded"},
		},
		{
			name:      "a glob that matches nothing",
			artifacts: "artifacts:\n  - name: app\n    paths: [dist/app.bin, \"dist/*.tar.gz\"]\n",
			wantType:  &lambdaerr.ArtifactsMissing{},
			wantMsg:   []string{`app: "dist/*.tar.gz" matches no file`},
			wantAudit: []string{"stage.started", "stage.finished:failed"},
		},
		{
			name:      "no artifacts declared stages an empty manifest",
			artifacts: "",
			wantPaths: nil,
			wantAudit: []string{"stage.started", "stage.finished:succeeded"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			state := built(t, st, "run-"+string(rune('a'+i)), makeFiles, tc.artifacts)
			aud := &kittest.Audit{}
			h, err := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: aud, WorkDir: t.TempDir(), PartSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Handle(ctx, state)
			if got := aud.Types(); !reflect.DeepEqual(got, tc.wantAudit) {
				t.Errorf("audit = %v, want %v", got, tc.wantAudit)
			}
			if tc.wantType != nil {
				if reflect.TypeOf(err) != reflect.TypeOf(tc.wantType) {
					t.Fatalf("error = %T %v, want %T", err, err, tc.wantType)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error lacks %q: %v", m, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			m, digest, err := store.GetManifest(ctx, out.ManifestKey)
			if err != nil {
				t.Fatal(err)
			}
			if digest != out.ManifestDigest || !strings.HasPrefix(digest, "sha256:") {
				t.Errorf("manifest digest = %s, result says %s", digest, out.ManifestDigest)
			}
			if m.Run != state.Run.ID || m.Commit != state.Run.Push.Commit || m.Pipeline != kittest.Pipeline {
				t.Errorf("manifest identifies %s/%s/%s, want the run", m.Pipeline, m.Run, m.Commit)
			}
			var got []string
			for _, a := range m.Artifacts {
				got = append(got, a.Name+":"+a.Path)
				if want := artifact.ArtifactKey(kittest.Pipeline, m.Commit, m.Run, a.Name, a.Path); a.Key != want {
					t.Errorf("%s key = %s, want %s", a.Path, a.Key, want)
				}
				obj, err := store.Download(ctx, a.Key, filepath.Join(t.TempDir(), "f"))
				if err != nil {
					t.Fatal(err)
				}
				if obj.SHA256 != a.SHA256 || obj.Size != a.Size {
					t.Errorf("%s stored as %d bytes sha %s; manifest says %d %s", a.Path, obj.Size, obj.SHA256, a.Size, a.SHA256)
				}
			}
			if !reflect.DeepEqual(got, tc.wantPaths) {
				t.Errorf("manifest lists %v, want %v", got, tc.wantPaths)
			}
			if len(out.Artifacts) != len(m.Artifacts) {
				t.Errorf("result summarizes %d artifacts, manifest has %d", len(out.Artifacts), len(m.Artifacts))
			}
		})
	}
}

func TestStageSummaryIsCapped(t *testing.T) {
	st := kittest.Start(t, false)
	state := built(t, st, "many", `"mkdir -p out && for i in $(seq 1 30); do echo $i > out/f$i.txt; done"`, "artifacts:\n  - name: files\n    paths: [\"out/*.txt\"]\n")
	h, _ := stage.NewWith(st.Config(), st.Deps(), stage.Options{Audit: &kittest.Audit{}, WorkDir: t.TempDir()})
	out, err := h.Handle(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := artifact.New(st.S3, kittest.Bucket).GetManifest(context.Background(), out.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Artifacts) != 30 || len(out.Artifacts) != stage.MaxSummary {
		t.Errorf("manifest has %d, result %d artifacts; want 30 and %d", len(m.Artifacts), len(out.Artifacts), stage.MaxSummary)
	}
	sum := sha256.Sum256([]byte("1\n"))
	if m.Artifacts[0].Path != "out/f1.txt" || m.Artifacts[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("first artifact %+v, want out/f1.txt with the sha of \"1\\n\"", m.Artifacts[0])
	}
}
