package core

import (
	"context"
	"reflect"
)

// Remote functions
//
// A remote function is a Go function registered under a name at package
// level, so that every copy of the binary (the cluster's worker processes
// run the driver's own) knows it:
//
//	var square = core.Func1("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
// Its Remote method starts a call and returns Refs to its results at once;
// Get waits for them. Arguments are Refs (the call waits for them; their
// values go from store to task without passing through the caller) or
// plain values (Value). Functions of one to three arguments have Func1,
// Func2 and Func3; any number of arguments of one type, FuncVariadic;
// several results, FuncMulti. An argument or result of any other shape
// is a struct.

// as converts a decoded argument to T (an interface type included).
func as[T any](v reflect.Value) T {
	var t T
	reflect.ValueOf(&t).Elem().Set(v)
	return t
}

func result[R any](r R, err error) ([]reflect.Value, error) {
	return []reflect.Value{reflect.ValueOf(&r).Elem()}, err
}

func one[R any](hs []*handle) Ref[R] { return Ref[R]{h: hs[0]} }

// Function0 is a registered remote function without arguments.
type Function0[R any] struct{ f *function }

// Func0 registers fn under name (see Func1).
func Func0[R any](name string, fn func(context.Context) (R, error), opts ...Option) *Function0[R] {
	return &Function0[R]{register(&function{name: name, opts: makeOptions(opts), result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, _ []reflect.Value) ([]reflect.Value, error) { return result(fn(ctx)) }})}
}

// Remote calls the function; its context is a child of ctx, cancelled
// with it.
func (f *Function0[R]) Remote(ctx context.Context) Ref[R] { return one[R](f.f.call(ctx, 1, nil)) }

// Function1 is a registered remote function of one argument.
type Function1[A, R any] struct{ f *function }

// Func1 registers fn under name, at package level (or in init), and
// returns the function to call. The name must be unique among remote
// functions; registering it twice panics, as database/sql.Register does.
// opts set what each call holds (CPUs) and its retries.
func Func1[A, R any](name string, fn func(context.Context, A) (R, error), opts ...Option) *Function1[A, R] {
	return &Function1[A, R]{register(&function{name: name, opts: makeOptions(opts),
		params: []reflect.Type{reflect.TypeFor[A]()}, result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, a []reflect.Value) ([]reflect.Value, error) {
			return result(fn(ctx, as[A](a[0])))
		}})}
}

// Remote calls the function with a (a Ref or a Value).
func (f *Function1[A, R]) Remote(ctx context.Context, a Arg[A]) Ref[R] {
	return one[R](f.f.call(ctx, 1, []argument{a.arg(nil)}))
}

// Function2 is a registered remote function of two arguments.
type Function2[A, B, R any] struct{ f *function }

// Func2 registers fn under name (see Func1).
func Func2[A, B, R any](name string, fn func(context.Context, A, B) (R, error), opts ...Option) *Function2[A, B, R] {
	return &Function2[A, B, R]{register(&function{name: name, opts: makeOptions(opts),
		params: []reflect.Type{reflect.TypeFor[A](), reflect.TypeFor[B]()}, result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, a []reflect.Value) ([]reflect.Value, error) {
			return result(fn(ctx, as[A](a[0]), as[B](a[1])))
		}})}
}

// Remote calls the function with a and b.
func (f *Function2[A, B, R]) Remote(ctx context.Context, a Arg[A], b Arg[B]) Ref[R] {
	return one[R](f.f.call(ctx, 1, []argument{a.arg(nil), b.arg(nil)}))
}

// Function3 is a registered remote function of three arguments.
type Function3[A, B, C, R any] struct{ f *function }

// Func3 registers fn under name (see Func1).
func Func3[A, B, C, R any](name string, fn func(context.Context, A, B, C) (R, error), opts ...Option) *Function3[A, B, C, R] {
	return &Function3[A, B, C, R]{register(&function{name: name, opts: makeOptions(opts),
		params: []reflect.Type{reflect.TypeFor[A](), reflect.TypeFor[B](), reflect.TypeFor[C]()}, result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, a []reflect.Value) ([]reflect.Value, error) {
			return result(fn(ctx, as[A](a[0]), as[B](a[1]), as[C](a[2])))
		}})}
}

// Remote calls the function with a, b and c.
func (f *Function3[A, B, C, R]) Remote(ctx context.Context, a Arg[A], b Arg[B], c Arg[C]) Ref[R] {
	return one[R](f.f.call(ctx, 1, []argument{a.arg(nil), b.arg(nil), c.arg(nil)}))
}

// FunctionVariadic is a registered remote function of any number of
// arguments of one type.
type FunctionVariadic[A, R any] struct{ f *function }

// FuncVariadic registers fn under name (see Func1). It takes the results
// of other calls, as many as there are, as a reduce does:
//
//	var merge = core.FuncVariadic("merge", func(ctx context.Context, parts ...map[string]int) (map[string]int, error) { ... })
//
//	merge.Remote(ctx, core.Args(parts)...)
func FuncVariadic[A, R any](name string, fn func(context.Context, ...A) (R, error), opts ...Option) *FunctionVariadic[A, R] {
	return &FunctionVariadic[A, R]{register(&function{name: name, opts: makeOptions(opts),
		variadic: reflect.TypeFor[A](), result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, a []reflect.Value) ([]reflect.Value, error) {
			args := make([]A, len(a))
			for i, v := range a {
				args[i] = as[A](v)
			}
			return result(fn(ctx, args...))
		}})}
}

// Remote calls the function with args.
func (f *FunctionVariadic[A, R]) Remote(ctx context.Context, args ...Arg[A]) Ref[R] {
	return one[R](f.f.call(ctx, 1, arguments(args)))
}

// Args makes Refs (or Values) the arguments of a variadic call.
func Args[T any, S ~[]E, E Arg[T]](s S) []Arg[T] {
	out := make([]Arg[T], len(s))
	for i, a := range s {
		out[i] = a
	}
	return out
}

func arguments[A any](args []Arg[A]) []argument {
	out := make([]argument, len(args))
	for i, a := range args {
		out[i] = a.arg(nil)
	}
	return out
}

// FunctionMulti is a registered remote function of one argument with
// several results, each its own object (Ray's num_returns).
type FunctionMulti[A, R any] struct{ f *function }

// FuncMulti registers fn under name (see Func1). fn returns as many
// results as the call asks for, each stored as its own object, so that
// each can go to a different consumer: the map side of a shuffle.
func FuncMulti[A, R any](name string, fn func(context.Context, A) ([]R, error), opts ...Option) *FunctionMulti[A, R] {
	return &FunctionMulti[A, R]{register(&function{name: name, opts: makeOptions(opts), multi: true,
		params: []reflect.Type{reflect.TypeFor[A]()}, result: reflect.TypeFor[R](),
		invoke: func(ctx context.Context, a []reflect.Value) ([]reflect.Value, error) {
			rs, err := fn(ctx, as[A](a[0]))
			return []reflect.Value{reflect.ValueOf(rs)}, err
		}})}
}

// Remote calls the function with a, for n results; a call whose function
// returns another number of results fails.
func (f *FunctionMulti[A, R]) Remote(ctx context.Context, n int, a Arg[A]) []Ref[R] {
	hs := f.f.call(ctx, max(n, 0), []argument{a.arg(nil)})
	refs := make([]Ref[R], len(hs))
	for i, h := range hs {
		refs[i] = Ref[R]{h: h}
	}
	return refs
}
