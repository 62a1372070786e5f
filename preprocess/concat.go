package preprocess

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
)

// DefaultConcatOutput is the Concatenator's output column when Output is
// empty.
const DefaultConcatOutput = "concat_out"

// Concatenator packs numeric columns into one fixed_size_list<float64>
// column of len(Columns) values per row, in the order of Columns: the
// feature vector a model takes. The packed columns are dropped and the
// output column is appended last. A null input value is a null element of
// the row's list (the list itself is never null).
//
// It has no fitted state: Fit is a no-op, and TransformBatch reports a
// missing or non-numeric column.
type Concatenator struct {
	// Columns are the numeric columns to pack, in order.
	Columns []string `json:"columns"`
	// Output names the packed column; DefaultConcatOutput when empty.
	Output string `json:"output,omitempty"`
}

func (c *Concatenator) output() string {
	if c.Output == "" {
		return DefaultConcatOutput
	}
	return c.Output
}

// Fit does nothing: a Concatenator has nothing to learn.
func (c *Concatenator) Fit(context.Context, *dataset.Dataset) error { return nil }

// Transform packs the columns of d lazily.
func (c *Concatenator) Transform(d *dataset.Dataset) *dataset.Dataset { return transform(d, c) }

// TransformBatch packs the columns of b.
func (c *Concatenator) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	const who = "preprocess.Concatenator"
	if err := checkColumns(who, c.Columns); err != nil {
		return nil, err
	}
	out := c.output()
	ins := make([]arrow.Array, len(c.Columns))
	packed := make(map[string]bool, len(c.Columns))
	for k, name := range c.Columns {
		arr, err := numericColumn(who, b, name)
		if err != nil {
			return nil, err
		}
		ins[k] = arr
		packed[name] = true
	}
	if !packed[out] && len(b.Schema().FieldIndices(out)) > 0 {
		return nil, fmt.Errorf("%s: output column %q already exists", who, out)
	}
	width := len(c.Columns)
	bld := array.NewFixedSizeListBuilder(memory.DefaultAllocator, int32(width), arrow.PrimitiveTypes.Float64)
	defer bld.Release()
	vals := bld.ValueBuilder().(*array.Float64Builder)
	n := int(b.NumRows())
	bld.Reserve(n)
	vals.Reserve(n * width)
	for r := range n {
		bld.Append(true)
		for _, arr := range ins {
			if arr.IsNull(r) {
				vals.UnsafeAppendBoolToBitmap(false)
				continue
			}
			vals.UnsafeAppend(float64At(arr, r))
		}
	}
	e := newEdit(b)
	for i, fld := range b.Schema().Fields() {
		if !packed[fld.Name] {
			e.keep(i)
		}
	}
	e.add(out, bld.NewArray())
	return e.build(), nil
}
