// Package artifact is shipgate's S3 store: the key layout every stage and the CDK
// lifecycle rules agree on, uploads that carry S3's SHA-256 checksum and report the
// object's SHA-256 without ever holding it in memory (streams and files over 256 MiB go
// as multipart uploads from a few recycled part buffers, hashed as the bytes pass;
// smaller files are hashed, then sent straight from disk), and the run's immutable
// manifest with its digest, which is what an approver approves and what Deploy
// re-checks.
//
// The local S3 stand-in (gofakes3) ignores x-amz-checksum-sha256, so locally nothing
// checks those headers; Download therefore hashes what it receives, and Deploy compares
// that with the manifest, on AWS and locally alike.
package artifact

import (
	"fmt"
	"path"
	"strings"
)

// Key prefixes. They are a contract with the CDK app: the bucket's lifecycle rule
// expires PrefixWorkspaces only; staged artifacts and manifests are never expired.
const (
	PrefixRuns       = "runs/"
	PrefixWorkspaces = "workspaces/"
	PrefixLogs       = "logs/"
	PrefixReports    = "reports/"
	PrefixArtifacts  = "artifacts/"
)

// SpecKey is where Build stores the parsed spec (JSON) for the later stages.
func SpecKey(pipeline, run string) string {
	return PrefixRuns + pipeline + "/" + run + "/spec.json"
}

// WorkspaceKey is the compressed tar of the built workspace.
func WorkspaceKey(pipeline, run string) string {
	return PrefixWorkspaces + pipeline + "/" + run + ".tar.gz"
}

// LogKey is the full output of one stage's commands.
func LogKey(pipeline, run, stage string) string {
	return PrefixLogs + pipeline + "/" + run + "/" + stage + ".log"
}

// ReportKey is one test report; rel is its path relative to the workspace.
func ReportKey(pipeline, run, rel string) string {
	return PrefixReports + pipeline + "/" + run + "/" + cleanRel(rel)
}

// ArtifactKey is the immutable copy of one staged file. The commit comes before the run
// so that everything staged for a commit lists under one prefix.
func ArtifactKey(pipeline, commit, run, name, rel string) string {
	return PrefixArtifacts + pipeline + "/" + commit + "/" + run + "/" + name + "/" + cleanRel(rel)
}

// ManifestKey is the run's manifest, next to its artifacts.
func ManifestKey(pipeline, commit, run string) string {
	return PrefixArtifacts + pipeline + "/" + commit + "/" + run + "/manifest.json"
}

func cleanRel(rel string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(rel, "\\", "/")), "/")
}

// CheckSegment rejects a value that would break the key layout if used as one path
// segment (a pipeline name, run id, commit, stage or artifact name): keys built from
// untrusted names must not escape their prefix or collide with a sibling's.
func CheckSegment(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty", what)
	case v == "." || v == "..":
		return fmt.Errorf("%s %q is not a valid name", what, v)
	case strings.ContainsAny(v, "/\\\x00"):
		return fmt.Errorf("%s %q contains a path separator", what, v)
	case len(v) > 200:
		return fmt.Errorf("%s is %d characters long, at most 200 allowed", what, len(v))
	}
	return nil
}
