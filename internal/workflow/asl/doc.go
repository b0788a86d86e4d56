// Package asl is a local, durable engine for Amazon States Language state
// machines: the same statemachine/*.asl.json that run on AWS Step Functions
// run here, calling the same typed Go task functions that the Lambda
// binaries wrap. It implements workflow.Engine.
//
// # Supported subset
//
// Definitions outside this subset are refused by Parse and Engine.Load,
// naming the state and the reason (unknown state type or field, a missing
// Next/End, a transition to a state that does not exist, an unreachable
// state, a bad path, an unsupported intrinsic, a Map in DISTRIBUTED mode or
// with ItemReader/ItemBatcher/ResultWriter, JSONata, other service
// integrations, a function missing from the Registry).
//
//   - States: Pass (Result, Parameters), Task, Choice, Wait (Seconds,
//     SecondsPath, Timestamp, TimestampPath), Succeed, Fail (Error, Cause,
//     ErrorPath, CausePath), Parallel, Map (inline ItemProcessor or the legacy
//     Iterator; ItemsPath, ItemSelector or legacy Parameters,
//     MaxConcurrency).
//   - Input and output: InputPath, Parameters, ResultSelector, ResultPath
//     (null keeps the input), OutputPath; InputPath/OutputPath null give {}.
//   - Paths: $ and $$ (context object), .name, ['name'], [n], [-n], [*], .*
//     and [a:b]; a path with a wildcard or slice yields an array. Filters,
//     unions and deep scan (..) are refused.
//   - Context object: $$.Execution.{Id,Name,Input,StartTime,RoleArn,
//     RedriveCount}, $$.StateMachine.{Id,Name}, $$.State.{Name,EnteredTime,
//     RetryCount}, $$.Task.Token (callback tasks) and, in ItemSelector only
//     (as on AWS), $$.Map.Item.{Index,Value}.
//   - Intrinsics: States.Format, StringToJson, JsonToString, Array,
//     ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength,
//     ArrayUnique, JsonMerge (shallow only, as on AWS), UUID, MathAdd,
//     StringSplit, Hash, Base64Encode, Base64Decode.
//   - Choice: every String*, Numeric*, Boolean*, Timestamp* comparison and
//     its ...Path variant, StringMatches, IsNull, IsPresent, IsNumeric,
//     IsString, IsBoolean, IsTimestamp, And, Or, Not, Default. A comparison
//     on a value of the wrong type is false; a Variable that does not exist
//     is States.Runtime (except for IsPresent).
//   - Errors: Retry (ErrorEquals, IntervalSeconds default 1, MaxAttempts
//     default 3 with 0 meaning never, BackoffRate default 2.0,
//     MaxDelaySeconds; JitterStrategy is accepted and ignored) and Catch
//     (ErrorEquals, Next, ResultPath; the error output is
//     {"Error": ..., "Cause": ...}). States.ALL matches everything but
//     States.Runtime, which (as on AWS) is never retried or caught;
//     States.TaskFailed matches everything but the timeouts; States.Timeout
//     also matches States.HeartbeatTimeout.
//   - Task: TimeoutSeconds, HeartbeatSeconds and their Path variants.
//
// # Tasks and the Registry
//
// After ${Name} substitution (Config.Substitutions, as SAM's
// DefinitionSubstitutions), a Task Resource is one of:
//
//   - a function name or Lambda ARN: the Registry's handler is called with
//     the effective input and its output is the result;
//   - arn:aws:states:::lambda:invoke with Parameters FunctionName and
//     Payload: the result is Lambda's invoke shape, {"Payload": <output>,
//     "StatusCode": 200, "ExecutedVersion": "$LATEST", "SdkHttpMetadata": ...,
//     "SdkResponseMetadata": ...}; without Payload the function gets {};
//   - arn:aws:states:::lambda:invoke.waitForTaskToken: the engine makes a
//     token, passes it as $$.Task.Token, calls the function (which returns
//     at once) and waits for SendTaskSuccess, SendTaskFailure or
//     SendTaskHeartbeat; HeartbeatSeconds without a heartbeat fails the task
//     with States.HeartbeatTimeout.
//
// Handlers run through lambda.NewHandler(fn).Invoke, so JSON handling and
// error names are Lambda's: a task's Error is the Go error type's name
// (pointer removed), its Cause the JSON {"errorType","errorMessage"}, as
// Step Functions reports a Lambda function error. A panic is named after the
// panic value's type. An unknown dynamic FunctionName fails with
// Lambda.ResourceNotFoundException.
//
// # Durability
//
// Every execution lives in a Journal (BoltJournal on a bbolt file, or
// MemJournal). Each state entered is committed, with the state's input,
// before the state runs; a callback task's token is committed before its
// function sees it, the function's acceptance after it, and a
// SendTaskSuccess/Failure is committed before the call returns. Each
// Parallel branch and Map iteration has its own record, and a finished one
// keeps its output. After a crash, New reloads everything and Resume
// restarts each RUNNING execution: every branch continues in the state it
// was in, running that state again (tasks are invoked again, so they must be
// idempotent), except that a callback task whose function took its token
// keeps waiting for that same token. The heartbeat clock restarts at
// Resume; TimeoutSeconds keeps counting from the task's start. An execution
// that cannot resume (its pinned definition no longer loads, say because a
// function left the Registry) fails with States.Runtime and the reason. An
// execution's definition is pinned at start, as on AWS.
//
// # History and transitions
//
// History returns events named like GetExecutionHistory's
// (ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted,
// TaskSubmitted, TaskSucceeded, TaskFailed, TaskTimedOut, TaskStateExited,
// MapStateEntered, ..., ExecutionSucceeded/Failed/Aborted/TimedOut), plus
// <Type>StateRetry for each retry. Each event carries the branch it belongs
// to ("" for the top level, "/Map@visit/index" inside).
//
// Transitions counts what Step Functions bills for Standard workflows, as
// its pricing page puts it ("each time a step of your workflow is executed"):
// one per state entered, at any depth (a Map or Parallel state counts one,
// and every state entered inside each iteration or branch counts one
// more), plus one per retry attempt. Ending the execution counts nothing.
// So a Map with one Task over three items counts 1 + 3 = 4.
//
// # Concurrency and time
//
// The engine is safe for concurrent use. Each running execution has one
// goroutine, plus one per running Parallel branch or Map iteration; Close
// stops them all (task handlers must honour their context) and leaves
// unfinished executions RUNNING in the journal for the next Resume, which
// must be called once after New and Load, before relying on executions
// from an earlier process. Time comes from Config.Clock (the system clock by
// default, which testing/synctest fakes).
package asl
