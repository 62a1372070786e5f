package core

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Actors
//
// An actor is a value of a Go type T that lives in one worker (a goroutine
// embedded, a worker process on a cluster node) and whose exported
// methods are called remotely, one call at a time, in the order each
// caller made them, so its state needs no locks. Its type is registered
// at package level with its constructor:
//
//	type Counter struct{ n int }
//
//	func (c *Counter) Add(ctx context.Context, k int) (int, error) { c.n += k; return c.n, nil }
//
//	var counters = core.RegisterActor("counter", func(ctx context.Context, start int) (*Counter, error) {
//		return &Counter{n: start}, nil
//	})
//
//	c, err := counters.New(ctx, 0)
//	ref := core.Call1(ctx, c, (*Counter).Add, core.Value(5))
//
// A method is named by its method expression, (*Counter).Add, so calls
// are checked by the compiler. Methods take a context first, then zero to
// two arguments, and return one value and an error.

// actorKindPrefix names core's actor kinds in exec's registry.
const actorKindPrefix = "core.actor/"

// ErrActorStopped is the error of a call made on an actor after Stop.
var ErrActorStopped = errors.New("core: the actor was stopped")

type method struct {
	name   string
	fn     reflect.Value // the method expression: receiver first
	params []reflect.Type
	result reflect.Type
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// actorClass is a registered actor type.
type actorClass struct {
	name    string
	opts    options
	argType reflect.Type
	newFn   func(ctx context.Context, args reflect.Value) (reflect.Value, error)
	methods map[string]*method
	byCode  map[uintptr]*method
	actors  atomic.Int64
}

// methodsOf finds t's exported methods that can be called remotely.
func methodsOf(t reflect.Type) (byName map[string]*method, byCode map[uintptr]*method) {
	byName, byCode = map[string]*method{}, map[uintptr]*method{}
	for i := range t.NumMethod() {
		m := t.Method(i)
		ft := m.Type // receiver first
		if ft.NumIn() < 2 || ft.In(1) != contextType || ft.IsVariadic() || ft.NumOut() != 2 || ft.Out(1) != errorType {
			continue
		}
		me := &method{name: m.Name, fn: m.Func, result: ft.Out(0)}
		for j := 2; j < ft.NumIn(); j++ {
			me.params = append(me.params, ft.In(j))
		}
		byName[m.Name] = me
		byCode[m.Func.Pointer()] = me
	}
	return byName, byCode
}

// ActorClass is a registered actor type T whose constructor takes A.
type ActorClass[A, T any] struct{ c *actorClass }

// RegisterActor registers the actor type T, made by newActor from
// arguments of type A (use struct{} for none), under name, at package
// level or in init; registering a name twice panics. opts set what each
// actor holds (CPUs, GPUs, Memory) and where it may run (Labels). The
// constructor's context carries the actor's GPUs (ActorGPUs) and lives
// as long as the actor.
func RegisterActor[A, T any](name string, newActor func(ctx context.Context, args A) (T, error), opts ...Option) *ActorClass[A, T] {
	if name == "" {
		panic("core: an actor type needs a name")
	}
	c := &actorClass{name: name, opts: makeOptions(opts), argType: reflect.TypeFor[A](),
		newFn: func(ctx context.Context, args reflect.Value) (reflect.Value, error) {
			t, err := newActor(ctx, as[A](args))
			return reflect.ValueOf(&t).Elem(), err
		}}
	c.methods, c.byCode = methodsOf(reflect.TypeFor[T]())
	exec.RegisterActorKind(actorKindPrefix+name, func(args []byte) (func(*exec.ActorContext) (exec.ActorFunc, error), error) {
		return c.constructor(args), nil
	})
	return &ActorClass[A, T]{c: c}
}

type actorContextKey struct{}

// ActorGPUs are the GPUs (CUDA_VISIBLE_DEVICES-style IDs) the actor whose
// constructor or method got ctx holds; nil elsewhere.
func ActorGPUs(ctx context.Context) []int {
	ac, _ := ctx.Value(actorContextKey{}).(*exec.ActorContext)
	if ac == nil {
		return nil
	}
	return ac.GPUIDs
}

// constructor builds the actor's state from its gob-encoded arguments and
// returns the function every call runs: it picks the method the call's
// operator ("class.Method") names.
func (c *actorClass) constructor(args []byte) func(*exec.ActorContext) (exec.ActorFunc, error) {
	return func(ac *exec.ActorContext) (exec.ActorFunc, error) {
		a, err := decodeBytes(codecGob, args, c.argType)
		if err != nil {
			return nil, fmt.Errorf("core: actor %s: its arguments: %w", c.name, err)
		}
		ctx := context.WithValue(ac, actorContextKey{}, ac)
		self, err := c.newFn(ctx, a)
		if err != nil {
			return nil, err
		}
		return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
			m := c.methods[strings.TrimPrefix(tc.Operator, c.name+".")]
			if m == nil {
				return nil, fmt.Errorf("%s has no method a call can name", tc.Operator)
			}
			if len(in) != len(m.params) {
				return nil, fmt.Errorf("%d arguments for %d parameters", len(in), len(m.params))
			}
			callArgs := []reflect.Value{self, reflect.ValueOf(context.WithValue(tc, actorContextKey{}, ac))}
			for i, b := range in {
				v, err := decodeValue(b, m.params[i])
				if err != nil {
					return nil, fmt.Errorf("argument %d: %w", i+1, err)
				}
				callArgs = append(callArgs, v)
			}
			out := m.fn.Call(callArgs)
			if err, _ := out[1].Interface().(error); err != nil {
				return nil, err
			}
			return encodeResults(out[:1], m.result)
		}, nil
	}
}

