package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Arg is an argument of a remote call: a Ref (the call waits for its value,
// which is not copied through the caller) or a plain value (Value).
type Arg[T any] interface {
	arg(*T) argument // the *T makes a Ref[int] no Arg[string]
}

type argument struct {
	ref   *handle       // a Ref's
	value reflect.Value // a Value's
	// pos numbers the argument among the call's, from 1, for errors.
	pos int
	// codec and data, when data is not nil, are value encoded.
	codec string
	data  []byte
}

type valueArg[T any] struct{ v T }

func (a valueArg[T]) arg(*T) argument { return argument{value: reflect.ValueOf(&a.v).Elem()} }

// Value makes v an argument of a remote call. It is copied into the object
// store when the call is made.
func Value[T any](v T) Arg[T] { return valueArg[T]{v} }

// TaskError is the error of a remote call that failed: its function (or
// actor method) returned an error or panicked, an argument could not be
// made, or the call was cancelled. Err is what the function returned, an
// *exec.PanicError for a panic (its Stack says where), or the argument's
// error.
type TaskError struct {
	// Func is the function's registered name, or actor.Method.
	Func string
	Err  error
}

func (e *TaskError) Error() string { return "core: " + e.Func + ": " + e.Err.Error() }
func (e *TaskError) Unwrap() error { return e.Err }

// taskError wraps err, the runtime's report of a failed call.
func taskError(name string, err error) error {
	if te, ok := err.(*exec.TaskError); ok { // its operator is ours, its block index means nothing here
		err = te.Err
	}
	return &TaskError{Func: name, Err: err}
}

// function is a registered remote function, whatever its signature: the
// typed wrappers (Function1 and the others) decode arguments and encode
// results around invoke.
type function struct {
	name string
	opts options
	// params are the argument types; variadic, when not nil, is the type of
	// every argument after them.
	params   []reflect.Type
	variadic reflect.Type
	result   reflect.Type
	// multi: invoke returns one slice whose elements are the results.
	multi  bool
	invoke func(ctx context.Context, args []reflect.Value) ([]reflect.Value, error)
	calls  atomic.Int64
}

// taskKindPrefix names core's task kinds in exec's registry.
const taskKindPrefix = "core/"

func register(f *function) *function {
	if f.name == "" {
		panic("core: a remote function needs a name")
	}
	// exec's registry is the one workers build from; it refuses a name
	// registered twice.
	exec.RegisterTaskKind(taskKindPrefix+f.name, func(args []byte) (exec.RunFunc, error) {
		var cs callSpec
		if err := json.Unmarshal(args, &cs); err != nil {
			return nil, fmt.Errorf("core: %s: a call's spec: %w", f.name, err)
		}
		return f.run(cs), nil
	})
	return f
}

// inlineLimit bounds the encoded size of a plain argument carried in the
// call's spec, as Ray inlines small arguments: a call that is run again
// (its result was lost with a node) needs its inline arguments to be
// there, and a stored argument that nothing else holds is gone once the
// call ends. Larger values are stored as objects.
const inlineLimit = 64 << 10

// callSpec is what a call's task spec carries: the number of results and
// where each argument comes from.
type callSpec struct {
	Returns int       `json:"n"`
	Args    []specArg `json:"a,omitempty"`
}

// specArg is an argument carried inline (Codec and Data) or the task's
// input numbered Input.
type specArg struct {
	Codec string `json:"c,omitempty"`
	Data  []byte `json:"d,omitempty"`
	Input int    `json:"i,omitempty"`
}

// paramType is the type of argument i.
func (f *function) paramType(i int) reflect.Type {
	if i < len(f.params) {
		return f.params[i]
	}
	return f.variadic
}

// run is the task body: decode the arguments, call, encode the results
// as blocks.
func (f *function) run(cs callSpec) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		results, err := f.execute(tc, cs, in)
		if err != nil {
			return nil, err
		}
		return encodeResults(results, f.result)
	}
}

