package dataset

import (
	"fmt"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// Item is one row as a map from column name to value.
type Item = blocks.Item

// Row is a read-only view of one row, valid during the call it is passed to.
type Row = blocks.Row

// AccessError is what a Row or Columns getter panics with (and its Get
// variants return) for a column that is missing or of another type; the
// engine turns the panic into the task's error, which wraps it.
type AccessError = blocks.AccessError

// Range is a dataset of the int64 column "id" holding 0, 1, ..., n-1.
func Range(n int64, opts ...Option) *Dataset {
	if n < 0 {
		return errDataset(fmt.Errorf("dataset.Range: negative count %d", n), opts)
	}
	cfg := newConfig(opts)
	src := &rangeSource{n: n}
	return &Dataset{plan: &ops.Read{Source: src, Parallelism: cfg.parallelismFor(n), CPUs: cfg.readCPUs, MaxConcurrency: cfg.readConcurrency}, cfg: cfg}
}

var rangeSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

type rangeSource struct{ n int64 }

func (r *rangeSource) Name() string                     { return fmt.Sprintf("Range(%d)", r.n) }
func (r *rangeSource) Schema() *arrow.Schema            { return rangeSchema }
func (r *rangeSource) NumRows() int64                   { return r.n }
func (r *rangeSource) WithLimit(n int64) ops.Datasource { return &rangeSource{n: min(n, r.n)} }

func (r *rangeSource) ReadTasks(parallelism int) ([]ops.ReadTask, error) {
	return splitRows(r.n, parallelism, func(lo, hi int64) ops.ReadTask {
		return ops.ReadTask{Rows: hi - lo, Bytes: 8 * (hi - lo), Blocks: 1, Read: rangeRead(lo, hi),
			Spec: ops.MustSpec(rangeKind, rangeArgs{Lo: lo, Hi: hi})}
	}), nil
}

// rangeRead is the read task of rows lo..hi of a Range.
func rangeRead(lo, hi int64) ops.ReadFunc {
	return func(tc *exec.TaskContext) ([]blocks.Block, error) {
		return []blocks.Block{rangeBlock(tc.Alloc, lo, hi)}, nil
	}
}

// rangeBlock fills an int64 buffer directly: no builder, no per-value call.
func rangeBlock(mem memory.Allocator, lo, hi int64) blocks.Block {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(hi-lo) * 8)
	vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
	for i := range vals {
		vals[i] = lo + int64(i)
	}
	data := array.NewData(arrow.PrimitiveTypes.Int64, int(hi-lo), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	col := array.NewInt64Data(data)
	data.Release()
	defer col.Release()
	return array.NewRecordBatch(rangeSchema, []arrow.Array{col}, hi-lo)
}

// splitRows cuts n rows into at most parts contiguous ranges of near-equal size.
func splitRows(n int64, parts int, task func(lo, hi int64) ops.ReadTask) []ops.ReadTask {
	if n == 0 {
		return nil
	}
	parts = int(min(int64(max(parts, 1)), n))
	tasks := make([]ops.ReadTask, parts)
	for i := range parts {
		tasks[i] = task(n*int64(i)/int64(parts), n*int64(i+1)/int64(parts))
	}
	return tasks
}

// FromItems is a dataset of the given rows. The schema is inferred across all
// items at once (ints as int64, floats as float64, nested maps as structs,
// slices as lists); conflicting types give an error naming the field.
func FromItems(items []Item, opts ...Option) *Dataset {
	schema, err := blocks.InferSchema(items)
	if err != nil {
		return errDataset(fmt.Errorf("dataset.FromItems: %w", err), opts)
	}
	cfg := newConfig(opts)
	src := &itemsSource{items: items, schema: schema}
	return &Dataset{plan: &ops.Read{Source: src, Parallelism: cfg.parallelismFor(int64(len(items))), CPUs: cfg.readCPUs, MaxConcurrency: cfg.readConcurrency}, cfg: cfg}
}

type itemsSource struct {
	items  []Item
	schema *arrow.Schema
}

func (s *itemsSource) Name() string          { return fmt.Sprintf("FromItems(%d)", len(s.items)) }
func (s *itemsSource) Schema() *arrow.Schema { return s.schema }
func (s *itemsSource) NumRows() int64        { return int64(len(s.items)) }
func (s *itemsSource) WithLimit(n int64) ops.Datasource {
	return &itemsSource{items: s.items[:min(n, int64(len(s.items)))], schema: s.schema}
}

func (s *itemsSource) ReadTasks(parallelism int) ([]ops.ReadTask, error) {
	return splitRows(int64(len(s.items)), parallelism, func(lo, hi int64) ops.ReadTask {
		part := s.items[lo:hi]
		return ops.ReadTask{Rows: hi - lo, Bytes: -1, Blocks: 1, Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			b, err := blocks.FromItemsWithSchema(tc.Alloc, s.schema, part)
			if err != nil {
				return nil, fmt.Errorf("items %d..%d: %w", lo, hi, err)
			}
			return []blocks.Block{b}, nil
		}}
	}), nil
}

