package s3local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/s3local"
)

const mib = 1 << 20

func startClient(t *testing.T, o s3local.Options) (*s3local.Server, *s3.Client) {
	t.Helper()
	srv, err := s3local.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, clientOf(t, srv)
}

// clientOf is the real S3 client, pointed at srv.
func clientOf(t *testing.T, srv *s3local.Server) *s3.Client {
	t.Helper()
	ep := awsclient.Endpoints{S3: srv.URL}
	cfg, err := awsclient.Load(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	return awsclient.S3(cfg, ep)
}

// filled is n bytes that differ from part to part.
func filled(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

type mpu struct {
	t      *testing.T
	c      *s3.Client
	bucket string
	key    string
	id     *string
}

func create(t *testing.T, c *s3.Client, bucket, key string, meta map[string]string) *mpu {
	t.Helper()
	out, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ContentType: aws.String("application/x-test"), Metadata: meta})
	if err != nil {
		t.Fatalf("create upload of %s: %v", key, err)
	}
	return &mpu{t: t, c: c, bucket: bucket, key: key, id: out.UploadId}
}

func (m *mpu) part(n int32, body []byte, opts ...func(*s3.UploadPartInput)) (types.CompletedPart, error) {
	in := &s3.UploadPartInput{Bucket: aws.String(m.bucket), Key: aws.String(m.key), UploadId: m.id, PartNumber: aws.Int32(n),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	for _, o := range opts {
		o(in)
	}
	out, err := m.c.UploadPart(context.Background(), in)
	if err != nil {
		return types.CompletedPart{}, err
	}
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}, nil
}

func (m *mpu) mustPart(n int32, body []byte) types.CompletedPart {
	m.t.Helper()
	p, err := m.part(n, body)
	if err != nil {
		m.t.Fatalf("upload part %d: %v", n, err)
	}
	return p
}

