// Package lambdaerr is the boundary between shipgate's classified errors and the error
// names Step Functions sees. aws-lambda-go reports a returned error's Go type name as the
// errorType, and Step Functions matches Retry/Catch ErrorEquals against it, so each stage
// failure kind has a type here whose name is exactly the kind (BuildFailed, ...).
// Handlers pass every error they return through Boundary.
package lambdaerr

import "github.com/shipgate/shipgate/shared/domain"

type named struct{ msg string }

func (e named) Error() string { return e.msg }

// The error types, one per kind that can leave a Lambda. Their names are the contract.
type (
	SpecMissing       struct{ named }
	SpecInvalid       struct{ named }
	SourceUnavailable struct{ named }
	BuildFailed       struct{ named }
	TestsFailed       struct{ named }
	StageTimedOut     struct{ named }
	ArtifactsMissing  struct{ named }
	ArtifactMismatch  struct{ named }
	DecisionMissing   struct{ named }
	DeployFailed      struct{ named }
	ApprovalRejected  struct{ named }
	ApprovalExpired   struct{ named }
	// Transient marks an error worth retrying (throttling, a network blip).
	Transient struct{ named }
	// Internal is everything unclassified: a bug, never retried.
	Internal struct{ named }
)

// Boundary maps err to a value whose type name is the error name Step Functions will see.
func Boundary(err error) error {
	if err == nil {
		return nil
	}
	n := named{msg: err.Error()}
	switch domain.KindOf(err) {
	case domain.SpecMissing:
		return &SpecMissing{n}
	case domain.SpecInvalid:
		return &SpecInvalid{n}
	case domain.SourceUnavailable:
		return &SourceUnavailable{n}
	case domain.BuildFailed:
		return &BuildFailed{n}
	case domain.TestsFailed:
		return &TestsFailed{n}
	case domain.StageTimedOut:
		return &StageTimedOut{n}
	case domain.ArtifactsMissing:
		return &ArtifactsMissing{n}
	case domain.ArtifactMismatch:
		return &ArtifactMismatch{n}
	case domain.DecisionMissing:
		return &DecisionMissing{n}
	case domain.DeployFailed:
		return &DeployFailed{n}
	case domain.ApprovalRejected:
		return &ApprovalRejected{n}
	case domain.ApprovalExpired:
		return &ApprovalExpired{n}
	case domain.Transient:
		return &Transient{n}
	}
	return &Internal{n}
}
