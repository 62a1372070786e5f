package ops

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Spec describes a function of the plan (a one-to-one stage's BlockFn, a
// read task's Read) as data, so that another process running the same
// binary can build the same function: a worker on a cluster node. Kind
// names a builder registered in this binary (RegisterStage, RegisterRead);
// Args are its arguments as JSON.
//
// A Spec must describe exactly the function it travels with: what the
// builder makes of Args computes what the planner's function computes.
type Spec struct {
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args,omitempty"`
}

// NewSpec encodes args as JSON into a Spec of kind.
func NewSpec(kind string, args any) (*Spec, error) {
	data, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("ops: encoding the arguments of a %s spec: %w", kind, err)
	}
	return &Spec{Kind: kind, Args: data}, nil
}

// MustSpec is NewSpec for arguments that always encode (plain structs of
// strings and numbers); it panics otherwise.
func MustSpec(kind string, args any) *Spec {
	s, err := NewSpec(kind, args)
	if err != nil {
		panic(err)
	}
	return s
}

// StageBuilder builds a one-to-one stage's function from its spec's
// arguments.
type StageBuilder func(args json.RawMessage) (BlockFn, error)

// ReadFunc is the body of a read task (ReadTask.Read).
type ReadFunc = func(tc *exec.TaskContext) ([]blocks.Block, error)

// ReadBuilder builds a read task's function from its spec's arguments.
type ReadBuilder func(args json.RawMessage) (ReadFunc, error)

// registry maps kinds to builders. Builders are registered from init
// functions, so every copy of the binary has the same ones; the mutex
// guards against registrations racing with lookups.
type registry[B any] struct {
	what string
	mu   sync.RWMutex
	m    map[string]B
}

func (r *registry[B]) register(kind string, b B) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == "" {
		panic("ops: " + r.what + " kind without a name")
	}
	if _, dup := r.m[kind]; dup {
		panic("ops: " + r.what + " kind registered twice: " + kind)
	}
	if r.m == nil {
		r.m = make(map[string]B)
	}
	r.m[kind] = b
}

func (r *registry[B]) lookup(kind string) (B, error) {
	r.mu.RLock()
	b, ok := r.m[kind]
	r.mu.RUnlock()
	if !ok {
		return b, fmt.Errorf("ops: no %s kind %q in this binary (registered: %v): run the same build everywhere", r.what, kind, r.kinds())
	}
	return b, nil
}

func (r *registry[B]) kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ActorPoolBuilder builds an actor stage's constructor (ActorPool.New)
// from its spec's arguments.
type ActorPoolBuilder func(args json.RawMessage) (func(ac *exec.ActorContext) (BlockFn, error), error)

var (
	stageKinds = &registry[StageBuilder]{what: "stage"}
	readKinds  = &registry[ReadBuilder]{what: "read"}
	actorKinds = &registry[ActorPoolBuilder]{what: "actor"}
)

// RegisterActorPool makes actor specs of kind buildable by
// BuildActorPool. Call it from an init function.
func RegisterActorPool(kind string, build ActorPoolBuilder) { actorKinds.register(kind, build) }

// BuildActorPool builds the constructor an actor spec describes.
func BuildActorPool(s Spec) (func(ac *exec.ActorContext) (BlockFn, error), error) {
	build, err := actorKinds.lookup(s.Kind)
	if err != nil {
		return nil, err
	}
	newActor, err := build(s.Args)
	if err != nil {
		return nil, fmt.Errorf("ops: building a %s actor: %w", s.Kind, err)
	}
	return newActor, nil
}

// RegisterStage makes stage specs of kind buildable by BuildStage. Call it
// from an init function; registering a kind twice panics.
func RegisterStage(kind string, build StageBuilder) { stageKinds.register(kind, build) }

// BuildStage builds the function a stage spec describes.
func BuildStage(s Spec) (BlockFn, error) {
	build, err := stageKinds.lookup(s.Kind)
	if err != nil {
		return nil, err
	}
	fn, err := build(s.Args)
	if err != nil {
		return nil, fmt.Errorf("ops: building a %s stage: %w", s.Kind, err)
	}
	return fn, nil
}

// RegisterRead makes read specs of kind buildable by BuildRead. Call it
// from an init function; registering a kind twice panics.
func RegisterRead(kind string, build ReadBuilder) { readKinds.register(kind, build) }

// BuildRead builds the function a read spec describes.
func BuildRead(s Spec) (ReadFunc, error) {
	build, err := readKinds.lookup(s.Kind)
	if err != nil {
		return nil, err
	}
	fn, err := build(s.Args)
	if err != nil {
		return nil, fmt.Errorf("ops: building a %s read: %w", s.Kind, err)
	}
	return fn, nil
}

// StageKinds lists the registered stage kinds, sorted.
func StageKinds() []string { return stageKinds.kinds() }

// ReadKinds lists the registered read kinds, sorted.
func ReadKinds() []string { return readKinds.kinds() }

// SpecErrorer is implemented by plan nodes other than OneToOne (exchanges
// over user functions) that can say why they cannot be shipped.
type SpecErrorer interface {
	// SpecError is the user's reason the node's tasks cannot ship (an
	// unregistered function), or nil.
	SpecError() error
}

// Unshippable reports the first stage of plan, sources first, whose user
// function cannot be rebuilt in another process (OneToOne.SpecErr, or a
// node's SpecError): cluster mode calls it to refuse a program before any
// task runs. Stages without a spec for other reasons are not errors: their
// tasks run in the driver.
func Unshippable(plan Node) error {
	if plan == nil {
		return nil
	}
	for _, c := range plan.Children() {
		if err := Unshippable(c); err != nil {
			return err
		}
	}
	switch n := plan.(type) {
	case *OneToOne:
		return n.SpecErr
	case *Fused:
		for _, s := range n.Stages {
			if s.SpecErr != nil {
				return s.SpecErr
			}
		}
	case SpecErrorer:
		return n.SpecError()
	}
	return nil
}
