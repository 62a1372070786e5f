package core

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-data/shoal/exec"
)

// ErrReleased is returned by Get, Wait and remote calls given a Ref that
// was released.
var ErrReleased = errors.New("core: the ref was released")

// object is one value in the runtime's object store, or the promise of
// one: a Put's value, or one result of a task or actor call. It holds one
// counted reference to its block, given back when the last holder (the
// Refs that name it, calls waiting to use it as an argument) lets go.
type object struct {
	rt exec.Runtime
	// what made it, for errors: "Put", "square", "counter.Add".
	what string

	done chan struct{} // closed once ref, inline or err is set
	ref  exec.ObjectRef
	err  error
	// inline, when set, is the value itself (encoded with codec), kept in
	// the object instead of the store: small results of tasks run in this
	// process, as Ray keeps small objects in the owner's memory.
	inline *encoded

	mu      sync.Mutex
	holders int      // Refs' handles and calls that will read it
	waiters []func() // run once done
}

func newObject(rt exec.Runtime, what string) *object {
	return &object{rt: rt, what: what, done: make(chan struct{}), holders: 1}
}

// encoded is a value encoded, and its codec.
type encoded struct {
	codec string
	data  []byte
}

// resolve sets the object's block or error, once. A block nobody holds
// any more is given back at once.
func (o *object) resolve(ref exec.ObjectRef, err error) { o.settle(ref, nil, err) }

// resolveInline sets the object's value, kept in the object.
func (o *object) resolveInline(v *encoded) { o.settle(exec.ObjectRef{}, v, nil) }

func (o *object) settle(ref exec.ObjectRef, inline *encoded, err error) {
	o.mu.Lock()
	o.ref, o.inline, o.err = ref, inline, err
	close(o.done)
	waiters := o.waiters
	o.waiters = nil
	orphan := o.holders == 0 && err == nil && inline == nil
	o.mu.Unlock()
	if orphan {
		o.rt.Release(ref)
	}
	for _, w := range waiters {
		w()
	}
}

// onDone runs f once the object is resolved: now, if it is.
func (o *object) onDone(f func()) {
	o.mu.Lock()
	select {
	case <-o.done:
		o.mu.Unlock()
		f()
		return
	default:
	}
	o.waiters = append(o.waiters, f)
	o.mu.Unlock()
}

// hold adds a holder; it fails once the last holder has let go.
func (o *object) hold() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.holders == 0 {
		return false
	}
	o.holders++
	return true
}

// letGo drops a holder; the last one gives the block back.
func (o *object) letGo() {
	o.mu.Lock()
	o.holders--
	last := o.holders == 0
	var resolved bool
	select {
	case <-o.done:
		resolved = true
	default:
	}
	o.mu.Unlock()
	if last && resolved && o.err == nil && o.inline == nil {
		o.rt.Release(o.ref)
	}
}

// handle is what every copy of a Ref points to: garbage collecting it, or
// Release, lets go of the object.
type handle struct {
	obj      *object
	released atomic.Bool
}

func newHandle(o *object) *handle {
	h := &handle{obj: o}
	runtime.AddCleanup(h, func(o *object) { o.letGo() }, o)
	return h
}

func (h *handle) release() {
	if h != nil && h.released.CompareAndSwap(false, true) {
		h.obj.letGo()
	}
}

// Ref names a value of type T in the object store: one made by Put, or the
// result of a remote call, which may still be running. A Ref is a small
// value; its copies name the same object. The value lives while some Ref
// to it is reachable (or until Release) and while calls given it as an
// argument need it.
//
// The zero Ref names nothing: Get on it fails.
type Ref[T any] struct {
	h *handle
}

// Release gives the value back to the store now, instead of when the Ref
// is garbage collected. Calls already given the Ref as an argument still
// get the value; Get, Wait and new calls with this Ref (or a copy of it)
// then fail with ErrReleased. Releasing twice does nothing.
func (r Ref[T]) Release() { r.h.release() }

// String names the object for logs: what made it, and whether it is done.
func (r Ref[T]) String() string {
	if r.h == nil {
		return "Ref(nil)"
	}
	state := "pending"
	select {
	case <-r.h.obj.done:
		state = "ready"
		if r.h.obj.err != nil {
			state = "failed"
		}
	default:
	}
	return fmt.Sprintf("Ref[%v](%s, %s)", reflect.TypeFor[T](), r.h.obj.what, state)
}

