// Package junit reads JUnit XML test reports, the format nearly every test runner can
// write, into the counts and failing test names a pipeline run carries. It decodes
// token by token, so a report of any size is read in constant memory.
package junit

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxFailedNames bounds the failing test names kept, so run state stays small.
const MaxFailedNames = 20

// Summary is what a set of reports says.
type Summary struct {
	Tests   int
	Passed  int
	Failed  int // failures and errors
	Skipped int
	// FailedTests names failing tests ("class.name" or "suite/name"), at most MaxFailedNames.
	FailedTests []string
	// MoreFailed counts failing tests not named in FailedTests.
	MoreFailed int
}

// Add merges o into s.
func (s *Summary) Add(o Summary) {
	s.Tests += o.Tests
	s.Passed += o.Passed
	s.Failed += o.Failed
	s.Skipped += o.Skipped
	s.MoreFailed += o.MoreFailed
	for _, n := range o.FailedTests {
		s.addFailed(n)
	}
}

func (s *Summary) addFailed(name string) {
	if len(s.FailedTests) < MaxFailedNames {
		s.FailedTests = append(s.FailedTests, name)
	} else {
		s.MoreFailed++
	}
}

// Parse reads one report. The root may be <testsuites> or <testsuite>; suites may nest.
// Counts come from the <testcase> elements, not the suites' attributes, which runners
// fill inconsistently.
func Parse(r io.Reader) (Summary, error) {
	d := xml.NewDecoder(r)
	var (
		s      Summary
		suites []string
		tc     *testcase
		root   bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			return Summary{}, fmt.Errorf("line %d: not well-formed XML: %w", line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !root {
				root = true
				if t.Name.Local != "testsuites" && t.Name.Local != "testsuite" {
					return Summary{}, fmt.Errorf("root element is <%s>, want <testsuites> or <testsuite>", t.Name.Local)
				}
			}
			switch t.Name.Local {
			case "testsuite":
				suites = append(suites, attr(t, "name"))
			case "testcase":
				tc = &testcase{name: attr(t, "name"), class: attr(t, "classname")}
				if len(suites) > 0 {
					tc.suite = suites[len(suites)-1]
				}
			case "failure", "error":
				if tc != nil {
					tc.failed = true
				}
			case "skipped":
				if tc != nil {
					tc.skipped = true
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "testsuite":
				if len(suites) > 0 {
					suites = suites[:len(suites)-1]
				}
			case "testcase":
				if tc != nil {
					s.Tests++
					switch {
					case tc.failed:
						s.Failed++
						s.addFailed(tc.fullName())
					case tc.skipped:
						s.Skipped++
					default:
						s.Passed++
					}
					tc = nil
				}
			}
		}
	}
	if !root {
		return Summary{}, errors.New("empty report: no <testsuites> or <testsuite> element")
	}
	return s, nil
}

type testcase struct {
	name, class, suite string
	failed, skipped    bool
}

func (t *testcase) fullName() string {
	name := t.name
	if name == "" {
		name = "(unnamed)"
	}
	var full string
	switch {
	case t.class != "":
		full = t.class + "." + name
	case t.suite != "":
		full = t.suite + "/" + name
	default:
		full = name
	}
	// Names come from user code; keep them one short line each.
	full = strings.Join(strings.Fields(full), " ")
	if len(full) > 200 {
		full = full[:200] + "…"
	}
	return full
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
