package dataset

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// oneToOne appends a one-to-one operator, or records err.
func (d *Dataset) oneToOne(op *ops.OneToOne) *Dataset {
	if d.err != nil {
		return d
	}
	op.Input = d.plan
	return d.with(op)
}

// checkCancel looks at the task's context before each row, so a cancelled
// run stops inside a long block rather than after it. A non-blocking receive
// on Done costs a few nanoseconds; a row function costs far more.
func checkCancel(tc *exec.TaskContext, _ int) error {
	select {
	case <-tc.Done():
		return tc.Err()
	default:
		return nil
	}
}

// passVoid lets void blocks (no rows, no columns) through fn untouched.
func passVoid(fn ops.BlockFn) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if blocks.IsVoid(in) {
			in.Retain()
			return in, nil
		}
		return fn(tc, in)
	}
}

func nilFunc(method string) error {
	return fmt.Errorf("dataset.%s: nil function", method)
}

// Map calls fn on every row and makes a row of each result. The output
// schema is inferred from the results, as FromItems does. Prefer MapBatches
// for speed: Map builds a Go map per row.
func (d *Dataset) Map(fn func(Row) (Item, error)) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("Map"))
	}
	label := "Map(" + funcLabel(fn) + ")"
	spec, specErr := userStage(mapKind, label, fn, fnArgs{})
	return d.oneToOne(&ops.OneToOne{
		Label:         label,
		PreservesRows: true,
		Fn:            mapFn(fn),
		Spec:          spec,
		SpecErr:       specErr,
	})
}

// mapFn is Map's stage function.
func mapFn(fn func(Row) (Item, error)) ops.BlockFn {
	var hint atomic.Pointer[arrow.Schema]
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		items := make([]Item, in.NumRows())
		for i := range items {
			if err := checkCancel(tc, i); err != nil {
				return nil, err
			}
			item, err := callRow(fn, in, i)
			if err != nil {
				return nil, err
			}
			items[i] = item
		}
		return itemsBlock(tc, items, &hint)
	}
}

// callRow calls fn on row i of in; its errors, and a getter's panic over a
// missing or mistyped column (see recoverAccess), name the row.
func callRow[T any](fn func(Row) (T, error), in blocks.Block, i int) (out T, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("row %d: %w", i, err)
		}
	}()
	defer recoverAccess(&err)
	return fn(blocks.NewRow(in, i))
}

// recoverAccess, deferred around a user's function, turns a getter's panic
// over a missing or mistyped column (a *blocks.AccessError) into *err, so
// the task fails with it, naming operator and block; any other panic goes
// on to the runtime's recovery.
func recoverAccess(err *error) {
	v := recover()
	if v == nil {
		return
	}
	var access *blocks.AccessError
	if e, ok := v.(error); !ok || !errors.As(e, &access) {
		panic(v)
	}
	*err = access
}

// itemsBlock builds a block of UDF results; an empty result keeps no
// columns (a void block). Inferring a schema scans every item, so the schema
// the operator's last block had is tried first, and inference runs only
// when the items do not fit it.
func itemsBlock(tc *exec.TaskContext, items []Item, hint *atomic.Pointer[arrow.Schema]) (blocks.Block, error) {
	if len(items) == 0 {
		return blocks.FromItems(tc.Alloc, items)
	}
	if s := hint.Load(); s != nil {
		if b, err := blocks.FromItemsWithSchema(tc.Alloc, s, items); err == nil {
			return b, nil
		}
	}
	b, err := blocks.FromItems(tc.Alloc, items)
	if err == nil {
		hint.Store(b.Schema())
	}
	return b, err
}

// FlatMap calls fn on every row and makes a row of each item it returns
// (none, one or many).
func (d *Dataset) FlatMap(fn func(Row) ([]Item, error)) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("FlatMap"))
	}
	label := "FlatMap(" + funcLabel(fn) + ")"
	spec, specErr := userStage(flatMapKind, label, fn, fnArgs{})
	return d.oneToOne(&ops.OneToOne{Label: label, Fn: flatMapFn(fn), Spec: spec, SpecErr: specErr})
}

