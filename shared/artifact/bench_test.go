package artifact_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	b.Run(fmt.Sprintf("artifact.PutFile/%dMiB", size), func(b *testing.B) {
		store := artifact.New(client, bucket)
		b.SetBytes(int64(n))
		for b.Loop() {
			if _, err := store.PutFile(ctx, "staged", path, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, conc := range []int{1, artifact.DefaultConcurrency} {
		store := artifact.New(client, bucket).WithParts(artifact.DefaultPartSize, conc).WithSinglePutMax(0)
		b.Run(fmt.Sprintf("artifact.PutFile-multipart/%dMiB/concurrency=%d", size, conc), func(b *testing.B) {
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

// BenchmarkStagingVsPlain alternates a plain PutObject and a staging PutFile of the same
// 100 MiB file in every iteration and reports staging throughput as a percentage of the
// plain one: on a shared machine the load moves between runs, so the two are measured
// side by side rather than in separate benchmarks.
func BenchmarkStagingVsPlain(b *testing.B) {
	n := 100 << 20
	path := filepath.Join(b.TempDir(), "artifact.bin")
	if err := os.WriteFile(path, randomBytes(n, 11), 0o644); err != nil {
		b.Fatal(err)
	}
	client := localS3(b)
	ctx := context.Background()
	for _, mode := range []struct {
		name  string
		store *artifact.Store
	}{
		{"single-put", artifact.New(client, bucket)},
		{"multipart", artifact.New(client, bucket).WithSinglePutMax(0)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var plain, staged time.Duration
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("plain"), Body: f, ContentLength: aws.Int64(int64(n))})
				plain += time.Since(t0)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				t0 = time.Now()
				if _, err := mode.store.PutFile(ctx, "staged", path, ""); err != nil {
					b.Fatal(err)
				}
				staged += time.Since(t0)
			}
			mb := float64(n) / 1e6 * float64(b.N)
			b.ReportMetric(mb/plain.Seconds(), "plain-MB/s")
			b.ReportMetric(mb/staged.Seconds(), "staged-MB/s")
			b.ReportMetric(100*plain.Seconds()/staged.Seconds(), "staged/plain-%")
		})
	}
}
