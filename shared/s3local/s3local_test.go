package s3local_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/s3local"
)

func TestObjectsSurviveARestart(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s3.db")
	put := func() *s3local.Server {
		srv, err := s3local.Start(s3local.Options{DBPath: db, Buckets: []string{"artifacts"}})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	client := func(srv *s3local.Server) *s3.Client { return clientOf(t, srv) }
	srv := put()
	if _, err := client(srv).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = put()
	defer srv.Close()
	out, err := client(srv).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	if string(b) != "hello" {
		t.Fatalf("after restart got %q, want %q", b, "hello")
	}
}
