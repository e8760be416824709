package ddblocal_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/awsclient"
	"github.com/shipgate/shipgate/shared/ddblocal"
	"github.com/shipgate/shipgate/shared/dynalite"
	"github.com/shipgate/shipgate/shared/inproc"
	"github.com/shipgate/shipgate/shared/table"
)

// BenchmarkPutGet measures one conditional PutItem and one GetItem through the AWS SDK,
// the calls a pipeline run makes most, against ddblocal (logging to disk, as local mode
// runs it) over TCP and through shared/inproc (streaming, and buffered with unsigned
// requests as local mode's handlers reach it), and against dynalite, side by side.
func BenchmarkPutGet(b *testing.B) {
	ctx := context.Background()
	startLocal := func(b *testing.B) *ddblocal.Server {
		s, err := ddblocal.Start(ddblocal.Options{Path: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	servers := []struct {
		name  string
		start func(b *testing.B) *dynamodb.Client
	}{
		{"ddblocal", func(b *testing.B) *dynamodb.Client { return client(b, startLocal(b).URL) }},
		{"ddblocal-inproc", func(b *testing.B) *dynamodb.Client { return inprocClient(b, startLocal(b), false) }},
		{"ddblocal-inproc-buffered", func(b *testing.B) *dynamodb.Client { return inprocClient(b, startLocal(b), true) }},
		{"dynalite", func(b *testing.B) *dynamodb.Client {
			s, err := dynalite.Start(ctx, dynalite.Options{})
			if err != nil {
				b.Skipf("dynalite: %v", err)
			}
			b.Cleanup(func() { s.Stop() })
			return client(b, s.URL)
		}},
	}
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			c := srv.start(b)
			if err := table.Ensure(ctx, c, "bench"); err != nil {
				b.Fatal(err)
			}
			var put, get time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key := map[string]types.AttributeValue{"PK": S("run#" + fmt.Sprint(i%100)), "SK": S(fmt.Sprintf("audit#%09d", i))}
				item := map[string]types.AttributeValue{"PK": key["PK"], "SK": key["SK"], "GSI1PK": S("st#ok"), "GSI1SK": key["SK"],
					"kind": S("stage"), "detail": M("by", S("someone@example.com"), "n", N("42"))}
				t0 := time.Now()
				if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("bench"), Item: item,
					ConditionExpression: aws.String("attribute_not_exists(PK)")}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("bench"), Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil || out.Item == nil {
					b.Fatalf("get: %v %v", err, out)
				}
				put += t1.Sub(t0)
				get += time.Since(t1)
			}
			b.ReportMetric(float64(put.Microseconds())/float64(b.N), "µs/put")
			b.ReportMetric(float64(get.Microseconds())/float64(b.N), "µs/get")
		})
	}
}

// inprocClient is a client of s through shared/inproc, streaming or buffered (as local
// mode uses it), unsigned as local mode's in-process clients are.
func inprocClient(b *testing.B, s *ddblocal.Server, buffered bool) *dynamodb.Client {
	ep := awsclient.Endpoints{DynamoDB: s.URL}
	cfg, err := awsclient.Load(context.Background(), ep)
	if err != nil {
		b.Fatal(err)
	}
	tr := &inproc.Transport{}
	handle := tr.Handle
	if buffered {
		handle = tr.HandleBuffered
	}
	if err := handle(s.URL, s); err != nil {
		b.Fatal(err)
	}
	cfg.HTTPClient = &http.Client{Transport: tr}
	cfg.Credentials = aws.AnonymousCredentials{}
	return awsclient.DynamoDB(cfg, ep)
}

// BenchmarkDoPutGet is the server's own share of BenchmarkPutGet: the same requests
// handed to Server.Do as JSON, without HTTP and the SDK.
func BenchmarkDoPutGet(b *testing.B) {
	s, err := ddblocal.Start(ddblocal.Options{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := table.Ensure(context.Background(), client(b, s.URL), "bench"); err != nil {
		b.Fatal(err)
	}
	var put, get time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key := fmt.Sprintf(`"PK":{"S":"run#%d"},"SK":{"S":"audit#%09d"}`, i%100, i)
		t0 := time.Now()
		if _, err := s.Do("PutItem", []byte(`{"TableName":"bench","ConditionExpression":"attribute_not_exists(PK)","Item":{`+key+
			`,"GSI1PK":{"S":"st#ok"},"GSI1SK":{"S":"x"},"kind":{"S":"stage"},"detail":{"M":{"by":{"S":"someone@example.com"},"n":{"N":"42"}}}}}`)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.Do("GetItem", []byte(`{"TableName":"bench","ConsistentRead":true,"Key":{`+key+`}}`)); err != nil {
			b.Fatal(err)
		}
		put += t1.Sub(t0)
		get += time.Since(t1)
	}
	b.ReportMetric(float64(put.Microseconds())/float64(b.N), "µs/put")
	b.ReportMetric(float64(get.Microseconds())/float64(b.N), "µs/get")
}
