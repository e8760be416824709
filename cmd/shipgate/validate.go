package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/shipgate/shipgate/shared/spec"
)

// validateReport is `shipgate validate --format json`: stable keys for editors and CI.
type validateReport struct {
	File     string         `json:"file"`
	Valid    bool           `json:"valid"`
	Problems []spec.Problem `json:"problems"`
	// More counts problems beyond those listed.
	More int `json:"more,omitempty"`
	// Spec is the parsed spec, as the pipeline will use it (defaults not applied).
	Spec *spec.Spec `json:"spec,omitempty"`
}

// runValidate checks a spec file without running anything: exit 0 when valid, 2 with
// every problem (file:line: key: message) when not, or when the file cannot be read.
func runValidate(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	format := fs.String("format", "text", "output format: text or json")
	schema := fs.Bool("schema", false, "print the JSON Schema of shipgate.yml (for editors) and exit")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: shipgate validate [--format text|json] [FILE|DIR]\n       shipgate validate --schema > shipgate.schema.json")
		fmt.Fprintln(fs.Output(), "\nChecks a pipeline spec (default ./shipgate.yml; DIR means DIR/shipgate.yml; - reads standard input).")
		fmt.Fprintln(fs.Output(), "Exit codes: 0 valid, 2 invalid or unreadable (problems on stderr; with --format json on stdout).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "shipgate validate: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if *schema {
		if _, err := c.stdout.Write(spec.Schema()); err != nil {
			return exitError
		}
		return exitOK
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(c.stderr, "shipgate validate: one file at a time")
		return exitUsage
	}
	file := spec.FileName
	if fs.NArg() == 1 {
		file = fs.Arg(0)
	}

	// A repository's directory: check the spec at its root.
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		file = filepath.Join(file, spec.FileName)
	}
	data, err := validateRead(c, file)
	if err != nil {
		return validateFailed(c, *format, file, []spec.Problem{{File: file, Line: 0, Message: err.Error()}}, 0)
	}
	name := file
	if file == "-" {
		name = "<stdin>"
	}
	s, err := spec.Parse(name, data)
	if err != nil {
		var ie *spec.InvalidError
		if errors.As(err, &ie) {
			return validateFailed(c, *format, name, ie.Problems, ie.More)
		}
		return validateFailed(c, *format, name, []spec.Problem{{File: name, Message: err.Error()}}, 0)
	}
	if *format == "json" {
		validateJSON(c.stdout, validateReport{File: name, Valid: true, Problems: []spec.Problem{}, Spec: s})
		return exitOK
	}
	fmt.Fprintf(c.stdout, "%s: ok (%s)\n", name, validateSummary(s))
	return exitOK
}

// validateRead reads at most MaxSize+1 bytes so Parse reports an oversized file clearly
// without the CLI reading an arbitrarily large one first.
func validateRead(c *cli, file string) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(file)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no such file (shipgate reads %s at the repository root)", spec.FileName)
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, errors.New("is a directory; give the path of the spec file")
		}
		r = f
	}
	return io.ReadAll(io.LimitReader(r, spec.MaxSize+1))
}

func validateFailed(c *cli, format, file string, problems []spec.Problem, more int) int {
	if format == "json" {
		validateJSON(c.stdout, validateReport{File: file, Valid: false, Problems: problems, More: more})
		return exitUsage
	}
	for _, p := range problems {
		if p.Line == 0 {
			fmt.Fprintf(c.stderr, "%s: %s\n", p.File, p.Message)
			continue
		}
		fmt.Fprintln(c.stderr, p.String())
	}
	if more > 0 {
		fmt.Fprintf(c.stderr, "... and %d more problems\n", more)
	}
	return exitUsage
}

func validateJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// validateSummary says in one line what the pipeline will do, so "ok" is checkable by eye.
func validateSummary(s *spec.Spec) string {
	steps := 0
	for _, st := range []spec.Step{s.Build, s.Test.Step, s.Deploy.Step} {
		steps += len(st.Commands)
	}
	branches := "every branch"
	if len(s.Branches) > 0 {
		branches = fmt.Sprintf("branches %v", s.Branches)
	}
	return fmt.Sprintf("%s; %d commands; %d artifact sets; %d of %d approvers required within %s",
		branches, steps, len(s.Artifacts), s.Approval.RequiredApprovals(), len(s.Approval.Approvers), s.Approval.ApprovalTimeout())
}
