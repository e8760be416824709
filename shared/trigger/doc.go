// Package trigger turns pushes into pipeline runs, exactly one run per pushed commit.
//
// Three doors lead here: the EventBridge "CodeCommit Repository State Change" event on AWS,
// the GitHub push webhook (package webhook verifies it and hands the parsed push over), and
// local mode, whose git watcher builds the same CodeCommit event (CodeCommitEvent) so a local
// push travels the production path.
//
// Exactly once. The execution name is derived from (repository, ref, commit), so every
// delivery of one push names the same Step Functions execution. Step Functions returns the
// open execution for a repeated StartExecution only when the input is byte-identical, and
// each redelivery arrives at a different time, so the first delivery claims the push with a
// conditional write (PK "PUSH#<name>", SK "PUSH") that stores the execution input; later
// deliveries start with the stored input. The delivery that first marks the claim as
// announced writes the run.started audit record, before it starts the execution, and gives
// the announcement back if that write fails, so the next delivery writes it. Giving it
// back is best effort: if it fails too (the table is unwell), or the delivery dies between
// the announcement and the record, the run has no run.started record; if the record's
// write failed only in its answer, the next delivery writes a second one. Every delivery
// then starts (or finds) the same execution, so one that dies before StartExecution leaves
// the next delivery to start the run. All of this needs a next delivery: EventBridge
// delivers again, local mode does after a failure that can pass, and GitHub does not on
// its own (its redelivery is manual). A redelivery
// after the run ended gets ExecutionAlreadyExists and is recorded as push.duplicate; one
// arriving more than MaxRedeliveryAge after the push never reaches StartExecution, since
// Step Functions forgets execution names after 90 days and would run the push again.
//
// Filters. The trigger filters on deployment configuration only (app.Config.Repository and
// the branch globs of app.Config.Branches), because the spec's own branch and path filters
// live in shipgate.yml at the pushed commit and reading it needs the source, which the
// trigger must not fetch: a webhook has to be answered within seconds. The Build stage
// applies the spec's filters at the commit and ends the run as skipped with a push.skipped
// record. Whatever the trigger does not start (a tag, a branch deletion, another event, a
// branch or repository outside the configuration) is recorded as push.skipped with the
// reason; nothing disappears silently.
package trigger
