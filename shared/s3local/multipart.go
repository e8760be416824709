package s3local

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// uploads serves S3's multipart uploads in front of the object backend, through the
// MultipartBackend hook gofakes3 offers. gofakes3's own implementation also keeps the
// parts in memory, but on complete it copies them into one buffer and hands that to the
// backend, which copies it once more: a third copy of the object, and a serial pass over
// it while the client waits, which made a multipart upload cost about a quarter more
// than a PutObject of the same bytes. Here the parts reach the backend as one stream, so
// completing costs what the PutObject would.
//
// Like gofakes3's, uploads in progress live in memory only: a restart forgets them
// (NoSuchUpload), as it would an upload abandoned on S3 by a lifecycle rule. The
// flexible checksums (x-amz-checksum-*) are not verified, as gofakes3 does not verify
// them on PutObject either; Content-MD5 is.
type uploads struct {
	be  gofakes3.Backend
	now func() time.Time

	mu   sync.Mutex
	byID map[gofakes3.UploadID]*upload
}

type upload struct {
	id          gofakes3.UploadID
	bucket, key string
	meta        map[string]string
	initiated   time.Time

	// mu orders the upload's parts, its completion and its abort; done is set once it is
	// completed or aborted, after which it is gone from byID too.
	mu    sync.Mutex
	parts map[int]*part
	done  bool
}

type part struct {
	body []byte
	md5  [md5.Size]byte
	at   time.Time
}

// maxPartSize is S3's largest part; the stand-in holds each part in memory.
const maxPartSize = 5 << 30

func (p *part) etag() string { return `"` + hex.EncodeToString(p.md5[:]) + `"` }

// multipartBackend is an object backend with uploads in front of it.
type multipartBackend struct {
	gofakes3.Backend
	*uploads
}

var _ gofakes3.MultipartBackend = (*multipartBackend)(nil)

// withUploads puts uploads in front of be, keeping be's versioning when it has any.
func withUploads(be gofakes3.Backend) gofakes3.Backend {
	mb := &multipartBackend{Backend: be, uploads: &uploads{be: be, now: time.Now, byID: map[gofakes3.UploadID]*upload{}}}
	if vb, ok := be.(gofakes3.VersionedBackend); ok {
		return struct {
			*multipartBackend
			gofakes3.VersionedBackend
		}{mb, vb}
	}
	return mb
}

// CreateMultipartUpload starts an upload; gofakes3 has checked the bucket and turned the
// request's headers into meta.
func (u *uploads) CreateMultipartUpload(bucket, object string, meta map[string]string) (gofakes3.UploadID, error) {
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("upload id: %w", err)
	}
	up := &upload{id: gofakes3.UploadID(base64.RawURLEncoding.EncodeToString(raw[:])), bucket: bucket, key: object,
		meta: meta, initiated: u.now(), parts: map[int]*part{}}
	u.mu.Lock()
	u.byID[up.id] = up
	u.mu.Unlock()
	return up.id, nil
}

// get finds the open upload id of bucket/object, locked. The caller unlocks it.
func (u *uploads) get(bucket, object string, id gofakes3.UploadID) (*upload, error) {
	u.mu.Lock()
	up := u.byID[id]
	u.mu.Unlock()
	if up == nil || up.bucket != bucket || up.key != object {
		return nil, gofakes3.ErrNoSuchUpload
	}
	up.mu.Lock()
	if up.done {
		up.mu.Unlock()
		return nil, gofakes3.ErrNoSuchUpload
	}
	return up, nil
}

// forget ends up (locked by the caller).
func (u *uploads) forget(up *upload) {
	up.done = true
	up.parts = nil
	u.mu.Lock()
	delete(u.byID, up.id)
	u.mu.Unlock()
}

// UploadPart stores one part, replacing an earlier part of the same number. The body is
// read before any lock is taken, so parts of one upload arrive in parallel.
func (u *uploads) UploadPart(bucket, object string, id gofakes3.UploadID, partNumber int, contentLength int64, input io.Reader) (string, error) {
	if partNumber < 1 || partNumber > gofakes3.MaxUploadPartNumber {
		return "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "part number %d is not between 1 and %d", partNumber, gofakes3.MaxUploadPartNumber)
	}
	if contentLength > maxPartSize {
		return "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "part %d is %d bytes, over S3's limit of 5 GiB per part", partNumber, contentLength)
	}
	// Checked first, so a part of an unknown upload costs no buffer of its size. Its body
	// is still read: a client mid-way through sending it would otherwise see the
	// connection reset instead of the answer, and retry.
	up, err := u.get(bucket, object, id)
	if err != nil {
		io.Copy(io.Discard, io.LimitReader(input, contentLength))
		return "", err
	}
	up.mu.Unlock()
	body, err := gofakes3.ReadAll(input, contentLength)
	if err != nil {
		return "", err
	}
	p := &part{body: body, md5: md5.Sum(body), at: u.now()}
	if up, err = u.get(bucket, object, id); err != nil {
		return "", err
	}
	defer up.mu.Unlock()
	up.parts[partNumber] = p
	return p.etag(), nil
}