// flatMapFn is FlatMap's stage function.
func flatMapFn(fn func(Row) ([]Item, error)) ops.BlockFn {
	var hint atomic.Pointer[arrow.Schema]
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		var items []Item
		for i := range int(in.NumRows()) {
			if err := checkCancel(tc, i); err != nil {
				return nil, err
			}
			out, err := callRow(fn, in, i)
			if err != nil {
				return nil, err
			}
			items = append(items, out...)
		}
		return itemsBlock(tc, items, &hint)
	}
}

// Filter keeps the rows for which fn returns true.
func (d *Dataset) Filter(fn func(Row) (bool, error)) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("Filter"))
	}
	label := "Filter(" + funcLabel(fn) + ")"
	spec, specErr := userStage(filterKind, label, fn, fnArgs{})
	return d.oneToOne(&ops.OneToOne{Label: label, OutSchema: sameSchema, Fn: filterFn(fn), Spec: spec, SpecErr: specErr})
}

// filterFn is Filter's stage function.
func filterFn(fn func(Row) (bool, error)) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		keep := make([]int64, 0, in.NumRows())
		for i := range int(in.NumRows()) {
			if err := checkCancel(tc, i); err != nil {
				return nil, err
			}
			ok, err := callRow(fn, in, i)
			if err != nil {
				return nil, err
			}
			if ok {
				keep = append(keep, int64(i))
			}
		}
		return takeRows(tc, in, keep)
	}
}

// takeRows keeps rows at the sorted indices keep, sharing in's buffers when
// they form one contiguous run.
func takeRows(tc *exec.TaskContext, in blocks.Block, keep []int64) (blocks.Block, error) {
	n := int64(len(keep))
	if n == 0 || keep[n-1]-keep[0] == n-1 {
		var lo int64
		if n > 0 {
			lo = keep[0]
		}
		return blocks.Slice(in, lo, lo+n), nil
	}
	return blocks.Take(tc.Alloc, in, keep)
}

func sameSchema(in *arrow.Schema) (*arrow.Schema, error) { return in, nil }

// BatchFunc transforms a whole Arrow record batch at once. It must not
// release its input. Shoal releases the batch it returns, which may be the
// input itself.
type BatchFunc func(batch arrow.RecordBatch) (arrow.RecordBatch, error)

// MapBatchesOption configures MapBatches.
type MapBatchesOption func(*mapBatchesConfig)

type mapBatchesConfig struct {
	label       string
	batchSize   int64
	taskCPUs    float64
	concurrency int
	pool        ops.ActorPool
	cpusSet     bool
	actorOpts   []string // names of actor-only options given, for MapBatches' error
}

// BatchSize sets the rows per batch. Each task gathers at least this many
// rows, so every batch but the last of a task is exactly this size. The
// default, 0, passes each block whole: the fastest choice for CPU work.
func BatchSize(rows int) MapBatchesOption {
	return func(c *mapBatchesConfig) { c.batchSize = int64(rows) }
}

// StageName names the stage in plans, stats, progress and traces instead of
// the function's name: "MapBatches(<name>)".
func StageName(name string) MapBatchesOption {
	return func(c *mapBatchesConfig) { c.label = name }
}

// TaskCPUs sets the CPUs each task of a MapBatches stage holds (default 1).
// A fraction, or 0, lets more tasks that mostly wait (on a remote service,
// on I/O) run at once, as ReadCPUs does for reads. Stages with different
// CPUs per task do not fuse. For actors, see ActorCPUs.
func TaskCPUs(n float64) MapBatchesOption {
	return func(c *mapBatchesConfig) { c.taskCPUs = cpusField(n) }
}

