// Package domain holds shipgate's application domain: the types every stage, the CLI and
// local mode agree on (runs, pushes, stage results, manifests, decisions, audit records)
// and the error kinds that classify failures. It imports no AWS code so that every layer
// can depend on it.
package domain

import (
	"errors"
	"fmt"
)

// Kind classifies an error. Kinds that a pipeline stage can fail with double as the
// error names Step Functions sees (see Boundary), so Retry/Catch match them by name.
type Kind string

// Stage failure kinds: these names are a contract with the state machine definition.
const (
	SpecMissing       Kind = "SpecMissing"
	SpecInvalid       Kind = "SpecInvalid"
	SourceUnavailable Kind = "SourceUnavailable"
	BuildFailed       Kind = "BuildFailed"
	TestsFailed       Kind = "TestsFailed"
	StageTimedOut     Kind = "StageTimedOut"
	ArtifactsMissing  Kind = "ArtifactsMissing"
	ArtifactMismatch  Kind = "ArtifactMismatch"
	DecisionMissing   Kind = "DecisionMissing"
	DeployFailed      Kind = "DeployFailed"
	ApprovalRejected  Kind = "ApprovalRejected"
	ApprovalExpired   Kind = "ApprovalExpired"
)

// General kinds used inside the application (HTTP status, CLI exit codes).
const (
	Internal  Kind = "Internal"  // a bug or an unexpected condition
	Invalid   Kind = "Invalid"   // bad input from a caller
	NotFound  Kind = "NotFound"  // the thing asked for does not exist
	Forbidden Kind = "Forbidden" // the caller may not do this
	Conflict  Kind = "Conflict"  // already done / someone else was first
	Transient Kind = "Transient" // worth retrying (AWS throttling, network)
)

// Error is shipgate's error value: a kind for classification, the operation that failed
// and a message for people. Err, when set, is the underlying cause.
type Error struct {
	Kind Kind
	Op   string
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	s := ""
	if e.Op != "" {
		s = e.Op + ": "
	}
	if e.Msg != "" {
		s += e.Msg
	}
	if e.Err != nil {
		if e.Msg != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	if s == "" {
		s = string(e.Kind)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, domain.E(kind, "")) or errors.Is(err, &Error{Kind: k}) match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Op == "" && t.Msg == "" && t.Err == nil
}

// Errorf builds an *Error of the given kind with a formatted message. A %w verb wraps.
func Errorf(kind Kind, format string, args ...any) error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// KindOf reports the kind of the outermost *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// IsKind reports whether any *Error in err's chain has kind k.
func IsKind(err error, k Kind) bool {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return false
		}
		if e.Kind == k {
			return true
		}
		err = e.Err
	}
	return false
}
