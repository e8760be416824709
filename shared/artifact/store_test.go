package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/s3local"
)

const bucket = "shipgate-test"

// localS3 starts the in-process S3 stand-in and returns a real SDK client for it.
func localS3(t testing.TB) *s3.Client {
	t.Helper()
	srv, err := s3local.Start(s3local.Options{Buckets: []string{bucket, "target"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ep := awsclient.Endpoints{S3: srv.URL}
	cfg, err := awsclient.Load(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	return awsclient.S3(cfg, ep)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPutStreamsAndDigests(t *testing.T) {
	ctx := context.Background()
	client := localS3(t)
	store := artifact.New(client, bucket).WithParts(5<<20, 3)
	cases := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 1234},
		{"exactly one part", 5 << 20},
		{"one part and a byte", 5<<20 + 1},
		{"several parts", 17<<20 + 3},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size, uint64(i+1))
			key := "artifacts/p/c/r/bin/" + strings.ReplaceAll(tc.name, " ", "-")
			// A reader that hides bytes.Reader's WriterTo/Seeker, as a file pipe would.
			obj, err := store.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(data)}, "")
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if obj.Size != int64(tc.size) || obj.SHA256 != hexSum(data) {
				t.Errorf("Put returned size %d sha %s, want %d %s", obj.Size, obj.SHA256, tc.size, hexSum(data))
			}
			dst := filepath.Join(t.TempDir(), "out")
			got, err := store.Download(ctx, key, dst)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			if got.SHA256 != obj.SHA256 || got.Size != obj.Size {
				t.Errorf("downloaded size %d sha %s, want %d %s (object corrupted in transit or at rest)", got.Size, got.SHA256, obj.Size, obj.SHA256)
			}
		})
	}
}

func TestPutFilePaths(t *testing.T) {
	ctx := context.Background()
	store := artifact.New(localS3(t), bucket).WithParts(5<<20, 2).WithSinglePutMax(3 << 20)
	cases := []struct {
		name string
		size int
	}{
		{"small object", 100},
		{"one PutObject from the file", 2 << 20},
		{"multipart above the single-put limit", 12<<20 + 5},
		{"multipart, whole parts only", 15 << 20},
		{"multipart, last part one byte", 10<<20 + 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size, uint64(100+i))
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			obj, err := store.PutFile(ctx, "pf/"+tc.name, p, "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := store.Download(ctx, "pf/"+tc.name, filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			if obj.SHA256 != hexSum(data) || got.SHA256 != obj.SHA256 || got.Size != int64(tc.size) {
				t.Errorf("PutFile sha %s, stored %d bytes sha %s; want %d bytes sha %s", obj.SHA256, got.Size, got.SHA256, tc.size, hexSum(data))
			}
		})
	}
}

func TestOpenMissingIsNotFound(t *testing.T) {
	store := artifact.New(localS3(t), bucket)
	_, _, err := store.Open(context.Background(), "nope")
	if !domain.IsKind(err, domain.NotFound) {
		t.Fatalf("Open(missing) error = %v, want kind NotFound", err)
	}
}

func TestManifestDigestIsOverStoredBytes(t *testing.T) {
	ctx := context.Background()
	client := localS3(t)
	store := artifact.New(client, bucket)
	m := domain.Manifest{Pipeline: "p", Run: "r1", Commit: strings.Repeat("a", 40),
		Artifacts: []domain.Artifact{{Name: "bin", Path: "out/app", Key: "k", Size: 3, SHA256: hexSum([]byte("abc"))}}}
	key, digest, err := store.PutManifest(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if want := artifact.ManifestKey("p", m.Commit, "r1"); key != want {
		t.Errorf("manifest key = %s, want %s", key, want)
	}
	got, gotDigest, err := store.GetManifest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if gotDigest != digest || got.Artifacts[0].SHA256 != m.Artifacts[0].SHA256 {
		t.Errorf("re-read digest %s, want %s", gotDigest, digest)
	}
	// Tamper: the same key with other bytes must change the digest.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(`{"pipeline":"p"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, d2, err := store.GetManifest(ctx, key); err != nil || d2 == digest {
		t.Errorf("after tampering digest = %s (err %v), want a different digest than %s", d2, err, digest)
	}
}

func TestKeysLayout(t *testing.T) {
	c := strings.Repeat("f", 40)
	cases := []struct{ name, got, want string }{
		{"spec", artifact.SpecKey("p", "r"), "runs/p/r/spec.json"},
		{"workspace", artifact.WorkspaceKey("p", "r"), "workspaces/p/r.tar.gz"},
		{"log", artifact.LogKey("p", "r", "build"), "logs/p/r/build.log"},
		{"report", artifact.ReportKey("p", "r", "out/junit.xml"), "reports/p/r/out/junit.xml"},
		{"report cannot escape", artifact.ReportKey("p", "r", "../../x.xml"), "reports/p/r/x.xml"},
		{"artifact", artifact.ArtifactKey("p", c, "r", "bin", "dist/app"), "artifacts/p/" + c + "/r/bin/dist/app"},
		{"manifest", artifact.ManifestKey("p", c, "r"), "artifacts/p/" + c + "/r/manifest.json"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s key = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	for _, bad := range []string{"", "..", "a/b", `a\b`} {
		if err := artifact.CheckSegment("run id", bad); err == nil {
			t.Errorf("CheckSegment(%q) = nil, want an error", bad)
		}
	}
	if err := artifact.CheckSegment("run id", "main-abc123-1"); err != nil {
		t.Errorf("CheckSegment(valid) = %v", err)
	}
}

// Against a stand-in on this machine, parts beyond the CPUs only contend; on AWS (or any
// remote endpoint) the default parallelism hides per-connection limits.
func TestConcurrencyFollowsEndpoint(t *testing.T) {
	local := min(artifact.DefaultConcurrency, max(2, runtime.GOMAXPROCS(0)))
	cases := []struct {
		name     string
		client   artifact.S3API
		wantConc int
	}{
		{"AWS, no endpoint override", s3.New(s3.Options{Region: "eu-west-1"}), artifact.DefaultConcurrency},
		{"remote endpoint", s3.New(s3.Options{Region: "eu-west-1", BaseEndpoint: aws.String("https://s3.example.com")}), artifact.DefaultConcurrency},
		{"loopback IPv4", s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:4566")}), local},
		{"loopback IPv6", s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://[::1]:4566")}), local},
		{"localhost", s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://localhost:9000")}), local},
		{"not an SDK client", &fakeS3{}, artifact.DefaultConcurrency},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size, conc := artifact.New(tc.client, bucket).Parts()
			if size != artifact.DefaultPartSize || conc != tc.wantConc {
				t.Errorf("Parts() = %d, %d; want %d, %d", size, conc, artifact.DefaultPartSize, tc.wantConc)
			}
		})
	}
}
