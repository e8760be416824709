package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shipgate/shipgate/shared/domain"
	"github.com/shipgate/shipgate/shared/workflow"
)

// ProblemKind says what verification found wrong with the trail.
type ProblemKind string

const (
	Edited   ProblemKind = "edited"
	Deleted  ProblemKind = "deleted"
	Inserted ProblemKind = "inserted"
)

// Problem is one finding of Verify.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Seq is the record concerned (the first missing one for deletions); 0 when the item
	// has no valid sequence number.
	Seq int64 `json:"seq,omitempty"`
	// Key is the item's table key, "PK / SK".
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Kind, p.Key, p.Detail)
}

// Report is the outcome of verifying one pipeline's chain.
type Report struct {
	Pipeline string    `json:"pipeline"`
	Records  int       `json:"records"`
	Head     Anchor    `json:"head"`
	Problems []Problem `json:"problems"`
}

// OK reports whether the chain verified without problems.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Anchor names a chain position: record Seq had hash Hash. A chain rewritten wholesale
// (every hash recomputed) or cut at its end is self-consistent; comparing with an anchor
// kept elsewhere (a previous verify's head) is what exposes it.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAnchor reads "SEQ:HASH" as printed by verify.
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return Anchor{}, domain.Errorf(domain.Invalid, "anchor %q: want SEQ:HASH as printed by `shipgate audit verify` (e.g. 42:<64 hex digits>)", s)
	}
	return Anchor{Seq: n, Hash: hash}, nil
}

// Verify walks the pipeline's chain in order (consistent reads) and reports every record
// whose content no longer matches its hash (edited), every gap in the sequence (deleted),
// and every item that sits in the pipeline's partition or time index without being a
// chained record (inserted). expect, if given, are anchors the chain must still contain.
func (d *Dynamo) Verify(ctx context.Context, pipeline string, expect ...Anchor) (Report, error) {
	if pipeline == "" {
		return Report{}, domain.Errorf(domain.Invalid, "verify needs a pipeline")
	}
	rep := Report{Pipeline: pipeline, Problems: []Problem{}}
	add := func(k ProblemKind, seq int64, pk, sk, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Kind: k, Seq: seq, Key: pk + " / " + sk, Detail: fmt.Sprintf(format, args...)})
	}
	type link struct {
		seq            int64
		pk, sk         string
		prevSK         string
		prev, wantPrev string
	}
	var breaks []link
	// Only the anchored positions are remembered, so verifying a long chain takes
	// constant memory.
	hashes := map[int64]string{}
	anchored := map[int64]bool{}
	for _, a := range expect {
		anchored[a.Seq] = true
	}
	expected, lastHash, lastSK, linkKnown := int64(1), "", "", true

	err := d.each(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": workflow.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pipePrefix + pipeline)},
		ConsistentRead:            aws.Bool(true),
	}, func(s *stored) {
		n, ok := parseSeqKey(s.SK)
		if !ok {
			add(Inserted, 0, s.PK, s.SK, "sort key is not of the form Append writes (%s%0*d)", seqPrefix, seqDigits, 1)
			return
		}
		if n > expected {
			if n-1 == expected {
				add(Deleted, expected, s.PK, seqKey(expected), "record %d is missing", expected)
			} else {
				add(Deleted, expected, s.PK, seqKey(expected), "records %d to %d are missing", expected, n-1)
			}
			linkKnown = false
		}
		rep.Records++
		switch {
		case s.SeqText != strconv.FormatInt(n, 10):
			add(Edited, n, s.PK, s.SK, "seq attribute %q does not match its key", s.SeqText)
		case s.Pipeline != pipeline:
			add(Edited, n, s.PK, s.SK, "pipeline attribute %q does not match its partition", s.Pipeline)
		case s.contentHash() != s.Hash:
			add(Edited, n, s.PK, s.SK, "content does not match its hash (a field was changed)")
		case linkKnown && s.PrevHash != lastHash:
			breaks = append(breaks, link{seq: n, pk: s.PK, sk: s.SK, prevSK: lastSK, prev: s.PrevHash, wantPrev: lastHash})
		default:
			if msg := indexDrift(s); msg != "" {
				add(Edited, n, s.PK, s.SK, "%s", msg)
			}
		}
		if anchored[n] {
			hashes[n] = s.Hash
		}
		expected, lastHash, lastSK, linkKnown = n+1, s.Hash, s.SK, true
		rep.Head = Anchor{Seq: n, Hash: s.Hash}
	})
	if err != nil {
		return Report{}, err
	}
	for _, b := range breaks {
		if b.seq == rep.Head.Seq {
			add(Inserted, b.seq, b.pk, b.sk, "record was appended without linking to record %d (prevHash %.12s…, record %d has %.12s…)", b.seq-1, b.prev, b.seq-1, b.wantPrev)
		} else {
			add(Edited, b.seq-1, b.pk, b.prevSK, "record %d was rewritten with a recomputed hash: record %d was chained to %.12s…, it now has %.12s…", b.seq-1, b.seq, b.prev, b.wantPrev)
		}
	}
	for _, a := range expect {
		h, ok := hashes[a.Seq]
		switch {
		case !ok && a.Seq > rep.Head.Seq:
			add(Deleted, rep.Head.Seq+1, pipePrefix+pipeline, seqKey(a.Seq), "anchor %d is beyond the head (%d): the end of the chain was cut", a.Seq, rep.Head.Seq)
		case ok && h != a.Hash:
			add(Edited, a.Seq, pipePrefix+pipeline, seqKey(a.Seq), "hash differs from anchor %.12s…: the chain was rewritten from here or earlier", a.Hash)
		}
	}

	// Everything in the pipeline's time index must live in its chain partition; anything
	// else was planted to show up in queries. (An item of the partition itself was judged
	// above, and one appended since is legitimately new.)
	ix := indexes()[idxTime]
	err = d.each(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pipePrefix + pipeline)},
	}, func(s *stored) {
		if s.PK != pipePrefix+pipeline {
			add(Inserted, 0, s.PK, s.SK, "appears in pipeline %s's queries but is not part of its chain", pipeline)
		}
	})
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

// indexDrift compares the GSI attributes with those derived from the content: a changed
// index key hides a record from a query (or plants it in another) without touching the
// hashed fields.
func indexDrift(s *stored) string {
	want := s.indexKeys()
	for _, ix := range workflow.TableIndexes() {
		if ix.Name == "GSI4" { // not an audit index
			continue
		}
		for _, a := range []string{ix.PK, ix.SK} {
			if got := getS(s.Item, a); got != want[a] {
				return fmt.Sprintf("index attribute %s is %q, the content says %q", a, got, want[a])
			}
		}
	}
	return ""
}

func (d *Dynamo) each(ctx context.Context, in *dynamodb.QueryInput, fn func(*stored)) error {
	for {
		out, err := d.db.Query(ctx, in)
		if err != nil {
			return domain.Errorf(domain.Transient, "audit verify: %w", err)
		}
		for _, it := range out.Items {
			fn(fromItem(it))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
