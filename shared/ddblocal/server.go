// Package ddblocal is local mode's DynamoDB: a server in the shipgate process that speaks
// DynamoDB's JSON protocol over HTTP, so the AWS SDK, the AWS CLI and any DynamoDB tool
// talk to it as to the real service. It keeps the tables in memory with their secondary
// indexes and appends every write to a log under the data directory, which is
// replayed on start: a write acknowledged to a client survives a kill -9 of the process.
//
// Why not dynalite (which the unit tests of the handlers still run against, as an
// independent oracle): a Node process costs 1-2 ms per call, and a pipeline run makes
// about forty calls, most of them in sequence; here the server's own share of a call is
// tens of microseconds (BenchmarkDoPutGet; BenchmarkPutGet compares both through the
// SDK), and `shipgate local` needs no Node.
//
// What it implements: CreateTable, DescribeTable, ListTables, DeleteTable, PutItem,
// GetItem, UpdateItem, DeleteItem, Query, Scan, BatchWriteItem, BatchGetItem, with
// condition, filter, key condition, update and projection expressions (every function,
// comparator and update action, nested paths, placeholders, and DynamoDB's checks:
// unused or undefined placeholders, reserved words, redundant parentheses, overlapping
// paths, updates of key attributes, the 4 KB / 300 operator / 100 IN-operand limits),
// numbers as DynamoDB keeps and sizes them (38 digits, normalized), GSIs and LSIs with
// their projections (a local index fetches unprojected attributes from the table, a
// global one cannot), pagination, ReturnValues and ReturnValuesOnConditionCheckFailure,
// the 400 KB item and 1 MB page limits, and DynamoDB's error types.
// conformance_test.go compares it with dynalite request by request; beyond_test.go pins
// the places where dynalite departs from DynamoDB.
//
// It refuses with a ValidationException what it does not implement (the legacy
// Expected/KeyConditions/AttributeUpdates/AttributesToGet parameters, parallel scans)
// and answers UnknownOperationException for other operations (UpdateTable,
// transactions, PartiQL, streams, TTL, backups, tags).
//
// Where it knowingly differs from DynamoDB: it reports no ConsumedCapacity or
// ItemCollectionMetrics and enforces no throughput; tables and indexes are usable at
// once (CreateTable answers CREATING, DescribeTable ACTIVE); ItemCount is exact rather
// than refreshed every few hours; a Scan visits partitions in key order, not hash
// order; items with equal index keys come in table-key order (DynamoDB leaves it open).
package ddblocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure Start.
type Options struct {
	// Path is the directory holding the log; empty keeps everything in memory.
	Path string
	// Addr is host:port to listen on; empty picks a free port on 127.0.0.1.
	Addr string
	// Region and Account shape the ARNs DescribeTable reports.
	Region, Account string
}

// Server is a running DynamoDB-protocol server.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string

	mu     sync.Mutex
	tables map[string]*table
	log    *wal
	opts   Options
	srv    *http.Server
	ln     net.Listener
	reqID  atomic.Int64
	closed bool
}

// Start opens the data under o.Path (replaying the log) and serves on o.Addr.
func Start(o Options) (*Server, error) {
	s, err := Open(o)
	if err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if s.log != nil {
			s.log.close()
		}
		return nil, fmt.Errorf("local DynamoDB: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Open loads the data without serving it over HTTP (Handler serves it).
func Open(o Options) (*Server, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "000000000000"
	}
	s := &Server{tables: map[string]*table{}, opts: o}
	if o.Path != "" {
		w, err := openWAL(o.Path, s)
		if err != nil {
			return nil, err
		}
		s.log = w
	}
	return s, nil
}

// Close stops serving and closes the log (syncing it to disk).
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		err = s.srv.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return err
	}
	s.closed = true
	if s.log != nil {
		err = errors.Join(err, s.log.close())
	}
	return err
}

// apiError is an error DynamoDB reports with a type name and HTTP status.
type apiError struct {
	Type   string
	Msg    string
	Status int
	Item   Item // ReturnValuesOnConditionCheckFailure
}

func (e *apiError) Error() string { return e.Type + ": " + e.Msg }

func validation(format string, a ...any) error {
	return &apiError{Type: "ValidationException", Msg: fmt.Sprintf(format, a...), Status: 400}
}

func notFound(msg string) error {
	return &apiError{Type: "ResourceNotFoundException", Msg: msg, Status: 400}
}

var errConditionFailed = &apiError{Type: "ConditionalCheckFailedException", Msg: "The conditional request failed", Status: 400}

const maxBody = 16 << 20

// ServeHTTP answers one DynamoDB JSON-protocol request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strconv.FormatInt(s.reqID.Add(1), 36)
	reqID := strings.ToUpper(strings.Repeat("0", max(0, 20-len(id))) + id)
	if r.Method != http.MethodPost {
		s.reply(w, reqID, nil, &apiError{Type: "UnknownOperationException", Msg: "DynamoDB takes POST requests", Status: 400})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "DynamoDB_20120810.")
	if !ok {
		s.reply(w, reqID, nil, &apiError{Type: "UnknownOperationException", Msg: "missing or unknown X-Amz-Target " + strconv.Quote(target), Status: 400})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		s.reply(w, reqID, nil, &apiError{Type: "SerializationException", Msg: err.Error(), Status: 400})
		return
	}
	if len(body) > maxBody {
		s.reply(w, reqID, nil, &apiError{Type: "RequestEntityTooLarge", Msg: "Request must be smaller than 16 MB", Status: 413})
		return
	}
	out, err := s.Do(op, body)
	s.reply(w, reqID, out, err)
}

// Do runs one operation on a JSON request body and returns the JSON response.
func (s *Server) Do(op string, body []byte) (out []byte, err error) {
	h := operation(op)
	if h == nil {
		return nil, &apiError{Type: "UnknownOperationException", Msg: "operation " + op + " is not implemented by shipgate's local DynamoDB", Status: 400}
	}
	// A bug in one request must not take the whole local stack down; every handler
	// unlocks by defer, so the server goes on serving.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &apiError{Type: "InternalServerError", Msg: fmt.Sprintf("shipgate's local DynamoDB failed on %s: %v", op, r), Status: 500}
		}
	}()
	return h(s, body)
}

func (s *Server) reply(w http.ResponseWriter, reqID string, out []byte, err error) {
	status := http.StatusOK
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Type: "InternalServerError", Msg: err.Error(), Status: 500}
		}
		status = ae.Status
		var buf bytes.Buffer
		buf.WriteString(`{"__type":"com.amazonaws.dynamodb.v20120810#` + ae.Type + `","message":`)
		writeJSONString(&buf, ae.Msg)
		if ae.Item != nil {
			buf.WriteString(`,"Item":`)
			writeMap(&buf, ae.Item)
		}
		buf.WriteByte('}')
		out = buf.Bytes()
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	w.Write(out)
}

func decode(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return &apiError{Type: "SerializationException", Msg: err.Error(), Status: 400}
	}
	return nil
}
