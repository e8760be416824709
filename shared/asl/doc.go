// Package asl is shipgate's own Amazon States Language engine: it parses and validates
// state machine definitions the way AWS's ValidateStateMachineDefinition does, runs them
// with AWS Step Functions' semantics (JSONPath and JSONata, every state type, Retry and
// Catch, intrinsic functions, variables), invokes Go Lambda handlers in process through
// aws-lambda-go, keeps executions durable in a bbolt database, and serves the subset of
// the Step Functions JSON-protocol API that the AWS SDK and CLI need.
//
// Local mode runs the very definition the CDK app deploys, so behaviour that differs
// from AWS is a bug here, not a choice.
//
// # Durability and the at-least-once rule
//
// With Options.Path set, an execution is on disk ("on disk" below: synced, or with
// Options.NoSync written to the kernel, which a killed process does not lose but a power
// loss may) before StartExecution returns, and
// again at each top-level checkpoint: before every Task attempt invokes its handler,
// when a Parallel or Map state starts, whenever the execution waits (Wait state, retry
// backoff, task token, including a task token in a branch or iteration of a Parallel or
// Map state at any nesting depth) and when it ends.
// After a crash (kill -9) Open resumes every execution that was RUNNING from its last
// checkpoint:
//
//   - a task token issued before the crash still resumes the execution, with the
//     remaining TimeoutSeconds;
//   - a Wait or a retry backoff continues with the time that remains;
//   - a Task whose handler was running when the process died is treated as a failed
//     attempt with error Lambda.ServiceException, and its Retry policy decides what
//     happens (the project's definitions retry it). A handler can therefore run more than
//     once for one state: handlers must be idempotent, exactly as on AWS, where Lambda
//     invocations are at-least-once too;
//   - a task token issued in a branch of a Parallel state or an iteration of a Map
//     state, at any nesting depth (a Map inside a Parallel branch, a Parallel inside a
//     Map iteration, and deeper), still resumes that branch after a restart, from the
//     token's Task and with the branch's variables; the branches and iterations that
//     enclose it resume at their Parallel or Map state with their own variables, and
//     its enclosing states' Started events are not repeated. At every level, branches
//     already finished when the last checkpoint was written keep their results and do
//     not run again; every other branch (still running, or finished after that
//     checkpoint) runs again from its start, and so does a branch that had left its
//     inner Parallel or Map state before that checkpoint without parking on a token
//     since. A token whose handler was still running when the process died is lost
//     with its branch, which runs again and issues a new one (as for a top-level Task
//     in that case);
//   - an answer to a task token (SendTaskSuccess or SendTaskFailure) is on disk before
//     it is acknowledged, so an answer its sender was told was accepted is never lost:
//     if the process dies before the execution checkpoints past that task, Open
//     continues the task (at the top level or in a branch at any depth) with the stored
//     answer, without it being sent again, and a second answer to the same token gets
//     TaskTimedOut, before and after the restart, as on AWS. A call that returned an
//     error was not accepted, and the task still waits on its token;
//   - states between checkpoints (Pass, Choice) are run again from the last checkpoint.
//
// # What is not there
//
// Task resources other than Lambda (a function ARN, lambda:invoke and its
// .waitForTaskToken form) are refused at validation, as are a Distributed Map's
// ItemReader and ResultWriter (items must come from the state input). JSONata runs on
// github.com/xiatechs/jsonata-go; the constructs it lacks or misreads (the parent
// operator %, context and positional binding @ and #, $assert, $formatInteger,
// $parseInteger) are refused at validation with "not supported: ...". The HTTP API
// serves the operations the SDK and CLI need for running executions (see Handler), not
// versions, aliases, activities, map runs or tags.
//
// # Time
//
// Every timer goes through a Clock. VirtualClock lets tests run Wait states, retry
// backoff and timeouts without sleeping.
package asl