// Concurrency caps the stage's tasks running at once (0: no cap beyond
// CPUs and memory). A capped stage does not fuse with its neighbours.
func Concurrency(n int) MapBatchesOption {
	return func(c *mapBatchesConfig) { c.concurrency = max(n, 0) }
}

// MapBatches calls fn on whole batches of rows: the vectorized transform.
func (d *Dataset) MapBatches(fn BatchFunc, opts ...MapBatchesOption) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("MapBatches"))
	}
	return d.batchStage("MapBatches", mapBatchesKind, fn, fn, opts)
}

// batchStage appends the stage of method (MapBatches, MapColumns) over the
// user's function userFn, which the spec names, run as batch.
func (d *Dataset) batchStage(method, kind string, userFn any, batch BatchFunc, opts []MapBatchesOption) *Dataset {
	if d.err != nil {
		return d
	}
	var cfg mapBatchesConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.batchSize < 0 {
		return d.withErr(fmt.Errorf("dataset.%s: negative batch size %d", method, cfg.batchSize))
	}
	if len(cfg.actorOpts) > 0 {
		return d.withErr(fmt.Errorf("dataset.%s: %s configure actors; use MapBatchesWithActors", method, strings.Join(cfg.actorOpts, ", ")))
	}
	name := cfg.label
	if name == "" {
		name = funcLabel(userFn)
	}
	// Of the options, only the batch size changes the function; the label
	// travels with the task, CPUs and concurrency are the scheduler's.
	label := method + "(" + name + ")"
	spec, specErr := userStage(kind, label, userFn, fnArgs{BatchSize: cfg.batchSize})
	return d.oneToOne(&ops.OneToOne{
		Label:          label,
		BatchRows:      cfg.batchSize,
		CPUs:           cfg.taskCPUs,
		MaxConcurrency: cfg.concurrency,
		Fn:             batchesFn(batch, cfg.batchSize),
		Spec:           spec,
		SpecErr:        specErr,
	})
}

// batchesFn calls fn on slices of exactly size rows of each input block
// (whole blocks when size is 0) and concatenates the results.
func batchesFn(fn BatchFunc, size int64) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if blocks.IsVoid(in) {
			in.Retain()
			return in, nil
		}
		if size <= 0 || in.NumRows() <= size {
			return callBatch(fn, in)
		}
		parts := blocks.Split(in, size)
		defer releaseBlocks(parts)
		outs := make([]blocks.Block, 0, len(parts))
		defer func() { releaseBlocks(outs) }()
		for _, p := range parts {
			if err := tc.Err(); err != nil {
				return nil, err
			}
			out, err := callBatch(fn, p)
			if err != nil {
				return nil, err
			}
			outs = append(outs, out)
		}
		return blocks.Concat(tc.Alloc, outs)
	}
}

func callBatch(fn BatchFunc, in blocks.Block) (blocks.Block, error) {
	out, err := fn(in)
	if err != nil {
		if out != nil && out != in {
			out.Release()
		}
		return nil, err
	}
	if out == nil {
		return nil, errors.New("batch function returned a nil batch")
	}
	if out == in {
		out.Retain()
	}
	return out, nil
}

func releaseBlocks(bs []blocks.Block) {
	for _, b := range bs {
		b.Release()
	}
}

// AddColumn computes a column from each batch and appends it (or replaces
// the column of that name). fn must return an array of the batch's length;
// Shoal releases it.
func (d *Dataset) AddColumn(name string, fn func(batch arrow.RecordBatch) (arrow.Array, error)) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return d.withErr(nilFunc("AddColumn"))
	}
	label := fmt.Sprintf("AddColumn(%s, %s)", name, funcLabel(fn))
	spec, specErr := userStage(addColumnKind, label, fn, fnArgs{Column: name})
	return d.oneToOne(&ops.OneToOne{Label: label, PreservesRows: true, Fn: addColumnFn(name, fn), Spec: spec, SpecErr: specErr})
}

