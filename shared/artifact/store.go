package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/inodes"
)

// S3API is the part of the S3 client the store uses.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Upload tuning. One upload holds at most Concurrency+1 part buffers (one filling, the
// others uploading): 5 * 6 MiB = 30 MiB, which keeps a Lambda staging a 1 GiB artifact
// (runtime, SDK and workspace restore included) inside a 64 MiB budget. 10,000 parts of
// 6 MiB allow objects up to 58 GiB.
//
// Files over SinglePutMax go through the same part buffers, each byte read from the file
// once: sending parts straight from the file (io.SectionReader, no buffers) was tried
// and measured, and costs a page-cache pass per extra read (about 30 ms of CPU per
// 100 MiB here), which on a loaded machine is throughput.
const (
	DefaultPartSize    = 6 << 20
	DefaultConcurrency = 4
	minPartSize        = 5 << 20 // S3's floor for every part but the last
	maxParts           = 10000
)

// Store reads and writes one bucket.
type Store struct {
	c           S3API
	bucket      string
	partSize    int
	concurrency int
	// parts recycles part buffers between uploads: a warm Lambda staging many files
	// would otherwise allocate and zero a part buffer per file.
	parts *bufPool
	// singleMax is the largest file PutFile sends in one PutObject.
	singleMax int64
}

// smallRead is how much Put reads before deciding between one PutObject and a multipart
// upload, so small objects (logs, manifests, specs) never touch a part buffer.
const smallRead = 256 << 10

// smallBufs recycles the smallRead buffers: a stage puts several small objects (its
// log, the spec, the manifest, a snapshot), and a fresh 256 KiB buffer each is zeroed
// memory and garbage for every one.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallRead); return &b }}

// New returns a store for bucket, uploading DefaultConcurrency parts at a time, or as
// many as there are CPUs (at least 2) when the client's endpoint is this machine.
func New(c S3API, bucket string) *Store {
	conc := DefaultConcurrency
	if endpointIsLocal(c) {
		conc = localConcurrency()
	}
	return &Store{c: c, bucket: bucket, partSize: DefaultPartSize, concurrency: conc,
		parts: newBufPool(DefaultPartSize, conc+1), singleMax: SinglePutMax}
}

// endpointIsLocal reports whether c is an S3 client pointed at a loopback address: local
// mode's stand-in, which serves from the same cores the upload runs on.
func endpointIsLocal(c S3API) bool {
	cl, ok := c.(*s3.Client)
	if !ok {
		return false
	}
	ep := cl.Options().BaseEndpoint
	if ep == nil {
		return false
	}
	u, err := url.Parse(*ep)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localConcurrency is the part concurrency against a stand-in on this machine. On AWS
// parallel parts hide each connection's latency and bandwidth limit; locally there is
// neither, and parts beyond the cores only make the stand-in's goroutines contend with
// each other and with the hashing. Measured on 2 cores, 100 MiB staged side by side:
// against gofakes3's own multipart uploads, 2 parts at a time reached 81% of a plain
// PutObject on average, 3 reached 77% and 4 reached 74%; against shared/s3local's (which
// hand the parts to the store as one stream) the three are within noise of each other
// (470-486 ms per 100 MiB, 8 runs each), so 2 keeps the fewest part buffers.
func localConcurrency() int {
	return min(DefaultConcurrency, max(2, runtime.GOMAXPROCS(0)))
}

// Parts returns the part size and the number of parts uploaded at a time.
func (s *Store) Parts() (partSize, concurrency int) { return s.partSize, s.concurrency }

// WithSinglePutMax returns a store whose PutFile sends files up to n bytes in one
// PutObject (0: always multipart beyond the small-object size).
func (s *Store) WithSinglePutMax(n int64) *Store {
	c := *s
	c.singleMax = n
	return &c
}

// Bucket is the bucket the store writes.
func (s *Store) Bucket() string { return s.bucket }

// InBucket returns a store writing another bucket with the same client and tuning
// (Deploy copies artifacts to the spec's target bucket).
func (s *Store) InBucket(bucket string) *Store {
	c := *s
	c.bucket = bucket
	return &c
}

// WithParts returns a store uploading in parts of partSize bytes, concurrency at a time.
// partSize below S3's 5 MiB minimum is raised to it.
func (s *Store) WithParts(partSize, concurrency int) *Store {
	c := *s
	c.partSize = max(partSize, minPartSize)
	c.concurrency = max(concurrency, 1)
	if c.partSize != s.partSize || c.concurrency != s.concurrency {
		c.parts = newBufPool(c.partSize, c.concurrency+1)
	}
	return &c
}

// Object describes a stored object as uploaded or downloaded.
type Object struct {
	Key    string
	Size   int64
	SHA256 string // lowercase hex of the whole object
}

// PutBytes stores b at key.
func (s *Store) PutBytes(ctx context.Context, key string, b []byte, contentType string) (Object, error) {
	return s.Put(ctx, key, bytes.NewReader(b), contentType)
}

// Put streams r to key, computing the object's SHA-256 on the way. Small bodies go in one
// PutObject; larger ones as a multipart upload whose parts each carry S3's SHA-256
// checksum, uploaded Concurrency at a time from a fixed set of part buffers, so memory
// stays bounded whatever the size.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string) (Object, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	whole := sha256.New()
	sp := smallBufs.Get().(*[]byte)
	small := *sp
	n, err := io.ReadFull(r, small)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		obj, err := s.putOne(ctx, key, small[:n], whole, contentType)
		if err == nil {
			smallBufs.Put(sp) // see putOne: only a body the upload is done with is reused
		}
		return obj, err
	}
	if err != nil {
		smallBufs.Put(sp)
		return Object{}, fmt.Errorf("read body for %s: %w", key, err)
	}
	bp := s.parts.get()
	first := bp.b
	copy(first, small)
	smallBufs.Put(sp)
	m, err := io.ReadFull(r, first[n:])
	n += m
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		obj, err := s.putOne(ctx, key, first[:n], whole, contentType)
		if err == nil {
			s.parts.put(bp)
		}
		return obj, err
	}
	if err != nil {
		s.parts.put(bp)
		return Object{}, fmt.Errorf("read body for %s: %w", key, err)
	}
	return s.putMultipart(ctx, key, bp, r, whole, contentType)
}