// Actor is a running actor of type T. Stop it when done; one that is
// garbage collected is stopped too.
type Actor[T any] struct{ a *actorHandle }

// New starts an actor made of args (with the class's options, then
// opts) and returns once its constructor has run: its error, or a
// *exec.ResourceError when no worker has the resources it asks for.
func (c *ActorClass[A, T]) New(ctx context.Context, args A, opts ...Option) (*Actor[T], error) {
	o := c.c.opts
	for _, f := range opts {
		f(&o)
	}
	buf, err := gobEncode(reflect.ValueOf(&args).Elem())
	if err != nil {
		return nil, fmt.Errorf("core: actor %s: its arguments: %w", c.c.name, err)
	}
	rt := runtimeOf(ctx)
	spec := exec.ActorSpec{Operator: c.c.name, Index: int(c.c.actors.Add(1) - 1), CPUs: o.cpus, GPUs: o.gpus, Memory: o.memory,
		Labels: o.labels, New: c.c.constructor(buf), Spec: &exec.TaskSpec{Kind: actorKindPrefix + c.c.name, Args: buf}}
	type started struct {
		a   exec.Actor
		err error
	}
	ch := make(chan started, 1)
	rt.StartActor(ctx, spec, func(a exec.Actor, err error) { ch <- started{a, err} })
	select {
	case s := <-ch:
		if s.err != nil {
			return nil, fmt.Errorf("core: starting actor %s: %w", c.c.name, s.err)
		}
		h := &actorHandle{class: c.c, rt: rt, actor: s.a, retries: o.retries}
		a := &Actor[T]{a: h}
		runtime.AddCleanup(a, func(h *actorHandle) { h.stop() }, h)
		return a, nil
	case <-ctx.Done():
		// The start goes on; stop the actor when it comes.
		go func() {
			if s := <-ch; s.err == nil {
				s.a.Stop()
			}
		}()
		return nil, fmt.Errorf("core: starting actor %s: %w", c.c.name, context.Cause(ctx))
	}
}

// Stop ends the actor once the calls already made have run (those still
// waiting for their arguments included); calls made after fail with
// ErrActorStopped. It waits until the actor has ended, or ctx ends.
func (a *Actor[T]) Stop(ctx context.Context) error {
	a.a.stop()
	select {
	case <-a.a.actor.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("core: stopping actor %s: %w", a.a.class.name, context.Cause(ctx))
	}
}

// actorHandle forwards calls to the runtime's actor in the order they
// were made, each once its arguments are ready.
type actorHandle struct {
	class   *actorClass
	rt      exec.Runtime
	actor   exec.Actor
	retries int
	calls   atomic.Int64

	mu       sync.Mutex
	queue    []*actorCall // made, not yet forwarded
	pumping  bool
	stopping bool
	stopped  bool // actor.Stop called
}

type actorCall struct {
	ctx     context.Context
	op      string
	index   int
	inputs  []*object
	outs    []*object
	ready   bool
	refs    []exec.ObjectRef
	argsErr error
}