func (m *mpu) complete(parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return m.c.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{Bucket: aws.String(m.bucket), Key: aws.String(m.key),
		UploadId: m.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

func get(t *testing.T, c *s3.Client, bucket, key string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

func TestMultipartUploadStoresThePartsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   bool
	}{{"memory", false}, {"bolt", true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := s3local.Options{Buckets: []string{"b"}}
			if tc.db {
				o.DBPath = filepath.Join(t.TempDir(), "s3.db")
			}
			_, c := startClient(t, o)
			m := create(t, c, "b", "dir/obj.bin", map[string]string{"sha256": "abc"})
			p1, p2, p3 := filled(5*mib, 1), filled(5*mib, 2), filled(1000, 3)
			// Parts arrive out of order and in parallel, and part 2 is sent twice: the
			// second replaces the first.
			parts := make([]types.CompletedPart, 3)
			m.mustPart(2, filled(5*mib, 9))
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []error
			for i, body := range [][]byte{p3, p1, p2} {
				n := []int32{3, 1, 2}[i]
				wg.Add(1)
				go func() {
					defer wg.Done()
					p, err := m.part(n, body)
					mu.Lock()
					defer mu.Unlock()
					parts[n-1] = p
					errs = append(errs, err)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			out, err := m.complete(parts...)
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			var sums []byte
			for _, b := range [][]byte{p1, p2, p3} {
				s := md5.Sum(b)
				sums = append(sums, s[:]...)
			}
			whole := md5.Sum(sums)
			if got, want := aws.ToString(out.ETag), fmt.Sprintf(`"%s-3"`, hex.EncodeToString(whole[:])); got != want {
				t.Errorf("ETag %s, want S3's multipart form %s", got, want)
			}
			obj, got := get(t, c, "b", "dir/obj.bin")
			if want := append(append(append([]byte(nil), p1...), p2...), p3...); !bytes.Equal(got, want) {
				t.Fatalf("object is %d bytes and differs from the %d bytes of parts 1, 2, 3", len(got), len(want))
			}
			if ct := aws.ToString(obj.ContentType); ct != "application/x-test" {
				t.Errorf("content type %q, want the one given at create", ct)
			}
			if v := obj.Metadata["sha256"]; v != "abc" {
				t.Errorf("metadata sha256 = %q, want %q (given at create)", v, "abc")
			}
			if obj.LastModified == nil || obj.LastModified.IsZero() {
				t.Error("no Last-Modified")
			}
			// The upload is gone once completed.
			if _, err := m.part(1, p1); code(err) != "NoSuchUpload" {
				t.Errorf("part after complete: %v, want NoSuchUpload", err)
			}
			if _, err := m.complete(parts...); code(err) != "NoSuchUpload" {
				t.Errorf("second complete: %v, want NoSuchUpload", err)
			}
		})
	}
}

func TestMultipartCompleteRefusesBadPartLists(t *testing.T) {
	_, c := startClient(t, s3local.Options{Buckets: []string{"b"}})
	m := create(t, c, "b", "k", nil)
	p1 := m.mustPart(1, filled(5*mib, 1))
	p2 := m.mustPart(2, filled(10, 2))
	wrongTag := p2
	wrongTag.ETag = aws.String(`"00000000000000000000000000000000"`)
	for _, tc := range []struct {
		name  string
		parts []types.CompletedPart
		want  string
	}{
		{"descending", []types.CompletedPart{p2, p1}, "InvalidPartOrder"},
		{"listed twice", []types.CompletedPart{p1, p1}, "InvalidPartOrder"},
		{"never uploaded", []types.CompletedPart{p1, {PartNumber: aws.Int32(7), ETag: p2.ETag}}, "InvalidPart"},
		{"wrong ETag", []types.CompletedPart{p1, wrongTag}, "InvalidPart"},
		{"no parts", nil, "MalformedXML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.complete(tc.parts...); code(err) != tc.want {
				t.Fatalf("complete: %v, want %s", err, tc.want)
			}
		})
	}
	// A refused complete leaves the upload open and nothing stored.
	if _, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}); err == nil {
		t.Fatal("a refused complete stored the object")
	}
	if _, err := m.complete(p1, p2); err != nil {
		t.Fatalf("complete after refusals: %v", err)
	}
	if _, got := get(t, c, "b", "k"); len(got) != 5*mib+10 {
		t.Fatalf("object is %d bytes, want %d", len(got), 5*mib+10)
	}
}

func TestMultipartRefusals(t *testing.T) {
	_, c := startClient(t, s3local.Options{Buckets: []string{"b"}})
	ctx := context.Background()
	t.Run("unknown bucket", func(t *testing.T) {
		_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("nope"), Key: aws.String("k")})
		if code(err) != "NoSuchBucket" {
			t.Fatalf("create in an unknown bucket: %v, want NoSuchBucket", err)
		}
	})
	t.Run("unknown upload", func(t *testing.T) {
		m := &mpu{t: t, c: c, bucket: "b", key: "k", id: aws.String("no-such-upload")}
		if _, err := m.part(1, []byte("x")); code(err) != "NoSuchUpload" {
			t.Fatalf("part of an unknown upload: %v, want NoSuchUpload", err)
		}
	})
	t.Run("upload of another key", func(t *testing.T) {
		m := create(t, c, "b", "one", nil)
		other := &mpu{t: t, c: c, bucket: "b", key: "two", id: m.id}
		if _, err := other.part(1, []byte("x")); code(err) != "NoSuchUpload" {
			t.Fatalf("part under another key: %v, want NoSuchUpload", err)
		}
	})
	t.Run("part number out of range", func(t *testing.T) {
		m := create(t, c, "b", "k", nil)
		// gofakes3 refuses it before the part reaches the uploads, with InvalidPart.
		if _, err := m.part(10001, []byte("x")); code(err) != "InvalidPart" {
			t.Fatalf("part 10001: %v, want InvalidPart", err)
		}
	})
	t.Run("Content-MD5 mismatch", func(t *testing.T) {
		m := create(t, c, "b", "k", nil)
		bad := md5.Sum([]byte("something else"))
		_, err := m.part(1, []byte("body"), func(in *s3.UploadPartInput) { in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(bad[:])) })
		if code(err) != "BadDigest" {
			t.Fatalf("part with a wrong Content-MD5: %v, want BadDigest", err)
		}
	})
	t.Run("abort", func(t *testing.T) {
		m := create(t, c, "b", "aborted", nil)
		p := m.mustPart(1, []byte("x"))
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("aborted"), UploadId: m.id}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.complete(p); code(err) != "NoSuchUpload" {
			t.Fatalf("complete after abort: %v, want NoSuchUpload", err)
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("aborted")}); err == nil {
			t.Fatal("an aborted upload left an object")
		}
	})
}

