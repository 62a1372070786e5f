package exec

import (
	"fmt"
	"sort"
	"sync"

	"github.com/shoal-data/shoal/blocks"
)

// RunFunc is a task's function: input blocks to output blocks, under the
// ownership rules of Task.Run.
type RunFunc = func(tc *TaskContext, inputs []blocks.Block) ([]blocks.Block, error)

// TaskSpec describes a task's function as data, so that a process other
// than the one that planned it can build it: a worker on a cluster node runs
// the driver's own binary, where the same builders are registered. Kind
// names a builder registered with RegisterTaskKind; Args are its encoded
// arguments (JSON by convention).
type TaskSpec struct {
	Kind string `json:"kind"`
	Args []byte `json:"args,omitempty"`
}

// TaskBuilder turns a spec's arguments back into the function.
type TaskBuilder func(args []byte) (RunFunc, error)

// taskKinds is the registry cluster mode needs: builders are registered at
// package init, so every process running the same binary has the same ones.
var taskKinds struct {
	sync.RWMutex
	m map[string]TaskBuilder
}

// RegisterTaskKind makes kind buildable by BuildTask. Call it from an init
// function; registering a kind twice panics, as database/sql.Register does.
func RegisterTaskKind(kind string, build TaskBuilder) {
	taskKinds.Lock()
	defer taskKinds.Unlock()
	if taskKinds.m == nil {
		taskKinds.m = make(map[string]TaskBuilder)
	}
	if _, dup := taskKinds.m[kind]; dup {
		panic("exec: task kind registered twice: " + kind)
	}
	taskKinds.m[kind] = build
}

// BuildTask builds the function spec describes.
func BuildTask(spec TaskSpec) (RunFunc, error) {
	taskKinds.RLock()
	build, ok := taskKinds.m[spec.Kind]
	taskKinds.RUnlock()
	if !ok {
		return nil, fmt.Errorf("exec: no task kind %q in this binary (registered: %v): run the same build everywhere", spec.Kind, TaskKinds())
	}
	run, err := build(spec.Args)
	if err != nil {
		return nil, fmt.Errorf("exec: building a %s task: %w", spec.Kind, err)
	}
	return run, nil
}

// TaskKinds lists the registered kinds, sorted.
func TaskKinds() []string {
	taskKinds.RLock()
	defer taskKinds.RUnlock()
	kinds := make([]string, 0, len(taskKinds.m))
	for k := range taskKinds.m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// ActorBuilder turns an actor spec's arguments back into the actor's
// constructor.
type ActorBuilder func(args []byte) (func(ac *ActorContext) (ActorFunc, error), error)

// actorKinds is the registry of actor constructors, as taskKinds is of
// task functions.
var actorKinds struct {
	sync.RWMutex
	m map[string]ActorBuilder
}

// RegisterActorKind makes kind buildable by BuildActor. Call it from an
// init function; registering a kind twice panics.
func RegisterActorKind(kind string, build ActorBuilder) {
	actorKinds.Lock()
	defer actorKinds.Unlock()
	if actorKinds.m == nil {
		actorKinds.m = make(map[string]ActorBuilder)
	}
	if _, dup := actorKinds.m[kind]; dup {
		panic("exec: actor kind registered twice: " + kind)
	}
	actorKinds.m[kind] = build
}

// BuildActor builds the constructor spec describes.
func BuildActor(spec TaskSpec) (func(ac *ActorContext) (ActorFunc, error), error) {
	actorKinds.RLock()
	build, ok := actorKinds.m[spec.Kind]
	actorKinds.RUnlock()
	if !ok {
		return nil, fmt.Errorf("exec: no actor kind %q in this binary: run the same build everywhere", spec.Kind)
	}
	newActor, err := build(spec.Args)
	if err != nil {
		return nil, fmt.Errorf("exec: building a %s actor: %w", spec.Kind, err)
	}
	return newActor, nil
}
