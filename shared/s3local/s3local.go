// Package s3local serves the S3 protocol in process (gofakes3) over plain HTTP on
// loopback, with objects kept in a bbolt file so they survive restarts and a kill -9 (not
// a power loss: the file is synced on Close, not per object). Multipart uploads are its
// own (multipart.go), so completing one costs what a PutObject of the same bytes costs.
// Local mode and tests point the real S3 client at it.
package s3local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	bolt "go.etcd.io/bbolt"
)

// Server is a running S3-protocol server.
type Server struct {
	URL     string
	srv     *http.Server
	backend gofakes3.Backend
	closer  func() error
}

// Options configure Start.
type Options struct {
	// DBPath is the bbolt file holding the objects; empty keeps them in memory.
	DBPath string
	// Addr to listen on; empty picks a free port on 127.0.0.1.
	Addr string
	// Buckets are created at start if missing.
	Buckets []string
}

// Start serves S3 until Close.
func Start(o Options) (*Server, error) {
	var be gofakes3.Backend
	closer := func() error { return nil }
	if o.DBPath != "" {
		// A timeout, because bbolt otherwise blocks forever on a file another process holds.
		// No freelist written per commit, as the engine's store does: it is rebuilt from
		// the pages on open instead, and a put writes one page fewer.
		// Grown and mapped at 16 MiB from the first write on, as the engine's store
		// (asl.InitialFileSize): not grown, with an fsync, at every doubling.
		db, err := bolt.Open(o.DBPath, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
			InitialMmapSize: 16 << 20})
		if err != nil {
			return nil, fmt.Errorf("open S3 store %s: %w", o.DBPath, err)
		}
		// No fsync per object: bbolt's writes still reach the kernel before the request
		// is answered, so objects survive a kill -9 of shipgate (what local mode promises,
		// like its DynamoDB log); Close syncs. An fsync per PutObject cost ~1 ms, and a run
		// writes a dozen objects in sequence.
		db.NoSync = true
		be, closer = s3bolt.New(db), func() error { return errors.Join(db.Sync(), db.Close()) }
	} else {
		be = s3mem.New()
	}
	for _, name := range o.Buckets {
		if err := be.CreateBucket(name); err != nil && !gofakes3.IsAlreadyExists(err) {
			closer()
			return nil, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		closer()
		return nil, fmt.Errorf("listen for S3 on %s: %w", addr, err)
	}
	be = withUploads(be)
	faker := gofakes3.New(be, gofakes3.WithAutoBucket(false), gofakes3.WithTimeSkewLimit(0))
	s := &Server{URL: "http://" + l.Addr().String(), backend: be, closer: closer,
		srv: &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener closed under us; Close reports nothing more useful
		}
	}()
	return s, nil
}

// Close stops serving and closes the store (flushing it to disk).
func (s *Server) Close() error {
	// Requests in flight get a moment to finish; after that the connections are closed.
	// (Shutdown also waits up to 5 s for connections that were opened but have sent no
	// request yet, which clients with connection pools leave behind.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	return s.closer()
}

// Handler serves the S3 protocol, for callers in this process (shared/inproc).
func (s *Server) Handler() http.Handler { return s.srv.Handler }