// addColumnFn is AddColumn's stage function.
func addColumnFn(name string, fn func(batch arrow.RecordBatch) (arrow.Array, error)) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if blocks.IsVoid(in) {
			in.Retain()
			return in, nil
		}
		col, err := fn(in)
		if err != nil {
			return nil, err
		}
		if col == nil {
			return nil, fmt.Errorf("column %q: function returned a nil array", name)
		}
		defer col.Release()
		return blocks.WithColumn(in, name, col)
	}
}

// SelectColumns keeps only the named columns, in that order.
func (d *Dataset) SelectColumns(names ...string) *Dataset {
	names = append([]string(nil), names...)
	out, fn := selectStage(names)
	d = d.columnOp(fmt.Sprintf("SelectColumns%v", names), out, fn, ops.MustSpec(selectKind, columnsArgs{Names: names}))
	if op, ok := d.plan.(*ops.OneToOne); ok && d.err == nil {
		op.Project = append([]string(nil), names...)
	}
	return d
}

// selectStage is SelectColumns' schema and function.
func selectStage(names []string) (func(*arrow.Schema) (*arrow.Schema, error), ops.BlockFn) {
	out := func(in *arrow.Schema) (*arrow.Schema, error) {
		fields := make([]arrow.Field, len(names))
		for i, n := range names {
			idx := in.FieldIndices(n)
			if len(idx) == 0 {
				return nil, &blocks.UnknownColumnError{Column: n, Schema: in}
			}
			fields[i] = in.Field(idx[0])
		}
		return arrow.NewSchema(fields, nil), nil
	}
	return out, func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		return blocks.Select(in, names)
	}
}

// DropColumns removes the named columns.
func (d *Dataset) DropColumns(names ...string) *Dataset {
	names = append([]string(nil), names...)
	out, fn := dropStage(names)
	return d.columnOp(fmt.Sprintf("DropColumns%v", names), out, fn, ops.MustSpec(dropKind, columnsArgs{Names: names}))
}

// dropStage is DropColumns' schema and function.
func dropStage(names []string) (func(*arrow.Schema) (*arrow.Schema, error), ops.BlockFn) {
	out := func(in *arrow.Schema) (*arrow.Schema, error) {
		drop := make(map[string]bool, len(names))
		for _, n := range names {
			if len(in.FieldIndices(n)) == 0 {
				return nil, &blocks.UnknownColumnError{Column: n, Schema: in}
			}
			drop[n] = true
		}
		var fields []arrow.Field
		for _, f := range in.Fields() {
			if !drop[f.Name] {
				fields = append(fields, f)
			}
		}
		return arrow.NewSchema(fields, nil), nil
	}
	return out, projectTo(out)
}

// RenameColumns renames columns, old name to new name.
func (d *Dataset) RenameColumns(names map[string]string) *Dataset {
	names = maps.Clone(names)
	out, fn := renameStage(names)
	return d.columnOp(fmt.Sprintf("RenameColumns%v", names), out, fn, ops.MustSpec(renameKind, columnsArgs{Renames: names}))
}

// renameStage is RenameColumns' schema and function.
func renameStage(names map[string]string) (func(*arrow.Schema) (*arrow.Schema, error), ops.BlockFn) {
	out := func(in *arrow.Schema) (*arrow.Schema, error) {
		for old := range names {
			if len(in.FieldIndices(old)) == 0 {
				return nil, &blocks.UnknownColumnError{Column: old, Schema: in}
			}
		}
		fields := append([]arrow.Field(nil), in.Fields()...)
		for i, f := range fields {
			if n, ok := names[f.Name]; ok {
				fields[i].Name = n
			}
		}
		return arrow.NewSchema(fields, nil), nil
	}
	return out, func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		schema, err := out(in.Schema())
		if err != nil {
			return nil, err
		}
		return array.NewRecordBatch(schema, in.Columns(), in.NumRows()), nil
	}
}