// arg makes Ref an Arg.
func (r Ref[T]) arg(*T) argument { return argument{ref: r.h} }

// hold takes a hold on the object r names, for the caller to let go of,
// or says why it cannot be used.
func (r Ref[T]) hold() (*object, error) { return r.h.hold() }

func (h *handle) hold() (*object, error) {
	if h == nil {
		return nil, errors.New("core: the zero Ref names no value")
	}
	if h.released.Load() || !h.obj.hold() {
		return nil, ErrReleased
	}
	// The cleanup must not run between the check and the hold.
	runtime.KeepAlive(h)
	return h.obj, nil
}

// Put stores a copy of v in the object store of ctx's runtime (see
// WithRuntime) and returns a Ref to it. Changing v afterwards does not
// change the stored value.
func Put[T any](ctx context.Context, v T) (Ref[T], error) {
	rt := runtimeOf(ctx)
	ref, err := putValue(rt, reflect.ValueOf(&v).Elem(), "Put")
	if err != nil {
		return Ref[T]{}, fmt.Errorf("core.Put: %w", err)
	}
	o := newObject(rt, "Put")
	o.resolve(ref, nil)
	return Ref[T]{h: newHandle(o)}, nil
}

func putValue(rt exec.Runtime, v reflect.Value, producer string) (exec.ObjectRef, error) {
	b, err := encodeValue(v, v.Type())
	if err != nil {
		return exec.ObjectRef{}, err
	}
	defer b.Release()
	return rt.Put(b, producer)
}

// Get waits for r's value and returns a copy of it, or the error of the
// call that was to make it (a *TaskError naming the function). It gives
// up when ctx ends.
func Get[T any](ctx context.Context, r Ref[T]) (T, error) {
	var zero T
	o, err := r.hold()
	if err != nil {
		return zero, err
	}
	defer o.letGo()
	select {
	case <-o.done:
	case <-ctx.Done():
		return zero, fmt.Errorf("core.Get(%s): %w", o.what, context.Cause(ctx))
	}
	if o.err != nil {
		return zero, o.err
	}
	if o.inline != nil {
		v, err := decodeBytes(o.inline.codec, o.inline.data, reflect.TypeFor[T]())
		if err != nil {
			return zero, fmt.Errorf("core.Get(%s): %w", o.what, err)
		}
		return as[T](v), nil
	}
	b, err := o.rt.Get(ctx, o.ref)
	if err != nil {
		return zero, fmt.Errorf("core.Get(%s): %w", o.what, err)
	}
	defer b.Release()
	v, err := decodeValue(b, reflect.TypeFor[T]())
	if err != nil {
		return zero, fmt.Errorf("core.Get(%s): %w", o.what, err)
	}
	return as[T](v), nil
}

// GetAll gets every ref's value, in order; the first error ends it. On a
// cluster the values are fetched several at a time, as ray.get of a list
// does: one round trip each, overlapped.
func GetAll[T any](ctx context.Context, refs []Ref[T]) ([]T, error) {
	out := make([]T, len(refs))
	if len(refs) < 2 || !shipsTasks(runtimeOfRef(refs[0])) {
		for i, r := range refs {
			v, err := Get(ctx, r)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(getAllFetches)
	for i, r := range refs {
		g.Go(func() error {
			v, err := Get(gctx, r)
			out[i] = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// getAllFetches bounds the fetches GetAll runs at once.
const getAllFetches = 16

// runtimeOfRef is the runtime r's value lives in, nil for the zero Ref.
func runtimeOfRef[T any](r Ref[T]) exec.Runtime {
	if r.h == nil {
		return nil
	}
	return r.h.obj.rt
}

// shipsTasks reports whether rt runs tasks in other processes.
func shipsTasks(rt exec.Runtime) bool {
	ships, ok := rt.(interface{ ShipsTasks() bool })
	return ok && ships.ShipsTasks()
}

// Release releases every ref (see Ref.Release).
func Release[T any](refs ...Ref[T]) {
	for _, r := range refs {
		r.Release()
	}
}
