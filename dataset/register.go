package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/ops"
)

// Shipping functions to other processes
//
// On a cluster, tasks run in worker processes that run the driver's own
// binary. A Go function value cannot be sent to them, so a transform's
// function travels by name: Register gives a function a name at package
// level (or in init), which every copy of the binary runs, and a worker
// looks the name up in its own registry. Closures made from one function
// literal share their code, so what they captured cannot be told apart or
// sent; to give a function state, register a factory that makes the
// function from arguments that travel as JSON (RegisterFactory), and pass
// Factory.Bind(args) to the transform.
//
// A transform over a function that is not registered still runs locally,
// but it cannot run on a cluster: CheckShippable names it.
//
// Tasks with specs: reads of Range and of Parquet, CSV, JSON, text and
// binary files (see formats.ReadKind for which storage); Map, FlatMap,
// Filter, MapBatches (all its options), AddColumn and MapGroups over
// registered or bound functions; Where (predicates built with Col, And,
// Or), SelectColumns, DropColumns, RenameColumns; the partial
// aggregations of Sum, Min, Max, Mean and Std; RandomShuffle,
// Repartition with and without Shuffle, RandomizeBlockOrder, Sort,
// GroupBy aggregations and global Aggregate, Join and Zip; the actors of
// MapBatchesWithActors over a registered (or factory-made) constructor,
// which are placed on nodes with the CPUs and GPUs they ask for.
//
// Built-in stages that have no spec run their tasks in the driver, which
// is always legal and never an error: reads of FromItems, FromRecords,
// FromStructs and of a user's Datasource (their data lives in the
// driver); S3 reads with explicit keys or a custom HTTP client, and reads
// through a custom FileSystem; CSV and JSON reads with a BadRows counter;
// Where over an Expr implemented outside package ops; AggregateFunc (its
// functions come as a struct); the tasks of Write to your own Datasink
// (WriteParquet, WriteCSV and WriteJSON write their files on the nodes,
// with the same exceptions as reads; their commit runs in the driver).
// Limits, unions and materialized inputs run no tasks.

// regEntry is a registered function or factory.
type regEntry struct {
	name string
	// fn and closure are a registered function and its closure's address,
	// which tells the registered value apart from other closures of the
	// same code.
	fn      reflect.Value
	closure unsafe.Pointer
	// build makes a factory's function from its JSON arguments.
	build func(args json.RawMessage) (any, error)
}

// binding records that a closure was made by Factory.Bind: its factory and
// arguments, or why they cannot travel.
type binding struct {
	code    uintptr
	token   uint64
	factory string
	args    json.RawMessage
	err     error
}

// registry is global by design: registrations come from package-level
// code in every copy of the binary. The mutex guards it.
var registry struct {
	sync.RWMutex
	byName map[string]*regEntry
	byCode map[uintptr][]*regEntry
	bound  map[uintptr]binding // by closure address
	tokens uint64
}

// Register names fn so that a transform over it can run on a cluster: a
// worker process, running the same binary, finds fn under name. Call it
// at package level or in an init function, before building datasets:
//
//	func square(r dataset.Row) (dataset.Item, error) { ... }
//
//	func init() { dataset.Register("square", square) }
//
// fn is usually a top-level function. A closure or method value may be
// registered too, but only that very value is found: another closure of
// the same code is not (its captured state could differ); use
// RegisterFactory for functions with state. A registered function must
// not depend on state that differs between processes.
//
// Register panics if name is empty or already registered (by Register or
// RegisterFactory), or if fn is not a non-nil function, as
// database/sql.Register does.
func Register(name string, fn any) {
	if name == "" {
		panic("dataset.Register: empty name")
	}
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		panic(fmt.Sprintf("dataset.Register(%q): %T is not a non-nil function", name, fn))
	}
	addEntry(&regEntry{name: name, fn: v, closure: closureOf(v)}, v.Pointer())
}

