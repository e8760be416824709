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
// them on PutObject either; Content-MD5 is. Parts under 5 MiB are accepted (S3 refuses
// all but the last with EntityTooSmall, which gofakes3 has no status for; the artifact
// store never sends them), and GET and HEAD answer with the whole object's MD5 as ETag,
// not the "-N" form complete returned, as gofakes3 did.
type uploads struct {
	be  gofakes3.Backend
	now func() time.Time

	mu   sync.Mutex
	byID map[gofakes3.UploadID]*upload
	// last is the sequence number of the newest upload: IDs lead with it, so uploads of
	// one key list in the order they were started, and a listing marker still places
	// the page after an upload that has since been completed or aborted.
	last uint64
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
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("upload id: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	// Time-based, so IDs keep their order across a restart too (which forgets uploads
	// but not the client's listing marker); the random tail makes them unguessable.
	u.last = max(u.last+1, uint64(u.now().UnixNano()))
	up := &upload{id: gofakes3.UploadID(fmt.Sprintf("%016x", u.last) + base64.RawURLEncoding.EncodeToString(raw[:])),
		bucket: bucket, key: object, meta: meta, initiated: u.now(), parts: map[int]*part{}}
	u.byID[up.id] = up
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
	if limit <= 0 {
		limit = gofakes3.DefaultMaxUploadParts // as S3 reads a missing or zero max-parts
	}
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

// ListMultipartUploads lists the bucket's open uploads by key, then by the order they
// were started, after marker; keys grouped by the prefix's delimiter count as one entry,
// listed once: a page that ends on one hands it on as the next marker, and the page
// after skips every key under it.
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
		return ups[i].id < ups[j].id
	})
	if limit <= 0 {
		limit = gofakes3.DefaultMaxUploads
	}
	out := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, Prefix: prefix.Prefix, Delimiter: prefix.Delimiter, MaxUploads: limit}
	if marker != nil {
		out.KeyMarker, out.UploadIDMarker = marker.Object, marker.UploadID
	}
	var match gofakes3.PrefixMatch
	for _, up := range ups {
		if marker != nil && !follows(up, marker, prefix) {
			continue
		}
		if !prefix.Match(up.key, &match) {
			continue
		}
		if match.CommonPrefix && len(out.CommonPrefixes) > 0 && out.CommonPrefixes[len(out.CommonPrefixes)-1].Prefix == match.MatchedPart {
			continue // sorted by key: a common prefix's keys come together
		}
		if int64(len(out.Uploads)+len(out.CommonPrefixes)) >= limit {
			out.IsTruncated = true
			break
		}
		if match.CommonPrefix {
			out.CommonPrefixes = append(out.CommonPrefixes, match.AsCommonPrefix())
			out.NextKeyMarker, out.NextUploadIDMarker = match.MatchedPart, ""
		} else {
			out.Uploads = append(out.Uploads, gofakes3.ListMultipartUploadItem{Key: up.key, UploadID: up.id,
				StorageClass: "STANDARD", Initiated: gofakes3.NewContentTime(up.initiated)})
			out.NextKeyMarker, out.NextUploadIDMarker = up.key, up.id
		}
	}
	return out, nil
}

// follows reports whether up comes after marker: a later key, or, when the marker
// names an upload, a later upload of the same key (IDs sort in the order uploads were
// started, so the marker's upload need not still exist). A marker that is one of this
// listing's common prefixes is past every key under it.
func follows(up *upload, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix) bool {
	if isCommonPrefix(marker, prefix) && strings.HasPrefix(up.key, marker.Object) {
		return false
	}
	if up.key != marker.Object {
		return up.key > marker.Object
	}
	return marker.UploadID != "" && up.id > marker.UploadID
}

// isCommonPrefix reports whether marker is a common prefix this listing would have
// returned: no upload named, and the listing's prefix followed by a segment that ends at
// the first delimiter. A key equal to the prefix itself (such as "a/" listed under "a/")
// is an upload, not a group.
func isCommonPrefix(marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix) bool {
	if !prefix.HasDelimiter || marker.UploadID != "" || len(marker.Object) <= len(prefix.Prefix) || !strings.HasPrefix(marker.Object, prefix.Prefix) {
		return false
	}
	rest := marker.Object[len(prefix.Prefix):]
	i := strings.Index(rest, prefix.Delimiter)
	return i >= 0 && i+len(prefix.Delimiter) == len(rest)
}
