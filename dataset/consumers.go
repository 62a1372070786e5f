package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
)

// Count returns the number of rows, from metadata when the plan knows it
// (a source with a known size and row-preserving transforms) and otherwise
// by running the plan and adding up block row counts.
func (d *Dataset) Count(ctx context.Context) (int64, error) {
	if d.err != nil {
		return 0, d.err
	}
	if n := d.optimize(d.plan).Rows(); n >= 0 {
		return n, nil
	}
	var n int64
	err := d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		n += b.Rows()
		return nil
	})
	return n, err
}

// Schema returns the output schema: from the plan when it is known without
// running, otherwise from the first block the plan produces.
func (d *Dataset) Schema(ctx context.Context) (*arrow.Schema, error) {
	if d.err != nil {
		return nil, d.err
	}
	if s := d.plan.Schema(); s != nil {
		return s, nil
	}
	var schema *arrow.Schema
	err := d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		for _, r := range b.Refs {
			if r.Schema != nil && (r.Schema.NumFields() > 0 || r.Rows > 0) {
				schema = r.Schema
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if schema == nil {
		return arrow.NewSchema(nil, nil), nil
	}
	return schema, nil
}

// NumBlocks returns the number of blocks: planned for a source, a
// repartition or a materialized dataset, counted by running the plan otherwise.
func (d *Dataset) NumBlocks(ctx context.Context) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if n, ok := staticBlocks(d.plan); ok {
		return n, nil
	}
	var n int
	err := d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		n += len(b.Refs)
		return nil
	})
	return n, err
}

func staticBlocks(n ops.Node) (int, bool) {
	switch n := n.(type) {
	case *ops.Read:
		tasks, err := n.Source.ReadTasks(n.Parallelism)
		if err != nil {
			return 0, false
		}
		total := 0
		for _, t := range tasks {
			if t.Blocks <= 0 {
				return 0, false
			}
			total += t.Blocks
		}
		return total, true
	case *ops.Refs:
		return len(n.Refs), true
	case *ops.Repartition:
		return n.N, true
	case *ops.Union:
		total := 0
		for _, in := range n.Inputs {
			k, ok := staticBlocks(in)
			if !ok {
				return 0, false
			}
			total += k
		}
		return total, true
	}
	return 0, false
}

// Take returns the first n rows as items.
func (d *Dataset) Take(ctx context.Context, n int) ([]Item, error) {
	if n < 0 {
		return nil, fmt.Errorf("dataset.Take: negative count %d", n)
	}
	return d.Limit(int64(n)).TakeAll(ctx)
}

// TakeAll returns every row as items. Use it on small results only.
func (d *Dataset) TakeAll(ctx context.Context) ([]Item, error) {
	var items []Item
	err := d.forEachBlock(ctx, func(b blocks.Block) error {
		items = append(items, blocks.ToItems(b)...)
		return nil
	})
	return items, err
}

// Show prints the first n rows to standard output, one per line.
func (d *Dataset) Show(ctx context.Context, n int) error {
	return d.ShowTo(ctx, os.Stdout, n)
}

// ShowTo prints the first n rows to w, one per line, columns in schema order.
func (d *Dataset) ShowTo(ctx context.Context, w io.Writer, n int) error {
	if n < 0 {
		return fmt.Errorf("dataset.Show: negative count %d", n)
	}
	return d.Limit(int64(n)).forEachBlock(ctx, func(b blocks.Block) error {
		for i := range int(b.NumRows()) {
			if _, err := fmt.Fprintln(w, FormatRow(blocks.NewRow(b, i))); err != nil {
				return err
			}
		}
		return nil
	})
}

// FormatRow prints a row as {name: value, ...} in schema order.
func FormatRow(r Row) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, f := range r.Schema().Fields() {
		if i > 0 {
			sb.WriteString(", ")
		}
		v := r.Get(f.Name)
		if s, ok := v.(string); ok {
			fmt.Fprintf(&sb, "%s: %q", f.Name, s)
		} else {
			fmt.Fprintf(&sb, "%s: %v", f.Name, v)
		}
	}
	sb.WriteByte('}')
	return sb.String()
}