// CompleteMultipartUpload stores the listed parts, in order, as the object. The ETag is
// S3's for a multipart object: the MD5 of the parts' MD5s, then "-" and the part count.
// A failure leaves the upload open, so the client may complete or abort it again.
func (u *uploads) CompleteMultipartUpload(bucket, object string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	if in == nil || len(in.Parts) == 0 {
		return "", "", gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, "the request lists no parts: a multipart upload needs at least one")
	}
	up, err := u.get(bucket, object, id)
	if err != nil {
		return "", "", err
	}
	defer up.mu.Unlock()
	readers := make([]io.Reader, 0, len(in.Parts))
	sums := make([]byte, 0, md5.Size*len(in.Parts))
	var size int64
	for i, want := range in.Parts {
		if i > 0 && want.PartNumber <= in.Parts[i-1].PartNumber {
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPartOrder, "part %d is listed after part %d: parts must be listed in ascending order, once each", want.PartNumber, in.Parts[i-1].PartNumber)
		}
		p := up.parts[want.PartNumber]
		if p == nil {
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "part %d was not uploaded", want.PartNumber)
		}
		if strings.Trim(want.ETag, `"`) != hex.EncodeToString(p.md5[:]) {
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "part %d: ETag %s is not the uploaded part's %s", want.PartNumber, want.ETag, p.etag())
		}
		readers = append(readers, bytes.NewReader(p.body))
		sums = append(sums, p.md5[:]...)
		size += int64(len(p.body))
	}
	meta := make(map[string]string, len(up.meta)+1)
	for k, v := range up.meta {
		meta[k] = v
	}
	meta["Last-Modified"] = u.now().UTC().Format(http.TimeFormat)
	res, err := u.be.PutObject(bucket, object, meta, io.MultiReader(readers...), size, nil)
	if err != nil {
		return "", "", err
	}
	u.forget(up)
	whole := md5.Sum(sums)
	return res.VersionID, fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(whole[:]), len(in.Parts)), nil
}

// AbortMultipartUpload drops the upload and its parts.
func (u *uploads) AbortMultipartUpload(bucket, object string, id gofakes3.UploadID) error {
	up, err := u.get(bucket, object, id)
	if err != nil {
		return err
	}
	defer up.mu.Unlock()
	u.forget(up)
	return nil
}

// ListParts lists the upload's parts after marker, in part order, limit at most.
func (u *uploads) ListParts(bucket, object string, id gofakes3.UploadID, marker int, limit int64) (*gofakes3.ListMultipartUploadPartsResult, error) {
	up, err := u.get(bucket, object, id)
	if err != nil {
		return nil, err
	}
	defer up.mu.Unlock()
	nums := make([]int, 0, len(up.parts))
	for n := range up.parts {
		if n > marker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	out := &gofakes3.ListMultipartUploadPartsResult{Bucket: bucket, Key: object, UploadID: id, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: limit}
	for _, n := range nums {
		if int64(len(out.Parts)) >= limit {
			out.IsTruncated = true
			break
		}
		p := up.parts[n]
		out.Parts = append(out.Parts, gofakes3.ListMultipartUploadPartItem{PartNumber: n, ETag: p.etag(),
			Size: int64(len(p.body)), LastModified: gofakes3.NewContentTime(p.at)})
		out.NextPartNumberMarker = n
	}
	return out, nil
}

// ListMultipartUploads lists the bucket's open uploads by key, then by the time each was
// started, after marker; keys grouped by the prefix's delimiter count as one entry.
func (u *uploads) ListMultipartUploads(bucket string, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix, limit int64) (*gofakes3.ListMultipartUploadsResult, error) {
	u.mu.Lock()
	var ups []*upload
	for _, up := range u.byID {
		if up.bucket == bucket {
			ups = append(ups, up)
		}
	}
	u.mu.Unlock()
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].key != ups[j].key {
			return ups[i].key < ups[j].key
		}
		if !ups[i].initiated.Equal(ups[j].initiated) {
			return ups[i].initiated.Before(ups[j].initiated)
		}
		return ups[i].id < ups[j].id
	})
	out := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, Prefix: prefix.Prefix, Delimiter: prefix.Delimiter, MaxUploads: limit}
	if marker != nil {
		out.KeyMarker, out.UploadIDMarker = marker.Object, marker.UploadID
		ups = after(ups, marker)
	}
	seen := map[string]bool{}
	var match gofakes3.PrefixMatch
	for _, up := range ups {
		if !prefix.Match(up.key, &match) {
			continue
		}
		if match.CommonPrefix && seen[match.MatchedPart] {
			continue
		}
		if int64(len(out.Uploads)+len(out.CommonPrefixes)) >= limit {
			out.IsTruncated = true
			break
		}
		if match.CommonPrefix {
			seen[match.MatchedPart] = true
			out.CommonPrefixes = append(out.CommonPrefixes, match.AsCommonPrefix())
		} else {
			out.Uploads = append(out.Uploads, gofakes3.ListMultipartUploadItem{Key: up.key, UploadID: up.id,
				StorageClass: "STANDARD", Initiated: gofakes3.NewContentTime(up.initiated)})
		}
		out.NextKeyMarker, out.NextUploadIDMarker = up.key, up.id
	}
	return out, nil
}

// after is the uploads that follow marker in ups (sorted): those of later keys, and,
// when marker names an upload, those of its key started after it.
func after(ups []*upload, marker *gofakes3.UploadListMarker) []*upload {
	for i, up := range ups {
		if up.key > marker.Object {
			return ups[i:]
		}
		if up.key == marker.Object && marker.UploadID != "" && up.id == marker.UploadID {
			return ups[i+1:]
		}
	}
	return nil
}
