package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/s3local"
)

// Through the real SDK with the local client settings (checksums only when required),
// the SHA-256 checksum still goes on the wire as a plain header (not aws-chunked
// framing, which gofakes3 would store as content), and gofakes3 stores the bytes intact.
func TestChecksumHeadersOnTheWire(t *testing.T) {
	ctx := context.Background()
	srv, err := s3local.Start(s3local.Options{Buckets: []string{bucket}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	var mu sync.Mutex
	seen := map[string]int{} // request kind -> count
	var bad []string         // every PUT that broke a rule
	var badSig []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			kind := "PutObject"
			if r.URL.Query().Has("partNumber") {
				kind = "UploadPart"
			}
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			sum := sha256.Sum256(body)
			mu.Lock()
			seen[kind]++
			// Every request, every part: S3 verifies each part against its own header.
			checksum, enc := r.Header.Get("X-Amz-Checksum-Sha256"), r.Header.Get("Content-Encoding")
			if checksum != base64.StdEncoding.EncodeToString(sum[:]) || strings.Contains(enc, "aws-chunked") {
				bad = append(bad, fmt.Sprintf("%s %s: x-amz-checksum-sha256 %q, content-encoding %q", kind, r.URL.RawQuery, checksum, enc))
			}
			// The payload hash we hand the signer must be the body's (gofakes3 does
			// not check signatures; AWS would refuse a wrong one).
			if got := r.Header.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(sum[:]) {
				badSig = append(badSig, kind+": "+got)
			}
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer rec.Close()
	ep := awsclient.Endpoints{S3: rec.URL}
	cfg, _ := awsclient.Load(ctx, ep)
	store := artifact.New(awsclient.S3(cfg, ep), bucket).WithParts(5<<20, 2)
	cases := []struct {
		name string
		size int
		file bool // PutFile rather than Put of a stream
	}{
		{"small stream", 1000, false},
		{"multipart stream", 11 << 20, false},
		{"single PutObject from a file", 2 << 20, true},
		{"multipart from a file", 11<<20 + 7, true},
	}
	for i, tc := range cases {
		data := randomBytes(tc.size, uint64(3+i))
		var obj artifact.Object
		var err error
		if tc.file {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, data, 0o644)
			obj, err = store.WithSinglePutMax(4<<20).PutFile(ctx, "wire", p, "")
		} else {
			obj, err = store.Put(ctx, "wire", strings.NewReader(string(data)), "")
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := store.Download(ctx, "wire", filepath.Join(t.TempDir(), "x"))
		if err != nil || got.SHA256 != obj.SHA256 || got.SHA256 != hexSum(data) || got.Size != int64(tc.size) {
			t.Errorf("%s: stored %d bytes sha %s, returned sha %s, want %d bytes sha %s (err %v)", tc.name, got.Size, got.SHA256, obj.SHA256, tc.size, hexSum(data), err)
		}
	}
	if len(badSig) > 0 {
		t.Errorf("signed payload hashes differ from the bodies: %v", badSig)
	}
	if len(bad) > 0 {
		t.Errorf("want a base64 SHA-256 of the body in x-amz-checksum-sha256 and no aws-chunked body; got %v", bad)
	}
	// 1 + 0 + 1 + 0 PutObjects; 0 + 3 + 0 + 3 parts of 5 MiB.
	if seen["PutObject"] != 2 || seen["UploadPart"] != 6 {
		t.Errorf("saw %v, want 2 PutObject and 6 UploadPart requests", seen)
	}
}