func addEntry(e *regEntry, code uintptr) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byName[e.name]; dup {
		panic(fmt.Sprintf("dataset: %q registered twice", e.name))
	}
	if registry.byName == nil {
		registry.byName = map[string]*regEntry{}
		registry.byCode = map[uintptr][]*regEntry{}
	}
	registry.byName[e.name] = e
	if code != 0 {
		registry.byCode[code] = append(registry.byCode[code], e)
	}
}

// closureOf is the address of a func value's closure: a Go func value is a
// pointer to it (a static one for top-level functions, a heap object for
// closures with captured variables, one per evaluation of the literal).
func closureOf(v reflect.Value) unsafe.Pointer {
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return *(*unsafe.Pointer)(p.UnsafePointer())
}

// Factory makes functions of type F from arguments of type A that travel
// as JSON, so a function with state can run on a cluster: a worker
// decodes the arguments and calls the factory itself. Make one with
// RegisterFactory at package level.
type Factory[A, F any] struct {
	name string
	make func(A) F
}

// RegisterFactory registers make under name and returns the factory whose
// Bind makes the functions:
//
//	type scaleArgs struct{ K int64 }
//
//	var scale = dataset.RegisterFactory("scale", func(a scaleArgs) dataset.BatchFunc {
//		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) { ... a.K ... }
//	})
//
//	ds.MapBatches(scale.Bind(scaleArgs{K: 3}))
//
// F must be a function type a transform takes: func(Row) (Item, error)
// (Map), func(Row) ([]Item, error) (FlatMap), func(Row) (bool, error)
// (Filter), BatchFunc or its underlying type (MapBatches, MapGroups), or
// func(arrow.RecordBatch) (arrow.Array, error) (AddColumn), ColumnSetFunc
// (MapColumns), or
// ActorConstructor (MapBatchesWithActors). A must survive
// encoding/json: exported fields, no functions or channels. It panics as
// Register does, and if F is not one of those types.
func RegisterFactory[A, F any](name string, make func(A) F) *Factory[A, F] {
	if name == "" {
		panic("dataset.RegisterFactory: empty name")
	}
	if make == nil {
		panic(fmt.Sprintf("dataset.RegisterFactory(%q): nil factory", name))
	}
	var zero F
	if _, ok := wrapFunc(zero); !ok {
		panic(fmt.Sprintf("dataset.RegisterFactory(%q): %T is not a function type a transform takes", name, zero))
	}
	addEntry(&regEntry{name: name, build: func(data json.RawMessage) (any, error) {
		var a A
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("decoding the arguments of %q: %w", name, err)
		}
		return make(a), nil
	}}, 0)
	return &Factory[A, F]{name: name, make: make}
}

// Name is the name the factory was registered under.
func (f *Factory[A, F]) Name() string { return f.name }

// Bind returns the function the factory makes of args, recorded so that a
// worker can make it again. The function is made of args as they come
// back from JSON, exactly as a worker will make it, so what runs locally
// is what runs on a cluster. If args do not encode, the function is made
// of args as they are and CheckShippable reports why it cannot ship.
func (f *Factory[A, F]) Bind(args A) F {
	data, err := json.Marshal(args)
	decoded := args
	if err == nil {
		var back A
		if err = json.Unmarshal(data, &back); err == nil {
			decoded = back
		}
	}
	b := binding{factory: f.name, args: data}
	if err != nil {
		b.args, b.err = nil, fmt.Errorf("the arguments of factory %q (%T) do not travel as JSON: %w", f.name, args, err)
	}
	inner := f.make(decoded)
	w, _ := wrapFunc(inner)
	if w == nil || reflect.ValueOf(w).IsNil() {
		var zero F
		return zero
	}
	// A fresh closure per Bind, so the function value itself says which
	// binding it is, whatever the factory returned (perhaps a shared
	// top-level function).
	v := reflect.ValueOf(w)
	p := closureOf(v)
	b.code = v.Pointer()
	registry.Lock()
	registry.tokens++
	b.token = registry.tokens
	if registry.bound == nil {
		registry.bound = map[uintptr]binding{}
	}
	registry.bound[uintptr(p)] = b
	registry.Unlock()
	// Forget the binding when the closure is collected. The token keeps a
	// late cleanup from removing a newer binding at the same address.
	runtime.AddCleanup((*byte)(p), forgetBinding, bindingKey{addr: uintptr(p), token: b.token})
	return w.(F)
}