func TestMultipartListings(t *testing.T) {
	_, c := startClient(t, s3local.Options{Buckets: []string{"b", "other"}})
	ctx := context.Background()
	m := create(t, c, "b", "logs/a", nil)
	for n := int32(1); n <= 3; n++ {
		m.mustPart(n, filled(int(n)*10, byte(n)))
	}
	var got []string
	var marker *string
	for pages := 0; ; pages++ {
		out, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("b"), Key: aws.String("logs/a"), UploadId: m.id, MaxParts: aws.Int32(2), PartNumberMarker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Parts {
			got = append(got, fmt.Sprintf("%d:%d", aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size)))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if pages > 3 {
			t.Fatal("ListParts does not end")
		}
		marker = out.NextPartNumberMarker
	}
	if fmt.Sprint(got) != "[1:10 2:20 3:30]" {
		t.Errorf("parts over pages of 2: %v, want [1:10 2:20 3:30]", got)
	}

	create(t, c, "b", "logs/b", nil)
	create(t, c, "b", "top", nil)
	create(t, c, "other", "logs/c", nil)
	list := func(in *s3.ListMultipartUploadsInput) (keys, prefixes []string, next *s3.ListMultipartUploadsOutput) {
		t.Helper()
		in.Bucket = aws.String("b")
		out, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		return keys, prefixes, out
	}
	for _, tc := range []struct {
		name         string
		in           s3.ListMultipartUploadsInput
		keys, prefix string
	}{
		{"all", s3.ListMultipartUploadsInput{}, "[logs/a logs/b top]", "[]"},
		{"prefix", s3.ListMultipartUploadsInput{Prefix: aws.String("logs/")}, "[logs/a logs/b]", "[]"},
		{"delimiter", s3.ListMultipartUploadsInput{Delimiter: aws.String("/")}, "[top]", "[logs/]"},
		{"after a key", s3.ListMultipartUploadsInput{KeyMarker: aws.String("logs/a")}, "[logs/b top]", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, prefixes, _ := list(&tc.in)
			if fmt.Sprint(keys) != tc.keys || fmt.Sprint(prefixes) != tc.prefix {
				t.Errorf("uploads %v prefixes %v, want %s %s", keys, prefixes, tc.keys, tc.prefix)
			}
		})
	}
	keys, _, out := list(&s3.ListMultipartUploadsInput{MaxUploads: aws.Int32(2)})
	if fmt.Sprint(keys) != "[logs/a logs/b]" || !aws.ToBool(out.IsTruncated) {
		t.Fatalf("first page of 2: %v truncated=%v, want [logs/a logs/b] truncated", keys, aws.ToBool(out.IsTruncated))
	}
	keys, _, _ = list(&s3.ListMultipartUploadsInput{KeyMarker: out.NextKeyMarker, UploadIdMarker: out.NextUploadIdMarker})
	if fmt.Sprint(keys) != "[top]" {
		t.Fatalf("page after %s: %v, want [top]", aws.ToString(out.NextKeyMarker), keys)
	}
}