// FromRecords is a dataset over existing Arrow record batches, one block
// each. The dataset retains the records (the caller may release its own
// references) and releases them when it is garbage collected. All records
// must have the same schema.
func FromRecords(recs []arrow.RecordBatch, opts ...Option) *Dataset {
	if len(recs) == 0 {
		return errDataset(fmt.Errorf("dataset.FromRecords: no records (the schema would be unknown)"), opts)
	}
	for i, r := range recs {
		if r == nil {
			return errDataset(fmt.Errorf("dataset.FromRecords: record %d is nil", i), opts)
		}
	}
	schema := recs[0].Schema()
	for i, r := range recs {
		if !r.Schema().Equal(schema) {
			return errDataset(fmt.Errorf("dataset.FromRecords: record %d has schema {%s}, record 0 has {%s}",
				i, ops.SchemaString(r.Schema()), ops.SchemaString(schema)), opts)
		}
	}
	held := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		r.Retain()
		held[i] = r
	}
	src := &recordsSource{recs: held, schema: schema}
	runtime.AddCleanup(src, func(recs []arrow.RecordBatch) {
		for _, r := range recs {
			r.Release()
		}
	}, held)
	cfg := newConfig(opts)
	return &Dataset{plan: &ops.Read{Source: src, Parallelism: len(recs), CPUs: cfg.readCPUs, MaxConcurrency: cfg.readConcurrency}, cfg: cfg}
}

type recordsSource struct {
	recs   []arrow.RecordBatch
	schema *arrow.Schema
}

func (s *recordsSource) Name() string          { return fmt.Sprintf("FromRecords(%d)", len(s.recs)) }
func (s *recordsSource) Schema() *arrow.Schema { return s.schema }
func (s *recordsSource) NumRows() int64 {
	var n int64
	for _, r := range s.recs {
		n += r.NumRows()
	}
	return n
}

// ReadTasks makes one task per record; parallelism does not split records.
func (s *recordsSource) ReadTasks(int) ([]ops.ReadTask, error) {
	tasks := make([]ops.ReadTask, len(s.recs))
	for i, r := range s.recs {
		tasks[i] = ops.ReadTask{Rows: r.NumRows(), Bytes: blocks.Size(r), Blocks: 1, Read: func(*exec.TaskContext) ([]blocks.Block, error) {
			runtime.KeepAlive(s) // the records live as long as the source
			r.Retain()
			return []blocks.Block{r}, nil
		}}
	}
	return tasks, nil
}

// FromStructs is a dataset of Go structs, one row per value, columns named by
// `arrow:"name"` tags (see blocks.FromStructs).
func FromStructs[T any](vals []T, opts ...Option) *Dataset {
	schema, err := blocks.SchemaOf[T]()
	if err != nil {
		return errDataset(fmt.Errorf("dataset.FromStructs: %w", err), opts)
	}
	cfg := newConfig(opts)
	src := &structsSource[T]{vals: vals, schema: schema}
	return &Dataset{plan: &ops.Read{Source: src, Parallelism: cfg.parallelismFor(int64(len(vals))), CPUs: cfg.readCPUs, MaxConcurrency: cfg.readConcurrency}, cfg: cfg}
}

type structsSource[T any] struct {
	vals   []T
	schema *arrow.Schema
}

func (s *structsSource[T]) Name() string {
	var zero T
	return fmt.Sprintf("FromStructs[%T](%d)", zero, len(s.vals))
}
func (s *structsSource[T]) Schema() *arrow.Schema { return s.schema }
func (s *structsSource[T]) NumRows() int64        { return int64(len(s.vals)) }

func (s *structsSource[T]) ReadTasks(parallelism int) ([]ops.ReadTask, error) {
	return splitRows(int64(len(s.vals)), parallelism, func(lo, hi int64) ops.ReadTask {
		part := s.vals[lo:hi]
		return ops.ReadTask{Rows: hi - lo, Bytes: -1, Blocks: 1, Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			b, err := blocks.FromStructs(tc.Alloc, part)
			if err != nil {
				return nil, err
			}
			return []blocks.Block{b}, nil
		}}
	}), nil
}