type bindingKey struct {
	addr  uintptr
	token uint64
}

func forgetBinding(k bindingKey) {
	registry.Lock()
	if cur, ok := registry.bound[k.addr]; ok && cur.token == k.token {
		delete(registry.bound, k.addr)
	}
	registry.Unlock()
}

// wrapFunc returns a new closure that calls fn, of fn's type, for the
// function types transforms take; false for other types. A nil fn gives
// a nil function of its type.
func wrapFunc(fn any) (any, bool) {
	switch f := fn.(type) {
	case func(Row) (Item, error):
		if f == nil {
			return f, true
		}
		return func(r Row) (Item, error) { return f(r) }, true
	case func(Row) ([]Item, error):
		if f == nil {
			return f, true
		}
		return func(r Row) ([]Item, error) { return f(r) }, true
	case func(Row) (bool, error):
		if f == nil {
			return f, true
		}
		return func(r Row) (bool, error) { return f(r) }, true
	case BatchFunc:
		if f == nil {
			return f, true
		}
		return BatchFunc(func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return f(b) }), true
	case func(arrow.RecordBatch) (arrow.RecordBatch, error):
		if f == nil {
			return f, true
		}
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) { return f(b) }, true
	case func(ColumnSet) (ColumnSet, error):
		if f == nil {
			return f, true
		}
		return func(c ColumnSet) (ColumnSet, error) { return f(c) }, true
	case func(arrow.RecordBatch) (arrow.Array, error):
		if f == nil {
			return f, true
		}
		return func(b arrow.RecordBatch) (arrow.Array, error) { return f(b) }, true
	case ActorConstructor:
		if f == nil {
			return f, true
		}
		return ActorConstructor(func(ac *ActorContext) (BatchFunc, error) { return f(ac) }), true
	case func(*ActorContext) (BatchFunc, error):
		if f == nil {
			return f, true
		}
		return func(ac *ActorContext) (BatchFunc, error) { return f(ac) }, true
	}
	return nil, false
}

