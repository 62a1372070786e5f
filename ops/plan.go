// Package ops holds Shoal's logical plan: the operators a Dataset's
// transforms append, what can be known about their output without running
// them (schema, row count), and the optimizer rules that rewrite the plan
// before the streaming executor runs it.
//
// Nodes are immutable: rules build new trees with WithChildren, as
// DataFusion's ExecutionPlan does.
package ops

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Node is a logical operator.
type Node interface {
	// Name is a short label such as "Map(main.square)".
	Name() string
	// Children are the operator's inputs.
	Children() []Node
	// WithChildren returns a copy of the node over new inputs.
	WithChildren(children []Node) Node
	// Schema is the output schema when it is known without running anything,
	// nil otherwise.
	Schema() *arrow.Schema
	// Rows is the exact output row count when it is known without running
	// anything, -1 otherwise.
	Rows() int64
}

// Datasource produces blocks from outside the object store. Implement it to
// read a format or store that Shoal does not know.
type Datasource interface {
	// Name labels the source in plans, e.g. "Range(10000)".
	Name() string
	// Schema is the output schema, or nil if it is known only after reading.
	Schema() *arrow.Schema
	// NumRows is the exact row count, or -1 if it is not known before reading.
	NumRows() int64
	// ReadTasks splits the read into about parallelism independent tasks.
	ReadTasks(parallelism int) ([]ReadTask, error)
}

// LimitedDatasource is a Datasource that can read only its first n rows.
type LimitedDatasource interface {
	Datasource
	WithLimit(n int64) Datasource
}

// ProjectableDatasource is a Datasource that can read only some columns
// (Parquet decodes only those). The result's schema has exactly cols, in
// that order.
type ProjectableDatasource interface {
	Datasource
	WithColumns(cols []string) (Datasource, error)
}

// FilterableDatasource is a Datasource that can skip data a predicate rules
// out (files by partition value, Parquet row groups by statistics). It may
// still return rows that fail the predicate: the filter stays in the plan.
type FilterableDatasource interface {
	Datasource
	WithFilter(e Expr) Datasource
}

// RowFilterDatasource is a FilterableDatasource that can drop every row a
// predicate rules out, not only whole files and row groups (DataFusion's
// Exact filter pushdown). FiltersRows says whether it does so for e; when
// it does, the optimizer removes the filter stage above the read, and the
// source reads the predicate's columns itself whether or not its output
// keeps them (a Parquet reader can then decode a string column only the
// predicate reads as a dictionary, and compare each distinct value once).
type RowFilterDatasource interface {
	FilterableDatasource
	FiltersRows(e Expr) bool
}

// DictionaryDatasource is a Datasource that can deliver string columns
// dictionary-encoded where its files store them so (Parquet), for a
// consumer that handles such columns as their values and gains from seeing
// each distinct value once (an aggregation's group keys). The blocks then
// have dictionary types for those columns while Schema still names the
// value types.
type DictionaryDatasource interface {
	Datasource
	WithDictionaryColumns(cols []string) Datasource
}

// ReadTask reads one part of a source.
type ReadTask struct {
	// Rows and Bytes estimate the output (-1 when unknown); the executor uses
	// Bytes for backpressure before the task has run.
	Rows, Bytes int64
	// Blocks is how many blocks Read gives, when that is known before it
	// runs (0: unknown), so that NumBlocks needs no run.
	Blocks int
	// Read produces the blocks; each carries one reference for the caller.
	Read func(tc *exec.TaskContext) ([]blocks.Block, error)
	// Stream, when set, reads the same blocks as Read but hands each to
	// emit as soon as it is decoded (emit takes its reference; an error
	// from emit stops the read and is returned). A task that consumes the
	// blocks one by one (a map fused into the read) then holds one block
	// at a time instead of the whole task's.
	Stream func(tc *exec.TaskContext, emit func(blocks.Block) error) error
	// Spec, when set, describes Read as data (BuildRead builds the same
	// function), so the task may run in another process. Reads without
	// one run in the driver.
	Spec *Spec
}

// BlockFn is the body of a one-to-one operator: one block in, one block out
// (possibly empty, possibly with more rows). It must not release its input;
// the block it returns carries one reference for the caller and may be the
// input itself, retained.
type BlockFn func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error)

// Read is a leaf that reads a Datasource.
type Read struct {
	Source Datasource
	// Parallelism is the number of read tasks asked of the source.
	Parallelism int
	// CPUs each read task holds while it runs; 0 means 1 and a negative
	// value none. A fraction lets more reads that wait on I/O run at once.
	CPUs float64
	// MaxConcurrency caps the read tasks running at once; 0 means no cap
	// beyond CPUs and memory.
	MaxConcurrency int
}

// withSource is r reading from src instead, with the same settings.
func (r *Read) withSource(src Datasource) *Read {
	c := *r
	c.Source = src
	return &c
}