func (h *actorHandle) call(ctx context.Context, m *method, args []argument) []*handle {
	op := h.class.name + "." + m.name
	outs := newResults(h.rt, op, 1)
	inputs, ok := holdArguments(h.rt, op, args, outs)
	if !ok {
		return handles(outs)
	}
	c := &actorCall{ctx: ctx, op: op, index: int(h.calls.Add(1) - 1), inputs: inputs, outs: outs}
	// Checked as the call is queued, so that none joins the queue once the
	// pump may have stopped the actor.
	h.mu.Lock()
	stopping := h.stopping
	if !stopping {
		h.queue = append(h.queue, c)
	}
	h.mu.Unlock()
	if stopping {
		failAll(outs, inputs, &TaskError{Func: op, Err: ErrActorStopped})
		return handles(outs)
	}
	whenReady(args, inputs, func(refs []exec.ObjectRef, err error) {
		h.mu.Lock()
		c.ready, c.refs, c.argsErr = true, refs, err
		h.mu.Unlock()
		h.pump()
	})
	return handles(outs)
}

// pump forwards the ready calls at the head of the queue, in order. One
// goroutine pumps at a time; a call that becomes ready meanwhile is seen
// by it.
func (h *actorHandle) pump() {
	h.mu.Lock()
	if h.pumping {
		h.mu.Unlock()
		return
	}
	h.pumping = true
	for len(h.queue) > 0 && h.queue[0].ready {
		c := h.queue[0]
		h.queue = h.queue[1:]
		h.mu.Unlock()
		h.forward(c)
		h.mu.Lock()
	}
	h.pumping = false
	stop := h.stopping && !h.stopped && len(h.queue) == 0
	h.stopped = h.stopped || stop
	h.mu.Unlock()
	if stop {
		h.actor.Stop()
	}
}

func (h *actorHandle) forward(c *actorCall) {
	if c.argsErr != nil {
		failAll(c.outs, c.inputs, &TaskError{Func: c.op, Err: c.argsErr})
		return
	}
	// An argument kept in its object (a small result of a task run here)
	// goes to the store for the call, which actors take their inputs from.
	var temp []exec.ObjectRef
	for i, o := range c.inputs {
		if o.inline == nil {
			continue
		}
		b := valueBlock(o.inline.codec, o.inline.data)
		ref, err := h.rt.Put(b, c.op)
		b.Release()
		if err != nil {
			releaseAll(h.rt, temp)
			failAll(c.outs, c.inputs, &TaskError{Func: c.op, Err: fmt.Errorf("argument %d: %w", i+1, err)})
			return
		}
		c.refs[i] = ref
		temp = append(temp, ref)
	}
	h.actor.Call(c.ctx, exec.ActorCall{Operator: c.op, Index: c.index, Inputs: c.refs, MaxRetries: h.retries},
		func(res exec.TaskResult) {
			releaseAll(h.rt, temp)
			deliver(c.outs, c.inputs, nil, c.op, res)
		})
}

func releaseAll(rt exec.Runtime, refs []exec.ObjectRef) {
	for _, r := range refs {
		rt.Release(r)
	}
}

func (h *actorHandle) stop() {
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
	h.pump()
}

// methodOf finds the method m names, or panics: passing a function that
// is not a method of T is a programming error, like a nil map write.
func methodOf[T any](a *Actor[T], m any) *method {
	me := a.a.class.byCode[reflect.ValueOf(m).Pointer()]
	if me == nil {
		panic(fmt.Sprintf("core: a call on actor %s got %s, which is not a method of %v with a context first and (result, error) returned (name it as a method expression: (*T).Method)",
			a.a.class.name, runtime.FuncForPC(reflect.ValueOf(m).Pointer()).Name(), reflect.TypeFor[T]()))
	}
	return me
}

// Call0 calls method m, without arguments, on actor a.
func Call0[T, R any](ctx context.Context, a *Actor[T], m func(T, context.Context) (R, error)) Ref[R] {
	return one[R](a.a.call(ctx, methodOf(a, m), nil))
}

// Call1 calls method m on actor a with x (a Ref or a Value):
//
//	core.Call1(ctx, c, (*Counter).Add, core.Value(5))
func Call1[T, A, R any](ctx context.Context, a *Actor[T], m func(T, context.Context, A) (R, error), x Arg[A]) Ref[R] {
	return one[R](a.a.call(ctx, methodOf(a, m), []argument{x.arg(nil)}))
}

// Call2 calls method m on actor a with x and y.
func Call2[T, A, B, R any](ctx context.Context, a *Actor[T], m func(T, context.Context, A, B) (R, error), x Arg[A], y Arg[B]) Ref[R] {
	return one[R](a.a.call(ctx, methodOf(a, m), []argument{x.arg(nil), y.arg(nil)}))
}
