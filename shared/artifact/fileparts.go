package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/shipgate/shipgate/shared/domain"
)

// hashChunk is how much is handed to SHA-256 at a time. Its assembly block function
// cannot be preempted: a garbage collection that must scan a goroutine stuck in one
// 6 MiB call spins a core (runtime.suspendG) until it returns, which the profiles of
// multipart staging showed as a tenth of the process's CPU. 256 KiB take ~0.2 ms.
const hashChunk = 256 << 10

// putFileMultipart uploads the regular file f (whose stat is st) as a multipart upload
// with no part buffers: Concurrency workers each take the next part, hash it for S3's
// per-part checksum (also the SigV4 payload hash) and send it, both read from the file
// by offset. The whole-object SHA-256 needs the bytes in order, so one more goroutine
// reads the file sequentially alongside them and may still be finishing while S3
// assembles the parts: the digest is needed only once Complete returned.
//
// Parts and the whole-object digest come from separate reads of the file, so a file
// rewritten meanwhile must not yield a manifest digest the object does not have: the
// size and modification time are checked before Complete and after the last read.
func (s *Store) putFileMultipart(ctx context.Context, key string, f *os.File, st os.FileInfo, contentType string) (Object, error) {
	size := st.Size()
	partSize := filePartSize(size, int64(s.partSize))
	count := int((size + partSize - 1) / partSize)

	created, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return Object{}, Wrap(err, domain.Internal, "start upload of s3://%s/%s", s.bucket, key)
	}
	uploadID := created.UploadId
	abort := func() {
		// A fresh context: the caller's may be why we are aborting.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30e9)
		defer cancel()
		_, _ = s.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := &firstError{cancel: cancel}

	var whole [sha256.Size]byte
	wholeDone := make(chan struct{})
	go func() {
		defer close(wholeDone)
		h := sha256.New()
		n, err := copyHashed(ctx, h, io.NewSectionReader(f, 0, size), make([]byte, hashChunk))
		switch {
		case err != nil:
			first.set(fmt.Errorf("hash %s: %w", f.Name(), err))
		case n != size:
			first.set(fmt.Errorf("%s shrank from %d to %d bytes while it was uploaded", f.Name(), size, n))
		default:
			h.Sum(whole[:0])
		}
	}()

	parts := make([]types.CompletedPart, count)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.concurrency, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := make([]byte, hashChunk)
			h := sha256.New()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(count) {
					return
				}
				off := i * partSize
				l := min(partSize, size-off)
				h.Reset()
				n, err := copyHashed(ctx, h, io.NewSectionReader(f, off, l), chunk)
				if err == nil && n != l {
					err = fmt.Errorf("file shrank to %d bytes while it was uploaded", off+n)
				}
				if err != nil {
					first.set(fmt.Errorf("read %s at %d: %w", f.Name(), off, err))
					return
				}
				var sum [sha256.Size]byte
				h.Sum(sum[:0])
				b64 := base64.StdEncoding.EncodeToString(sum[:])
				num := int32(i + 1)
				// A SectionReader, not the file: the SDK seeks the body to retry, and
				// the length must stay the one hashed.
				out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
					Bucket:            aws.String(s.bucket),
					Key:               aws.String(key),
					UploadId:          uploadID,
					PartNumber:        aws.Int32(num),
					Body:              io.NewSectionReader(f, off, l),
					ContentLength:     aws.Int64(l),
					ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
					ChecksumSHA256:    aws.String(b64),
				}, withPayloadHash(hex.EncodeToString(sum[:])))
				if err != nil {
					first.set(Wrap(err, domain.Internal, "upload part %d of s3://%s/%s", num, s.bucket, key))
					return
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumSHA256: aws.String(b64)}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		first.set(ctx.Err()) // the caller's context ended; a failure already set stays
	}
	if first.get() == nil {
		if err := unchanged(f, st); err != nil {
			first.set(err)
		}
	}
	if err := first.get(); err != nil {
		<-wholeDone
		abort()
		return Object{}, err
	}
	_, cerr := s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	<-wholeDone
	if err := first.get(); err != nil {
		// The whole-object pass failed. If Complete got through, the object exists with
		// no digest to vouch for it; no manifest will name it, and a retried stage
		// writes the same key again.
		if cerr != nil {
			abort()
		}
		return Object{}, err
	}
	if cerr != nil {
		abort()
		return Object{}, Wrap(cerr, domain.Internal, "complete upload of s3://%s/%s", s.bucket, key)
	}
	if err := unchanged(f, st); err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: size, SHA256: hex.EncodeToString(whole[:])}, nil
}

// filePartSize is the part size for a file of size bytes: the store's, unless that
// would take more than S3's 10,000 parts. A file's parts cost no memory, so they grow
// (to whole MiB) rather than the upload failing.
func filePartSize(size, partSize int64) int64 {
	if (size+partSize-1)/partSize <= maxParts {
		return partSize
	}
	const mib = 1 << 20
	return ((size+maxParts-1)/maxParts + mib - 1) / mib * mib
}

// firstError keeps the first failure of an upload's goroutines and cancels the rest.
type firstError struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (e *firstError) set(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
		e.cancel()
	}
}

func (e *firstError) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// unchanged reports an error if f's size or modification time moved since st.
func unchanged(f *os.File, st os.FileInfo) error {
	now, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) {
		return fmt.Errorf("%s changed while it was uploaded (size %d -> %d, modified %s -> %s)",
			f.Name(), st.Size(), now.Size(), st.ModTime().UTC(), now.ModTime().UTC())
	}
	return nil
}

// copyHashed feeds r to h len(buf) bytes at a time until EOF, stopping early when ctx
// ends, and returns how many bytes it hashed.
func copyHashed(ctx context.Context, h io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := io.ReadFull(r, buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// writeChunked feeds b to h hashChunk bytes at a time (see hashChunk).
func writeChunked(h io.Writer, b []byte) {
	for len(b) > 0 {
		c := min(len(b), hashChunk)
		h.Write(b[:c])
		b = b[c:]
	}
}