// putOne stores body with one PutObject. Once it succeeds the server has read all of
// body, so the caller may reuse it; after a failure it must not: an HTTP transport that
// got an early answer may still be reading the body on its own goroutine.
func (s *Store) putOne(ctx context.Context, key string, body []byte, whole hash.Hash, contentType string) (Object, error) {
	writeChunked(whole, body)
	sum := whole.Sum(nil)
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(body),
		ContentLength:     aws.Int64(int64(len(body))),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum)),
		Metadata:          map[string]string{"sha256": hex.EncodeToString(sum)},
	}, withPayloadHash(hex.EncodeToString(sum)))
	if err != nil {
		return Object{}, Wrap(err, domain.Internal, "put s3://%s/%s", s.bucket, key)
	}
	return Object{Key: key, Size: int64(len(body)), SHA256: hex.EncodeToString(sum)}, nil
}

func (s *Store) putMultipart(ctx context.Context, key string, firstBuf *partBuf, r io.Reader, whole hash.Hash, contentType string) (Object, error) {
	// Buffers come from the pool and go back to it however the upload ends; at most
	// concurrency+1 are out at once (one filling, the others uploading).
	free := make(chan *partBuf, s.concurrency+1)
	free <- firstBuf
	for i := 0; i < s.concurrency; i++ {
		free <- nil // taken from the pool only when needed: a 9 MiB file uses two
	}
	defer func() {
		for i := 0; i < s.concurrency+1; i++ {
			if b := <-free; b != nil {
				s.parts.put(b)
			}
		}
	}()

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
	var (
		mu       sync.Mutex
		parts    []types.CompletedPart
		firstErr error
		wg       sync.WaitGroup
		size     int64
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	upload := func(num int32, part []byte, buf *partBuf) {
		defer wg.Done()
		defer func() { free <- buf }()
		h := sha256.New()
		writeChunked(h, part)
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		b64 := base64.StdEncoding.EncodeToString(sum[:])
		out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(part),
			ContentLength:     aws.Int64(int64(len(part))),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			ChecksumSHA256:    aws.String(b64),
		}, withPayloadHash(hex.EncodeToString(sum[:])))
		if err != nil {
			buf = nil // the transport may still be reading it (see putOne): not reused
			fail(Wrap(err, domain.Internal, "upload part %d of s3://%s/%s", num, s.bucket, key))
			return
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumSHA256: aws.String(b64)})
		mu.Unlock()
	}

	buf := <-free
	n := len(buf.b)
	for num := int32(1); ; num++ {
		if num > maxParts {
			free <- buf
			fail(fmt.Errorf("s3://%s/%s: more than %d parts of %d bytes", s.bucket, key, maxParts, s.partSize))
			break
		}
		part := buf.b[:n]
		writeChunked(whole, part)
		size += int64(n)
		wg.Add(1)
		go upload(num, part, buf)

		got := false
		select {
		case buf = <-free:
			got = true
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			if got {
				free <- buf // a token, even if nil: the drain counts them
			}
			break
		}
		if buf == nil {
			buf = s.parts.get()
		}
		var rerr error
		n, rerr = io.ReadFull(r, buf.b)
		if rerr == io.EOF {
			free <- buf
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			free <- buf
			fail(fmt.Errorf("read body for %s: %w", key, rerr))
			break
		}
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		abort()
		return Object{}, firstErr
	}
	sortParts(parts)
	_, err = s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		abort()
		return Object{}, Wrap(err, domain.Internal, "complete upload of s3://%s/%s", s.bucket, key)
	}
	return Object{Key: key, Size: size, SHA256: hex.EncodeToString(whole.Sum(nil))}, nil
}

