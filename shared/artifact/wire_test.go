package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	seen := map[string]string{} // method+query kind -> checksum header
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
			if _, ok := seen[kind]; !ok {
				seen[kind] = r.Header.Get("X-Amz-Checksum-Sha256") + "|" + r.Header.Get("Content-Encoding")
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
	for i, size := range []int{1000, 11 << 20, 2 << 20} {
		data := randomBytes(size, 3)
		var obj artifact.Object
		var err error
		if i == 2 { // the single-PutObject file path
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, data, 0o644)
			obj, err = store.PutFile(ctx, "wire", p, "")
		} else {
			obj, err = store.Put(ctx, "wire", strings.NewReader(string(data)), "")
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.Download(ctx, "wire", filepath.Join(t.TempDir(), "x"))
		if err != nil || got.SHA256 != obj.SHA256 || got.Size != int64(size) {
			t.Errorf("%d bytes: stored %d bytes sha %s, want %d %s (err %v)", size, got.Size, got.SHA256, size, obj.SHA256, err)
		}
	}
	if len(badSig) > 0 {
		t.Errorf("signed payload hashes differ from the bodies: %v", badSig)
	}
	for _, kind := range []string{"PutObject", "UploadPart"} {
		h := seen[kind]
		if checksum, enc, _ := strings.Cut(h, "|"); len(checksum) != 44 || strings.Contains(enc, "aws-chunked") {
			t.Errorf("%s sent x-amz-checksum-sha256 %q, content-encoding %q; want a base64 SHA-256 header and no aws-chunked body", kind, checksum, enc)
		}
	}
}