// runKeeping is run for a task run in this process: results of up to
// inlineLimit bytes go to kept (by position) instead of the store; the
// larger ones are the task's outputs, in order.
func (f *function) runKeeping(cs callSpec, kept []encoded) exec.RunFunc {
	return func(tc *exec.TaskContext, in []blocks.Block) ([]blocks.Block, error) {
		results, err := f.execute(tc, cs, in)
		if err != nil {
			return nil, err
		}
		var large []reflect.Value
		for i, r := range results {
			codec, data, err := encodeBytes(r, f.result)
			if err != nil {
				return nil, fmt.Errorf("result %d: %w", i+1, err)
			}
			kept[i] = encoded{} // a retried attempt's
			if len(data) <= inlineLimit {
				kept[i] = encoded{codec, data}
			} else {
				large = append(large, r)
			}
		}
		return encodeResults(large, f.result)
	}
}

// execute decodes the arguments, calls the function and checks the
// count of its results.
func (f *function) execute(ctx context.Context, cs callSpec, in []blocks.Block) ([]reflect.Value, error) {
	args := make([]reflect.Value, len(cs.Args))
	for i, a := range cs.Args {
		var v reflect.Value
		var err error
		switch {
		case a.Codec != "":
			v, err = decodeBytes(a.Codec, a.Data, f.paramType(i))
		case a.Input < len(in):
			v, err = decodeValue(in[a.Input], f.paramType(i))
		default:
			err = fmt.Errorf("input %d of %d", a.Input, len(in))
		}
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		args[i] = v
	}
	results, err := f.invoke(ctx, args)
	if err != nil {
		return nil, err
	}
	if f.multi {
		results = splitResults(results[0])
		if len(results) != cs.Returns {
			return nil, fmt.Errorf("returned %d results, the call asked for %d", len(results), cs.Returns)
		}
	}
	return results, nil
}

func splitResults(slice reflect.Value) []reflect.Value {
	out := make([]reflect.Value, slice.Len())
	for i := range out {
		out[i] = slice.Index(i)
	}
	return out
}

func encodeResults(results []reflect.Value, t reflect.Type) ([]blocks.Block, error) {
	outs := make([]blocks.Block, 0, len(results))
	for i, r := range results {
		b, err := encodeValue(r, t)
		if err != nil {
			for _, b := range outs {
				b.Release()
			}
			return nil, fmt.Errorf("result %d: %w", i+1, err)
		}
		outs = append(outs, b)
	}
	return outs, nil
}

// call submits one call of f with args for nret results and returns their
// handles at once; the call runs when every Ref argument is ready.
func (f *function) call(ctx context.Context, nret int, args []argument) []*handle {
	rt := runtimeOf(ctx)
	outs := newResults(rt, f.name, nret)
	cs := callSpec{Returns: nret, Args: make([]specArg, len(args))}
	var stored []argument // those not inline
	for i, a := range args {
		a.pos = i + 1
		if a.ref == nil {
			codec, data, err := encodeBytes(a.value, a.value.Type())
			if err != nil {
				failAll(outs, nil, &TaskError{Func: f.name, Err: fmt.Errorf("argument %d: %w", a.pos, err)})
				return handles(outs)
			}
			if len(data) <= inlineLimit {
				cs.Args[i] = specArg{Codec: codec, Data: data}
				continue
			}
			a.codec, a.data = codec, data
		}
		cs.Args[i].Input = len(stored)
		stored = append(stored, a)
	}
	inputs, ok := holdArguments(rt, f.name, stored, outs)
	if !ok {
		return handles(outs)
	}
	task := exec.Task{Operator: f.name, Index: int(f.calls.Add(1) - 1),
		MaxRetries: f.opts.retries, CPUs: f.opts.taskCPUs()}
	ships := shipsTasks(rt)
	if ships {
		// The task may run elsewhere: it needs the call as data, and its
		// results go to the store.
		specArgs, err := json.Marshal(cs)
		if err != nil {
			failAll(outs, inputs, &TaskError{Func: f.name, Err: err})
			return handles(outs)
		}
		task.Spec = &exec.TaskSpec{Kind: taskKindPrefix + f.name, Args: specArgs}
	}
	whenReady(stored, inputs, func(refs []exec.ObjectRef, err error) {
		if err != nil {
			failAll(outs, inputs, &TaskError{Func: f.name, Err: err})
			return
		}
		var kept []encoded // results kept out of the store, by position
		if ships {
			task.Inputs, task.Run = refs, f.run(cs)
		} else {
			// Arguments kept in their objects join the inline ones; the
			// rest are the task's inputs.
			for i, a := range cs.Args {
				if a.Codec != "" {
					continue
				}
				if in := inputs[a.Input]; in.inline != nil {
					cs.Args[i] = specArg{Codec: in.inline.codec, Data: in.inline.data}
				} else {
					cs.Args[i].Input = len(task.Inputs)
					task.Inputs = append(task.Inputs, refs[a.Input])
				}
			}
			kept = make([]encoded, nret)
			task.Run = f.runKeeping(cs, kept)
		}
		rt.Submit(ctx, task, func(res exec.TaskResult) { deliver(outs, inputs, kept, f.name, res) })
	})
	return handles(outs)
}

