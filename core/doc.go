// Package core is Shoal's API for programs that are not dataset-shaped:
// Ray Core's futures, remote functions and actors, over Go values, on the
// same runtime datasets use (embedded by default, or the cluster that
// SHOAL_ADDRESS names).
//
//   - Put stores a value and returns a Ref[T]; Get waits for a Ref's value;
//     Wait returns the Refs that are ready; GetAll gets many.
//   - Func1 (Func0, Func2, Func3, FuncVariadic, FuncMulti) registers a Go
//     function under a name; its Remote method runs it as a task and returns
//     Refs to its results at once. Arguments are Refs or plain Values.
//   - RegisterActor registers a Go type whose exported methods Call0, Call1
//     and Call2 run remotely, one call at a time, in order, on an instance
//     that keeps its state.
//
// Values travel through the object store encoded with encoding/gob ([]byte
// and string as they are), so a value is copied on Put and on Get: what a
// caller changes afterwards changes nothing stored. A type gob cannot encode
// (channels, functions, a struct without exported fields) fails the Put or
// the call, naming the type. Small plain arguments (up to 64 KiB encoded)
// travel inside the call, larger ones are stored first.
//
// References are counted for the program: a stored value lives while a Ref
// to it is reachable or a pending call needs it, and is freed when the last
// one is garbage collected or released (Ref.Release). A value a Ref names
// can be used while the Ref is live; Get of a released Ref fails with
// ErrReleased.
//
// Errors and panics in remote code come back from Get as a *TaskError
// naming the function (or actor.Method); a panic's value and stack are in
// the *exec.PanicError it wraps. A call whose argument failed fails too,
// naming the argument. A panicking actor is dead: its later calls fail
// (exec.IsActorFailure).
//
// Registration must happen at package level (or in init), as
// database/sql drivers register: on a cluster, tasks and actors run in
// worker processes started from the program's own binary, which find the
// function by its name. Such a program calls Init first in main and imports
// cluster support:
//
//	import _ "github.com/shoal-data/shoal/cluster"
//
//	func main() {
//		core.Init()
//		...
//	}
//
// On a cluster, a result lost with its node is made again from its lineage
// (the call that made it, run again); a value stored by Put, or an
// argument over 64 KiB, has no lineage and is lost with its node, as in Ray.
package core