// forEachBlock runs the plan and calls fn with each block, in order. The
// block is valid only during the call.
func (d *Dataset) forEachBlock(ctx context.Context, fn func(blocks.Block) error) error {
	rt := d.cfg.rt
	return d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		for _, ref := range b.Refs {
			blk, err := rt.Get(ctx, ref)
			if err != nil {
				return err
			}
			err = fn(blk)
			blk.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// IterRows yields every row in order. A Row is valid only until the next
// iteration. Breaking out of the loop stops the pipeline.
func (d *Dataset) IterRows(ctx context.Context) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		err := d.forEachBlock(ctx, func(b blocks.Block) error {
			for i := range int(b.NumRows()) {
				if !yield(blocks.NewRow(b, i), nil) {
					return errStop
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(Row{}, err)
		}
	}
}

// IterBatches yields record batches of exactly size rows (the last may be
// smaller), regrouping blocks as needed; size 0 yields blocks as they are.
// A batch is valid until the next iteration; Retain it to keep it longer.
// Options (Prefetch, LocalShuffleBuffer, DropLast) are described in iter.go.
// Breaking out of the loop stops the pipeline.
func (d *Dataset) IterBatches(ctx context.Context, size int, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	return d.iterBatches(ctx, "dataset.IterBatches", size, opts)
}

// rebatcher regroups blocks into batches of a fixed row count, slicing
// without copying when one block covers a batch.
type rebatcher struct {
	size    int64
	alloc   memory.Allocator
	pending []blocks.Block
	rows    int64
}

func (r *rebatcher) add(b blocks.Block, emit func(arrow.RecordBatch) error) error {
	if r.size == 0 {
		if b.NumRows() == 0 {
			return nil
		}
		b.Retain()
		return emit(b)
	}
	for off := int64(0); off < b.NumRows(); {
		take := min(r.size-r.rows, b.NumRows()-off)
		r.pending = append(r.pending, blocks.Slice(b, off, off+take))
		r.rows += take
		off += take
		if r.rows == r.size {
			if err := r.flush(emit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *rebatcher) flush(emit func(arrow.RecordBatch) error) error {
	if len(r.pending) == 0 {
		return nil
	}
	parts := r.pending
	r.pending, r.rows = nil, 0
	defer releaseBlocks(parts)
	out, err := blocks.Concat(r.alloc, parts)
	if err != nil {
		return err
	}
	return emit(out)
}

func (r *rebatcher) release() {
	releaseBlocks(r.pending)
	r.pending = nil
}

// ToRecords runs the plan and returns every block. The caller owns the
// records and must Release them.
func (d *Dataset) ToRecords(ctx context.Context) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	err := d.forEachBlock(ctx, func(b blocks.Block) error {
		b.Retain()
		out = append(out, b)
		return nil
	})
	if err != nil {
		releaseBlocks(out)
		return nil, err
	}
	return out, nil
}

// ToStructs runs the plan and converts every row to a T (see FromStructs).
func ToStructs[T any](ctx context.Context, d *Dataset) ([]T, error) {
	var out []T
	err := d.forEachBlock(ctx, func(b blocks.Block) error {
		if b.NumRows() == 0 {
			return nil
		}
		vals, err := blocks.ToStructs[T](b)
		out = append(out, vals...)
		return err
	})
	return out, err
}

// Materialize runs the plan and keeps its blocks in the object store; the
// result is a dataset over those blocks that later consumers read without
// recomputing. The blocks are freed when the returned dataset (and every
// dataset derived from it) is garbage collected.
func (d *Dataset) Materialize(ctx context.Context) (*Dataset, error) {
	if d.err != nil {
		return nil, d.err
	}
	var refs []exec.ObjectRef
	rt := d.cfg.rt
	err := d.forEachBundle(ctx, d.plan, func(b pipeline.Bundle) error {
		for _, r := range b.Refs {
			rt.Retain(r) // forEachBundle releases the bundle's own reference
			refs = append(refs, r)
		}
		return nil
	})
	if err != nil {
		for _, r := range refs {
			rt.Release(r)
		}
		return nil, err
	}
	schema := d.plan.Schema()
	if schema == nil && len(refs) > 0 {
		schema = refs[0].Schema
	}
	return d.refsDataset(refs, schema), nil
}
