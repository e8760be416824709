package artifact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

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
			// Wall time, and CPU time of the whole process (client and in-process
			// stand-in): on a loaded machine the wall ratio drifts towards the CPU one.
			var plain, staged, plainMP, plainCPU, stagedCPU, plainMPCPU time.Duration
			type op struct {
				wall, cpu *time.Duration
				run       func()
			}
			ops := []op{
				{&plain, &plainCPU, func() {
					f, err := os.Open(path)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("plain"), Body: f, ContentLength: aws.Int64(int64(n))})
					if err != nil {
						b.Fatal(err)
					}
				}},
				{&staged, &stagedCPU, func() {
					if _, err := mode.store.PutFile(ctx, "staged", path, ""); err != nil {
						b.Fatal(err)
					}
				}},
			}
			if mode.name == "multipart" {
				ops = append(ops, op{&plainMP, &plainMPCPU, func() { plainMultipart(b, client, path, int64(n), mode.store) }})
			}
			for i := 0; b.Loop(); i++ {
				// The order rotates: measured side by side, the later of two identical
				// uploads in a row cost up to 50 ms less CPU per 100 MiB, so a fixed
				// order favours one side. Each upload starts from a collected heap so
				// none pays for the garbage of the one before (the stand-in allocates
				// every object several times over).
				for j := range ops {
					o := ops[(i+j)%len(ops)]
					runtime.GC()
					c0, t0 := processCPU(), time.Now()
					o.run()
					*o.wall += time.Since(t0)
					*o.cpu += processCPU() - c0
				}
			}
			mb := float64(n) / 1e6 * float64(b.N)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
			b.ReportMetric(mb/plain.Seconds(), "plain-MB/s")
			b.ReportMetric(mb/staged.Seconds(), "staged-MB/s")
			b.ReportMetric(100*plain.Seconds()/staged.Seconds(), "staged/plain-%")
			b.ReportMetric(ms(plainCPU), "plain-cpu-ms/op")
			b.ReportMetric(ms(stagedCPU), "staged-cpu-ms/op")
			if plainMP > 0 {
				// A multipart upload without checksums, the same parts at the same
				// concurrency, shows how much of a gap is ours and how much the
				// stand-in's multipart path (which holds and MD5s every part, then
				// streams them to its store) costs beyond its PutObject.
				b.ReportMetric(100*plainMP.Seconds()/staged.Seconds(), "staged/plain-multipart-%")
				b.ReportMetric(ms(plainMPCPU), "plain-multipart-cpu-ms/op")
			}
		})
	}
}

// plainMultipart uploads path as an S3 client would with no checksums: parts of the
// size and concurrency like's, read straight from the file.
func plainMultipart(b *testing.B, client *s3.Client, path string, n int64, like *artifact.Store) {
	ctx := context.Background()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("plain-mp")})
	if err != nil {
		b.Fatal(err)
	}
	ps, conc := like.Parts()
	size := int64(ps)
	count := int((n + size - 1) / size)
	parts := make([]types.CompletedPart, count)
	errs := make([]error, count)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range count {
		off := int64(i) * size
		l := min(size, n-off)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("plain-mp"), UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(f, off, l), ContentLength: aws.Int64(l)})
			if err != nil {
				errs[i] = err
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("plain-mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the CPU time this process has used so far, user and system.
func processCPU() time.Duration {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
