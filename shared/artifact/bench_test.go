package artifact_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shipgate/shipgate/shared/artifact"
)

// BenchmarkStagingThroughput compares staging a file (streaming SHA-256, bounded
// multipart upload with S3 SHA-256 checksums) with one plain PutObject of the same file
// to the same endpoint. Sizes default to 100 MiB; SHIPGATE_BENCH_MB overrides.
func BenchmarkStagingThroughput(b *testing.B) {
	size := 100
	if s := os.Getenv("SHIPGATE_BENCH_MB"); s != "" {
		fmt.Sscan(s, &size)
	}
	n := size << 20
	path := filepath.Join(b.TempDir(), "artifact.bin")
	if err := os.WriteFile(path, randomBytes(n, 7), 0o644); err != nil {
		b.Fatal(err)
	}
	client := localS3(b)
	ctx := context.Background()
	b.Run(fmt.Sprintf("plain-PutObject/%dMiB", size), func(b *testing.B) {
		b.SetBytes(int64(n))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("plain"), Body: f, ContentLength: aws.Int64(int64(n))})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, conc := range []int{1, artifact.DefaultConcurrency} {
		store := artifact.New(client, bucket).WithParts(artifact.DefaultPartSize, conc)
		b.Run(fmt.Sprintf("artifact.PutFile/%dMiB/concurrency=%d", size, conc), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := store.PutFile(ctx, "staged", path, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The small-file path (one PutObject with a checksum) for comparison.
	small := randomBytes(64<<10, 9)
	b.Run("artifact.Put/64KiB", func(b *testing.B) {
		store := artifact.New(client, bucket)
		b.SetBytes(int64(len(small)))
		for b.Loop() {
			if _, err := store.Put(ctx, "small", bytes.NewReader(small), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