// TestMultipartListingPages walks ListMultipartUploads page by page, as a cleanup loop
// does: a common prefix is listed once however many keys it groups, and aborting each
// page's uploads before asking for the next skips none.
func TestMultipartListingPages(t *testing.T) {
	_, c := startClient(t, s3local.Options{Buckets: []string{"b"}})
	ctx := context.Background()
	// pages lists page by page from in, each page as "[P:prefix... key...]".
	pages := func(in *s3.ListMultipartUploadsInput, each func(*s3.ListMultipartUploadsOutput)) []string {
		t.Helper()
		var got []string
		in.Bucket = aws.String("b")
		for i := 0; ; i++ {
			if i > 20 {
				t.Fatalf("listing does not end: %v", got)
			}
			out, err := c.ListMultipartUploads(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			var page []string
			for _, p := range out.CommonPrefixes {
				page = append(page, "P:"+aws.ToString(p.Prefix))
			}
			for _, u := range out.Uploads {
				page = append(page, aws.ToString(u.Key))
			}
			got = append(got, fmt.Sprint(page))
			if each != nil {
				each(out)
			}
			if !aws.ToBool(out.IsTruncated) {
				return got
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
	}

	for _, k := range []string{"a/1", "a/2", "a/3", "b"} {
		create(t, c, "b", k, nil)
	}
	if got := fmt.Sprint(pages(&s3.ListMultipartUploadsInput{Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)}, nil)); got != "[[P:a/] [b]]" {
		t.Errorf("pages of 1 with delimiter /: %s, want [[P:a/] [b]]", got)
	}

	// A key equal to the listing's prefix is an upload, not a group: the page after it
	// goes on with the keys under the prefix.
	for _, k := range []string{"p/", "p/", "p/x", "p/z/1"} {
		create(t, c, "b", k, nil)
	}
	under := pages(&s3.ListMultipartUploadsInput{Prefix: aws.String("p/"), Delimiter: aws.String("/"), MaxUploads: aws.Int32(1)}, nil)
	if fmt.Sprint(under) != "[[p/] [p/] [p/x] [P:p/z/]]" {
		t.Errorf("pages of 1 under prefix p/: %v, want [[p/] [p/] [p/x] [P:p/z/]]", under)
	}
	for _, k := range []string{"p/", "p/", "p/x", "p/z/1"} {
		out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("b"), Prefix: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Uploads {
			if aws.ToString(u.Key) == k {
				c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("b"), Key: u.Key, UploadId: u.UploadId})
			}
		}
	}

	var ids []string
	for range 4 {
		ids = append(ids, aws.ToString(create(t, c, "b", "k", nil).id))
	}
	var aborted []string
	got := pages(&s3.ListMultipartUploadsInput{MaxUploads: aws.Int32(2)}, func(out *s3.ListMultipartUploadsOutput) {
		for _, u := range out.Uploads {
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("b"), Key: u.Key, UploadId: u.UploadId}); err != nil {
				t.Fatal(err)
			}
			if aws.ToString(u.Key) == "k" {
				aborted = append(aborted, aws.ToString(u.UploadId))
			}
		}
	})
	if fmt.Sprint(aborted) != fmt.Sprint(ids) {
		t.Errorf("aborting page by page reached uploads %v of key k, want all of %v in the order they were started (pages %v)", aborted, ids, got)
	}
	if left := pages(&s3.ListMultipartUploadsInput{}, nil); fmt.Sprint(left) != "[[]]" {
		t.Errorf("after aborting every listed upload, %v are left", left)
	}
}

func TestListPartsWithMaxPartsZeroListsThemAll(t *testing.T) {
	_, c := startClient(t, s3local.Options{Buckets: []string{"b"}})
	m := create(t, c, "b", "k", nil)
	for n := int32(1); n <= 3; n++ {
		m.mustPart(n, []byte("x"))
	}
	out, err := c.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String("b"), Key: aws.String("k"), UploadId: m.id, MaxParts: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Parts) != 3 || aws.ToBool(out.IsTruncated) {
		t.Fatalf("max-parts 0: %d parts, truncated %v; want all 3, as S3's default of 1,000 gives", len(out.Parts), aws.ToBool(out.IsTruncated))
	}
}