func (r *Read) Name() string               { return r.Source.Name() }
func (r *Read) Children() []Node           { return nil }
func (r *Read) WithChildren(_ []Node) Node { return r }
func (r *Read) Schema() *arrow.Schema      { return r.Source.Schema() }
func (r *Read) Rows() int64                { return r.Source.NumRows() }

// Refs is a leaf over blocks already in the object store (a materialized
// dataset). The node does not own the references; the Dataset that made it does.
type Refs struct {
	Refs      []exec.ObjectRef
	OutSchema *arrow.Schema
}

func (r *Refs) Name() string               { return fmt.Sprintf("Materialized(%d blocks)", len(r.Refs)) }
func (r *Refs) Children() []Node           { return nil }
func (r *Refs) WithChildren(_ []Node) Node { return r }
func (r *Refs) Schema() *arrow.Schema      { return r.OutSchema }
func (r *Refs) Rows() int64 {
	var n int64
	for _, ref := range r.Refs {
		n += ref.Rows
	}
	return n
}

// OneToOne transforms each block independently: Map, MapBatches, Filter,
// FlatMap, column edits. Consecutive ones are fused into one task.
type OneToOne struct {
	Input Node
	Label string
	Fn    BlockFn
	// BatchRows asks that each task get at least this many input rows (the
	// batch size of MapBatches); 0 takes blocks as they come.
	BatchRows int64
	// PreservesRows is true when every input row gives exactly one output row
	// in order, so a Limit may run before it.
	PreservesRows bool
	// OutSchema derives the output schema from the input's; nil when it is
	// known only by running the function.
	OutSchema func(in *arrow.Schema) (*arrow.Schema, error)
	// Predicate, when set, says the stage keeps exactly the rows where it
	// is true (Fn does that); the optimizer may push it into a source.
	Predicate Expr
	// Program, when set, says the stage computes this expression program
	// (Fn runs it); the optimizer folds its constants, merges it with the
	// programs next to it and reads only the columns it needs.
	Program Program
	// Project, when set, says the stage keeps exactly these columns in this
	// order (Fn does that); the optimizer may push it into a source.
	Project []string
	// CPUs each task of the stage holds while it runs; 0 means 1 and a
	// negative value none. Stages fuse only with stages (and reads) that
	// hold the same.
	CPUs float64
	// MaxConcurrency caps the stage's tasks running at once (0: no cap); a
	// capped stage does not fuse.
	MaxConcurrency int
	// Actors, when set, runs the stage on a pool of stateful actors instead
	// of stateless tasks; Fn is then unused. An actor stage never fuses with
	// its neighbours: it is its own operator.
	Actors *ActorPool
	// Spec, when set, describes Fn as data (BuildStage builds the same
	// function), so the stage may run in another process. A stage without
	// one runs in the driver.
	Spec *Spec
	// SpecErr, when set, says why the stage has no Spec when that is the
	// user's to fix (a function that is not registered); Unshippable
	// reports it. Nil for built-in stages that simply run in the driver.
	SpecErr error
}

// ActorPool says how an actor stage runs: the pool's size, what each actor
// holds, and the constructor that builds each actor's state.
type ActorPool struct {
	// Min actors start with the stage and are kept; up to Max run while
	// batches wait (Max 0: as many as the runtime's resources allow).
	Min, Max int
	// CPUs, GPUs and Memory (bytes) are reserved per actor.
	CPUs   float64
	GPUs   int
	Memory int64
	// Labels restrict the actors to cluster nodes with these labels.
	Labels map[string]string
	// MaxInFlight is how many batches are queued on one actor at once, so
	// the next input is ready when a call ends (default 2).
	MaxInFlight int
	// IdleTimeout is how long an actor above Min may wait for work before
	// it is stopped (default 2s).
	IdleTimeout time.Duration
	// MaxAttempts bounds how often one batch is tried on actors that die
	// under it (default 3).
	MaxAttempts int
	// New runs once per actor and returns the function batches go through.
	New func(ac *exec.ActorContext) (BlockFn, error)
	// Spec, when set, describes New as data (BuildActorPool(*Spec) builds
	// the same constructor), so a cluster runtime may place the actors on
	// nodes.
	Spec *Spec
}

func (o *OneToOne) Name() string               { return o.Label }
func (o *OneToOne) Children() []Node           { return []Node{o.Input} }
func (o *OneToOne) WithChildren(c []Node) Node { n := *o; n.Input = c[0]; return &n }
func (o *OneToOne) Schema() *arrow.Schema {
	in := o.Input.Schema()
	if in == nil || o.OutSchema == nil {
		return nil
	}
	s, err := o.OutSchema(in)
	if err != nil {
		return nil
	}
	return s
}
func (o *OneToOne) Rows() int64 {
	if o.PreservesRows {
		return o.Input.Rows()
	}
	return -1
}