// hashChunk is how much is handed to SHA-256 at a time. Its assembly block function
// cannot be preempted, and a garbage collection that must scan a goroutine stuck in one
// 6 MiB call spins a core (runtime.suspendG) until it returns: about a tenth of the
// process's CPU in profiles of multipart staging. 256 KiB take ~0.2 ms.
const hashChunk = 256 << 10

// writeChunked feeds b to h hashChunk bytes at a time (see hashChunk).
func writeChunked(h io.Writer, b []byte) {
	for len(b) > 0 {
		c := min(len(b), hashChunk)
		h.Write(b[:c])
		b = b[c:]
	}
}

// withPayloadHash hands the SHA-256 already computed for S3's checksum to the SigV4
// signer, which would otherwise hash the body once more (it must sign the payload hash
// when the endpoint is plain HTTP, as locally).
func withPayloadHash(hexSum string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("ShipgatePayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, hexSum), in)
				}), middleware.Before)
		})
	}
}

func sortParts(p []types.CompletedPart) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && *p[j].PartNumber < *p[j-1].PartNumber; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// SinglePutMax is the largest file PutFile sends in one PutObject. Up to it, the file is
// read twice (once to hash, once by the HTTP client) and sent as it is, with no part
// buffers at all; larger files go as parallel multipart uploads, which real S3 serves
// faster and which keep a retry from resending gigabytes.
const SinglePutMax = 256 << 20

// PutFile stores the file at path under key, with its SHA-256 as S3's checksum.
func (s *Store) PutFile(ctx context.Context, key, path, contentType string) (Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if !st.Mode().IsRegular() || st.Size() > s.singleMax || st.Size() < smallRead {
		return s.Put(ctx, key, f, contentType)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Object{}, fmt.Errorf("hash %s: %w", path, err)
	}
	sum := h.Sum(nil)
	// A SectionReader fixes the length hashed: the SDK seeks it to sign and to retry.
	body := io.NewSectionReader(f, 0, n)
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              body,
		ContentLength:     aws.Int64(n),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum)),
		Metadata:          map[string]string{"sha256": hex.EncodeToString(sum)},
	}, withPayloadHash(hex.EncodeToString(sum)))
	if err != nil {
		return Object{}, Wrap(err, domain.Internal, "put s3://%s/%s", s.bucket, key)
	}
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(sum)}, nil
}

// Open returns the object's body; the caller closes it. A missing object is NotFound.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		var nk *types.NoSuchKey
		if errors.As(err, &nk) {
			return nil, 0, domain.Errorf(domain.NotFound, "s3://%s/%s does not exist", s.bucket, key)
		}
		return nil, 0, Wrap(err, domain.Internal, "get s3://%s/%s", s.bucket, key)
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// ReadAll returns the object's bytes, refusing objects larger than limit.
func (s *Store) ReadAll(ctx context.Context, key string, limit int64) ([]byte, error) {
	body, _, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, Wrap(err, domain.Internal, "read s3://%s/%s", s.bucket, key)
	}
	if int64(len(b)) > limit {
		return nil, domain.Errorf(domain.Invalid, "s3://%s/%s is larger than %d bytes", s.bucket, key, limit)
	}
	return b, nil
}

// Download streams key into the file dst (creating its directory), computing the SHA-256
// of what was actually received: gofakes3 ignores S3 checksum headers, and on AWS this
// still catches an object replaced after staging. The file and directories come from
// the inodes.Pool ctx carries, if any, where their names are free.
func (s *Store) Download(ctx context.Context, key, dst string) (Object, error) {
	body, _, err := s.Open(ctx, key)
	if err != nil {
		return Object{}, err
	}
	defer body.Close()
	pool := inodes.FromContext(ctx)
	if err := pool.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return Object{}, err
	}
	f, err := pool.Create(dst, 0o644)
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	}
	if err != nil {
		return Object{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Object{}, Wrap(err, domain.Internal, "download s3://%s/%s", s.bucket, key)
	}
	return Object{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
