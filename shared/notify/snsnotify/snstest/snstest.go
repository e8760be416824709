// Package snstest is a stand-in for SNS's Publish, for the tests of code that notifies
// through it: it speaks the query protocol and records each publish's form.
package snstest

import (
	"io"
	"net/http"
	"sync"
)

// StandIn answers Publish and records what it got. Point an SNS client at an
// httptest.Server serving it.
type StandIn struct {
	// Fail names a recipient (the message's first attribute) whose publish is refused.
	Fail string

	mu  sync.Mutex
	got []map[string]string
}

// Publishes are the forms of the publishes received, in order.
func (s *StandIn) Publishes() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.got...)
}

func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "Publish" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := map[string]string{}
	for k := range r.Form {
		f[k] = r.Form.Get(k)
	}
	s.mu.Lock()
	s.got = append(s.got, f)
	s.mu.Unlock()
	if s.Fail != "" && f["MessageAttributes.entry.1.Value.StringValue"] == s.Fail {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>nope</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`)
}
