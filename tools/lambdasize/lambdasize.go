// Package lambdasize holds the size budget of the pipeline's Lambda binaries (issue 4:
// each at most 12 MB as shipped) and, in its tests, builds every one exactly as the stack
// ships it (infra/gobuild: linux/arm64, lambda.norpc, stripped) to check and report it.
// The budget is a test rather than a benchmark threshold because a binary's size is not a
// timing: it is the same on every machine for the same source and toolchain.
package lambdasize

// Limit is the most bytes a shipped Lambda binary may have (12 MB, decimal, the stricter
// reading of the issue).
const Limit = 12_000_000

// Lambdas are the main packages of the pipeline's Lambdas, relative to the module root.
var Lambdas = []string{
	"./lambdas/trigger/cmd",
	"./lambdas/api/cmd",
	"./lambdas/build/cmd",
	"./lambdas/test/cmd",
	"./lambdas/stage/cmd",
	"./lambdas/approval/cmd",
	"./lambdas/expire/cmd",
	"./lambdas/deploy/cmd",
	"./lambdas/notify/cmd",
}