func newResults(rt exec.Runtime, what string, n int) []*object {
	outs := make([]*object, n)
	for i := range outs {
		outs[i] = newObject(rt, what)
	}
	return outs
}

func handles(objs []*object) []*handle {
	hs := make([]*handle, len(objs))
	for i, o := range objs {
		hs[i] = newHandle(o)
	}
	return hs
}

// holdArguments holds each Ref argument's object and stores each plain
// value, for the call to let go of when it ends. If one cannot be had,
// the call's results fail and it reports false.
func holdArguments(rt exec.Runtime, what string, args []argument, outs []*object) ([]*object, bool) {
	inputs := make([]*object, 0, len(args))
	for i, a := range args {
		var o *object
		var err error
		if a.ref != nil {
			if o, err = a.ref.hold(); err == nil && o.rt != rt {
				o.letGo()
				err = errors.New("the Ref belongs to another runtime")
			}
		} else {
			var ref exec.ObjectRef
			if ref, err = putEncoded(rt, a, what); err == nil {
				o = newObject(rt, what)
				o.resolve(ref, nil)
			}
		}
		if err != nil {
			failAll(outs, inputs, &TaskError{Func: what, Err: fmt.Errorf("argument %d: %w", argPos(args, i), err)})
			return nil, false
		}
		inputs = append(inputs, o)
	}
	return inputs, true
}

// argPos numbers args[i] among its call's arguments.
func argPos(args []argument, i int) int {
	if args[i].pos > 0 {
		return args[i].pos
	}
	return i + 1
}

// putEncoded stores a plain argument, encoded already or not.
func putEncoded(rt exec.Runtime, a argument, producer string) (exec.ObjectRef, error) {
	if a.data == nil {
		return putValue(rt, a.value, producer)
	}
	b := valueBlock(a.codec, a.data)
	defer b.Release()
	return rt.Put(b, producer)
}

// whenReady calls then once every input (made of args) is resolved, with
// their blocks or the first failed input's error.
func whenReady(args []argument, inputs []*object, then func([]exec.ObjectRef, error)) {
	var pending atomic.Int64
	pending.Store(int64(len(inputs)) + 1)
	ready := func() {
		if pending.Add(-1) != 0 {
			return
		}
		refs := make([]exec.ObjectRef, len(inputs))
		for i, o := range inputs {
			if o.err != nil {
				then(nil, fmt.Errorf("argument %d: %w", argPos(args, i), o.err))
				return
			}
			refs[i] = o.ref
		}
		then(refs, nil)
	}
	for _, o := range inputs {
		o.onDone(ready)
	}
	ready()
}

// deliver resolves a call's results from the runtime's report, or from
// kept where a result was kept out of the store, and lets go of its inputs.
func deliver(outs, inputs []*object, kept []encoded, what string, res exec.TaskResult) {
	stored := len(outs)
	if res.Err == nil && kept != nil {
		stored = 0
		for _, k := range kept {
			if k.codec == "" {
				stored++
			}
		}
	}
	if res.Err == nil && len(res.Outputs) != stored {
		for _, r := range res.Outputs {
			outs[0].rt.Release(r)
		}
		res.Err = fmt.Errorf("made %d results, %d expected", len(res.Outputs), stored)
	}
	if res.Err != nil {
		failAll(outs, inputs, taskError(what, res.Err))
		return
	}
	for _, o := range inputs {
		o.letGo()
	}
	next := 0
	for i, o := range outs {
		if kept != nil && kept[i].codec != "" {
			o.resolveInline(&kept[i])
			continue
		}
		o.resolve(res.Outputs[next], nil)
		next++
	}
}

func failAll(outs, inputs []*object, err error) {
	for _, o := range inputs {
		o.letGo()
	}
	for _, o := range outs {
		o.resolve(exec.ObjectRef{}, err)
	}
}
