// Package deploy runs versioned choreographies that are deployed, replaced
// and removed while the engine runs, with every change recorded in the log.
//
// # The log
//
// A Manager keeps its state in the system stream Stream. Deploy appends an
// EventDeployed record holding the choreography's name, its version, its
// source text exactly as given and the source's SHA-256; Remove appends an
// EventRemoved record. Versions count from 1 per name and never repeat,
// across removals. Open rebuilds the same deployments after a restart by
// reading the stream.
//
// Deploy and Remove append with the stream's expected version, so that
// deployments made at the same time, by this manager or by another one
// over the same store, are ordered by the log: on a conflict the manager
// reads the records it missed and tries again.
//
// # What a deployment acts on
//
// Each deployed version has its own engine and its own live.Runner, which
// folds the whole log from its start, so that the deployment's state
// (partial sequences, windows, pending absences) includes history. But a
// version emits actions only for the records after its own deployment
// record (live.Config.EmitFrom), and only up to the record that ends it —
// the next version's deployment record or the name's removal record
// (live.Runner.StopAt). A newly deployed choreography therefore does not
// act on events that came before it, yet a sequence begun before the
// deployment and completed after it fires. When version 2 replaces version
// 1, version 1 acts on the records before version 2's deployment record
// and version 2 on those after it, never both: each action is decided by
// exactly one version.
//
// A runner learns where it ends from the log itself, as it reads the
// record that ends it, so the boundary holds whatever the timing of the
// call that appended it.
//
// When the runner of a replaced or removed version has appended the
// actions of every record up to its end, the manager appends an
// EventRetired record, and later starts of the manager no longer run that
// version. A version whose retirement was not recorded (the process
// stopped first) is run again up to its end on the next start; the actions
// it derives again have the ids of those already logged, which the log
// keeps once.
//
// # Costs
//
// Every running version reads the whole log, so starting the manager, or
// deploying, costs a fold of the log per version that runs. A name has
// one current version, and briefly more running while replaced ones
// finish.
// The manager keeps the source of every version in memory, for History,
// and the compiled choreography of the versions that run.
//
// # Errors
//
// A document that does not load is refused with the choreography
// package's choreography.Problems, every problem with its line and column,
// or the engine's *engine.RuleError; both have the code
// CodeInvalidChoreography. A document whose name differs from the name it
// is deployed under is refused with an *Error of code CodeNameMismatch,
// and removing a name that is not deployed returns one of code
// CodeNotFound. Code gives the stable code of any error of the package,
// the store's codes included.
//
// # Concurrency
//
// A Manager is safe for concurrent use. Run starts the runners and waits
// for them; runners of versions deployed while Run runs join it.
package deploy
