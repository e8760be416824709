package junit_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/shared/junit"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		xml     string
		want    junit.Summary
		wantErr string
	}{
		{name: "go-junit-report with failure, error and skip", file: "testdata/go-junit-report.xml",
			want: junit.Summary{Tests: 4, Passed: 1, Failed: 2, Skipped: 1, FailedTests: []string{"calc.TestDivide", "example.com/app/db/TestConnect"}}},
		{name: "pytest single suite all passing", file: "testdata/pytest.xml", want: junit.Summary{Tests: 2, Passed: 2}},
		{name: "nested suites use the innermost name", xml: `<testsuites><testsuite name="outer"><testsuite name="inner"><testcase name="t"><failure/></testcase></testsuite></testsuite></testsuites>`,
			want: junit.Summary{Tests: 1, Failed: 1, FailedTests: []string{"inner/t"}}},
		{name: "empty suite", xml: `<testsuite name="x"></testsuite>`, want: junit.Summary{}},
		{name: "not junit", xml: `<html></html>`, wantErr: "root element is <html>"},
		{name: "truncated", xml: `<testsuite><testcase name="a">`, wantErr: "not well-formed"},
		{name: "empty file", xml: ``, wantErr: "empty report"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.xml
			if tc.file != "" {
				b, err := os.ReadFile(tc.file)
				if err != nil {
					t.Fatal(err)
				}
				src = string(b)
			}
			got, err := junit.Parse(strings.NewReader(src))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFailedNamesAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("<testsuite name=\"s\">")
	for i := range 50 {
		fmt.Fprintf(&b, `<testcase classname="c" name="T%d"><failure/></testcase>`, i)
	}
	b.WriteString("</testsuite>")
	s, err := junit.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var total junit.Summary
	total.Add(s)
	total.Add(s)
	if total.Failed != 100 || len(total.FailedTests) != junit.MaxFailedNames || total.MoreFailed != 80 {
		t.Errorf("got failed %d, %d names, %d more; want 100, %d, 80", total.Failed, len(total.FailedTests), total.MoreFailed, junit.MaxFailedNames)
	}
}