// Fused is a chain of one-to-one operators run as one task per input bundle.
// Only the optimizer makes it.
type Fused struct {
	Input  Node
	Stages []*OneToOne
}

func (f *Fused) Name() string {
	names := make([]string, len(f.Stages))
	for i, s := range f.Stages {
		names[i] = s.Label
	}
	return strings.Join(names, "->")
}
func (f *Fused) Children() []Node           { return []Node{f.Input} }
func (f *Fused) WithChildren(c []Node) Node { n := *f; n.Input = c[0]; return &n }
func (f *Fused) Schema() *arrow.Schema {
	var n Node = f.Input
	for _, s := range f.Stages {
		n = s.WithChildren([]Node{n})
	}
	return n.Schema()
}
func (f *Fused) Rows() int64 {
	for _, s := range f.Stages {
		if !s.PreservesRows {
			return -1
		}
	}
	return f.Input.Rows()
}

// TaskCPUs is what one task of the chain holds: the most any stage asks.
func (f *Fused) TaskCPUs() float64 {
	c := 0.0
	for _, s := range f.Stages {
		c = max(c, TaskCPUs(s.CPUs))
	}
	return c
}

// TaskCPUs normalizes a CPUs field: 0 means 1, a negative value 0.
func TaskCPUs(c float64) float64 {
	switch {
	case c == 0:
		return 1
	case c < 0:
		return 0
	}
	return c
}

// MaxConcurrency is the tightest cap any stage of the chain sets, 0 if none.
func (f *Fused) MaxConcurrency() int {
	c := 0
	for _, s := range f.Stages {
		if s.MaxConcurrency > 0 && (c == 0 || s.MaxConcurrency < c) {
			c = s.MaxConcurrency
		}
	}
	return c
}

// HasActors reports whether the chain is an actor stage.
func (f *Fused) HasActors() bool {
	for _, s := range f.Stages {
		if s.Actors != nil {
			return true
		}
	}
	return false
}

// BatchRows is the bundle size the first stage asks for.
func (f *Fused) BatchRows() int64 { return f.Stages[0].BatchRows }

// Limit keeps the first N rows.
type Limit struct {
	Input Node
	N     int64
}

func (l *Limit) Name() string               { return fmt.Sprintf("Limit(%d)", l.N) }
func (l *Limit) Children() []Node           { return []Node{l.Input} }
func (l *Limit) WithChildren(c []Node) Node { n := *l; n.Input = c[0]; return &n }
func (l *Limit) Schema() *arrow.Schema      { return l.Input.Schema() }
func (l *Limit) Rows() int64 {
	if in := l.Input.Rows(); in >= 0 {
		return min(in, l.N)
	}
	return -1
}

// Union concatenates its inputs in order.
type Union struct {
	Inputs []Node
}

func (u *Union) Name() string               { return fmt.Sprintf("Union(%d)", len(u.Inputs)) }
func (u *Union) Children() []Node           { return u.Inputs }
func (u *Union) WithChildren(c []Node) Node { return &Union{Inputs: append([]Node(nil), c...)} }
func (u *Union) Schema() *arrow.Schema      { return u.Inputs[0].Schema() }
func (u *Union) Rows() int64 {
	var n int64
	for _, in := range u.Inputs {
		r := in.Rows()
		if r < 0 {
			return -1
		}
		n += r
	}
	return n
}

// Repartition redistributes rows into exactly N blocks of near-equal size
// by splitting and merging blocks in order, without a shuffle.
type Repartition struct {
	Input Node
	N     int
}

func (r *Repartition) Name() string               { return fmt.Sprintf("Repartition(%d)", r.N) }
func (r *Repartition) Children() []Node           { return []Node{r.Input} }
func (r *Repartition) WithChildren(c []Node) Node { n := *r; n.Input = c[0]; return &n }
func (r *Repartition) Schema() *arrow.Schema      { return r.Input.Schema() }
func (r *Repartition) Rows() int64                { return r.Input.Rows() }

// FuncName names a Go function for plans and errors, e.g. "main.square".
func FuncName(fn any) string {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "<nil>"
	}
	name := runtime.FuncForPC(v.Pointer()).Name()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// Format prints a plan as an indented tree, the root first.
func Format(n Node) string {
	var b strings.Builder
	var walk func(n Node, depth int)
	walk = func(n Node, depth int) {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", depth), n.Name())
		if s := n.Schema(); s != nil {
			fmt.Fprintf(&b, " [%s]", SchemaString(s))
		}
		b.WriteByte('\n')
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// SchemaString prints a schema on one line: "id: int64, name: utf8".
func SchemaString(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + ": " + f.Type.String()
	}
	return strings.Join(parts, ", ")
}