// projectTo keeps, by name, the columns of the schema out derives.
func projectTo(out func(*arrow.Schema) (*arrow.Schema, error)) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		schema, err := out(in.Schema())
		if err != nil {
			return nil, err
		}
		names := make([]string, schema.NumFields())
		for i, f := range schema.Fields() {
			names[i] = f.Name
		}
		return blocks.Select(in, names)
	}
}

// columnOp appends a column edit, checking it against the schema now when
// the schema is known, so a bad column name fails before anything runs.
// The stage runs passVoid(fn); spec describes fn.
func (d *Dataset) columnOp(label string, out func(*arrow.Schema) (*arrow.Schema, error), fn ops.BlockFn, spec *ops.Spec) *Dataset {
	if d.err != nil {
		return d
	}
	if in := d.plan.Schema(); in != nil {
		if _, err := out(in); err != nil {
			return d.withErr(fmt.Errorf("dataset.%s: %w", label, err))
		}
	}
	return d.oneToOne(&ops.OneToOne{Label: label, PreservesRows: true, OutSchema: out, Fn: passVoid(fn), Spec: spec})
}

// Limit keeps the first n rows.
func (d *Dataset) Limit(n int64) *Dataset {
	if d.err != nil {
		return d
	}
	if n < 0 {
		return d.withErr(fmt.Errorf("dataset.Limit: negative count %d", n))
	}
	return d.with(&ops.Limit{Input: d.plan, N: n})
}

// Union appends the rows of others after this dataset's, in order. All must
// run on the same runtime and have the same schema.
func (d *Dataset) Union(others ...*Dataset) *Dataset {
	if d.err != nil {
		return d
	}
	inputs := []ops.Node{d.plan}
	for i, o := range others {
		if o == nil {
			return d.withErr(fmt.Errorf("dataset.Union: dataset %d is nil", i))
		}
		if o.err != nil {
			return d.withErr(o.err)
		}
		if o.cfg.rt != d.cfg.rt {
			return d.withErr(fmt.Errorf("dataset.Union: dataset %d runs on another runtime", i))
		}
		a, b := d.plan.Schema(), o.plan.Schema()
		if a != nil && b != nil && !a.Equal(b) {
			return d.withErr(fmt.Errorf("dataset.Union: dataset %d has schema {%s}, want {%s}", i, ops.SchemaString(b), ops.SchemaString(a)))
		}
		inputs = append(inputs, o.plan)
	}
	return d.with(&ops.Union{Inputs: inputs})
}

// Repartition splits and merges blocks, keeping row order, into exactly n
// blocks whose row counts differ by at most one. No shuffle: rows stay in
// order.
//
// With Shuffle(true) rows are instead spread at random over the n blocks
// (block sizes differ by at most the number of input blocks), through the
// same exchange as RandomShuffle.
func (d *Dataset) Repartition(n int, opts ...RepartitionOption) *Dataset {
	if d.err != nil {
		return d
	}
	if n <= 0 {
		return d.withErr(fmt.Errorf("dataset.Repartition: block count must be positive, got %d", n))
	}
	var cfg repartitionConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.shuffle {
		return d.shuffleInto(n, cfg.seed)
	}
	return d.with(&ops.Repartition{Input: d.plan, N: n})
}

// RepartitionOption configures Repartition.
type RepartitionOption func(*repartitionConfig)

type repartitionConfig struct {
	shuffle bool
	seed    uint64
}

// Shuffle makes Repartition move rows at random instead of splitting and
// merging blocks in order.
func Shuffle(on bool) RepartitionOption { return func(c *repartitionConfig) { c.shuffle = on } }

// ShuffleSeed fixes the random order of Repartition(n, Shuffle(true)).
func ShuffleSeed(seed uint64) RepartitionOption { return func(c *repartitionConfig) { c.seed = seed } }
