package artifact_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/artifact"
	"github.com/shipgate/shipgate/shared/domain"
)

// fakeS3 is a hand-written S3API whose multipart calls are function fields.
type fakeS3 struct {
	mu      sync.Mutex
	aborted int
	parts   int
	upload  func(n int32) error
	headers []string
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	f.headers = append(f.headers, aws.ToString(in.ChecksumSHA256))
	f.mu.Unlock()
	io.Copy(io.Discard, in.Body)
	return &s3.PutObjectOutput{}, nil
}
func (f *fakeS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errors.New("not used")
}
func (f *fakeS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("u1")}, nil
}
func (f *fakeS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	f.mu.Lock()
	f.parts++
	f.mu.Unlock()
	if err := f.upload(aws.ToInt32(in.PartNumber)); err != nil {
		return nil, err
	}
	return &s3.UploadPartOutput{ETag: aws.String("e")}, nil
}
func (f *fakeS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{}, nil
}
func (f *fakeS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.mu.Lock()
	f.aborted++
	f.mu.Unlock()
	return &s3.AbortMultipartUploadOutput{}, nil
}

func TestUploadFailuresAbortAndClassify(t *testing.T) {
	cases := []struct {
		name     string
		upload   func(n int32) error
		wantKind domain.Kind
	}{
		{"part 3 refused", func(n int32) error {
			if n == 3 {
				return errors.New("AccessDenied")
			}
			return nil
		}, domain.Internal},
		{"every part fails slowly", func(n int32) error {
			time.Sleep(10 * time.Millisecond)
			return errors.New("broken")
		}, domain.Internal},
		{"timeout talking to S3 is transient", func(n int32) error {
			return &timeoutErr{}
		}, domain.Transient},
	}
	body := strings.Repeat("x", 40<<20)
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// Streams go through part buffers; files above the single-put size are read by offset.
	entries := []struct {
		name string
		put  func(*artifact.Store) error
	}{
		{"Put", func(s *artifact.Store) error {
			_, err := s.Put(context.Background(), "k", strings.NewReader(body), "")
			return err
		}},
		{"PutFile", func(s *artifact.Store) error {
			_, err := s.WithSinglePutMax(0).PutFile(context.Background(), "k", path, "")
			return err
		}},
	}
	for _, e := range entries {
		for _, tc := range cases {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				f := &fakeS3{upload: tc.upload}
				store := artifact.New(f, "b").WithParts(5<<20, 2)
				done := make(chan error, 1)
				go func() { done <- e.put(store) }()
				select {
				case err := <-done:
					if err == nil || domain.KindOf(err) != tc.wantKind {
						t.Fatalf("%s error = %v (kind %s), want kind %s", e.name, err, domain.KindOf(err), tc.wantKind)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s hung after a part failed", e.name)
				}
				if f.aborted != 1 {
					t.Errorf("aborted %d times, want 1", f.aborted)
				}
				if f.parts >= 8 {
					t.Errorf("uploaded %d parts of 8 after a failure, want the upload to stop early", f.parts)
				}
			})
		}
	}
}

// timeoutErr looks like a network timeout to the SDK's retry classification.
type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

// The SHA-256 checksum S3 verifies is sent with every put (gofakes3 ignores it; AWS checks it).
func TestPutSendsSHA256Checksum(t *testing.T) {
	f := &fakeS3{}
	if _, err := artifact.New(f, "b").PutBytes(context.Background(), "k", []byte("abc"), ""); err != nil {
		t.Fatal(err)
	}
	// base64 of sha256("abc")
	if want := "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; len(f.headers) != 1 || f.headers[0] != want {
		t.Errorf("checksum headers = %v, want [%s]", f.headers, want)
	}
}