// funcRef names a function in a spec: a registered function by name, or a
// factory and its arguments.
type funcRef struct {
	Name    string          `json:"name,omitempty"`
	Factory string          `json:"factory,omitempty"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// errNotShippable says a function cannot be named in a spec; the caller
// adds the stage.
var errNotShippable = errors.New("not shippable")

// refOf finds how fn is registered, or says why it is not, as the end of
// a sentence: "the function is not registered; call ...".
func refOf(fn any) (funcRef, error) {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return funcRef{}, fmt.Errorf("%w: no function", errNotShippable)
	}
	code, p := v.Pointer(), closureOf(v)
	registry.RLock()
	b, isBound := registry.bound[uintptr(p)]
	entries := registry.byCode[code]
	registry.RUnlock()
	if isBound && b.code == code {
		if b.err != nil {
			return funcRef{}, fmt.Errorf("%w: %w", errNotShippable, b.err)
		}
		return funcRef{Factory: b.factory, Args: b.args}, nil
	}
	for _, e := range entries {
		if e.closure == p {
			return funcRef{Name: e.name}, nil
		}
	}
	name := ops.FuncName(fn)
	if len(entries) > 0 {
		return funcRef{}, fmt.Errorf("%w: %s is registered as %q, but this is another closure of the same code, whose captured state cannot travel; "+
			"make it with a factory (dataset.RegisterFactory) and Bind its state", errNotShippable, name, entries[0].name)
	}
	if short, ok := topLevelName(name); ok {
		return funcRef{}, fmt.Errorf("%w: the function is not registered; call dataset.Register(%q, %s) at package level", errNotShippable, short, short)
	}
	return funcRef{}, fmt.Errorf("%w: the function is not registered, and it is a closure or method value (%s): "+
		"register a top-level function with dataset.Register, or make it with a factory (dataset.RegisterFactory) and Bind its state",
		errNotShippable, name)
}

// topLevelName is the identifier of a top-level function named "pkg.fn";
// false for closures ("pkg.f.func1"), methods and method values.
func topLevelName(full string) (string, bool) {
	i := strings.LastIndex(full, ".")
	if i < 0 {
		return "", false
	}
	pkg, name := full[:i], full[i+1:]
	if strings.ContainsAny(pkg, ".()*[]") || strings.ContainsAny(name, "-[]") || name == "" {
		return "", false
	}
	return name, true
}

// funcLabel names fn in plans: a bound factory by its name, other
// functions by their Go name.
func funcLabel(fn any) string {
	v := reflect.ValueOf(fn)
	if v.IsValid() && v.Kind() == reflect.Func && !v.IsNil() {
		registry.RLock()
		b, ok := registry.bound[uintptr(closureOf(v))]
		registry.RUnlock()
		if ok && b.code == v.Pointer() {
			return b.factory
		}
	}
	return ops.FuncName(fn)
}

// lookupFunc makes the function ref names, of type F.
func lookupFunc[F any](ref funcRef) (F, error) {
	var zero F
	name := ref.Name
	if name == "" {
		name = ref.Factory
	}
	registry.RLock()
	e, ok := registry.byName[name]
	registry.RUnlock()
	if !ok {
		return zero, fmt.Errorf("no function %q is registered in this binary: register it at package level, in every process", name)
	}
	var v reflect.Value
	switch {
	case ref.Factory != "":
		if e.build == nil {
			return zero, fmt.Errorf("%q is a function, not a factory", name)
		}
		fn, err := e.build(ref.Args)
		if err != nil {
			return zero, err
		}
		v = reflect.ValueOf(fn)
	default:
		if e.build != nil {
			return zero, fmt.Errorf("%q is a factory, not a function", name)
		}
		v = e.fn
	}
	t := reflect.TypeFor[F]()
	if !v.IsValid() || !v.Type().ConvertibleTo(t) {
		return zero, fmt.Errorf("%q is a %s, not a %s", name, typeName(v), t)
	}
	if v.Kind() == reflect.Func && v.IsNil() {
		return zero, fmt.Errorf("%q made a nil function", name)
	}
	return v.Convert(t).Interface().(F), nil
}

func typeName(v reflect.Value) string {
	if !v.IsValid() {
		return "nil"
	}
	return v.Type().String()
}

// CheckShippable reports whether every task of d's plan that runs a user's
// function can run on a cluster: it returns an error naming the first
// stage whose function is not registered (see Register and
// RegisterFactory), or the plan's own error. Cluster mode calls it to
// refuse a program before any task runs. Built-in stages without a spec
// are not errors: their tasks run in the driver.
func CheckShippable(d *Dataset) error {
	if d == nil {
		return errors.New("dataset.CheckShippable: nil dataset")
	}
	if d.err != nil {
		return d.err
	}
	return ops.Unshippable(d.plan)
}

// unshippable is the error a stage over an unregistered function records.
func unshippable(label string, err error) error {
	return &ShipError{Stage: label, Reason: strings.TrimPrefix(err.Error(), errNotShippable.Error()+": ")}
}

// ShipError says why a stage cannot run on a cluster.
type ShipError struct {
	// Stage is the stage's label, as plans show it: "MapBatches(main.square)".
	Stage string
	// Reason says why and what to do.
	Reason string
}

func (e *ShipError) Error() string {
	return "dataset: " + e.Stage + " cannot run on the cluster: " + e.Reason
}
