package preprocess

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
)

// isNumeric reports whether t is an integer or float32/float64 type: the
// types the scalers and Concatenator read.
func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// float64At returns a numeric array's value i as float64 (callers check
// nulls).
func float64At(arr arrow.Array, i int) float64 {
	switch a := arr.(type) {
	case *array.Int8:
		return float64(a.Value(i))
	case *array.Int16:
		return float64(a.Value(i))
	case *array.Int32:
		return float64(a.Value(i))
	case *array.Int64:
		return float64(a.Value(i))
	case *array.Uint8:
		return float64(a.Value(i))
	case *array.Uint16:
		return float64(a.Value(i))
	case *array.Uint32:
		return float64(a.Value(i))
	case *array.Uint64:
		return float64(a.Value(i))
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	}
	return math.NaN()
}

// numericColumn returns the column name of b, or an error naming it when it
// is missing or not numeric.
func numericColumn(who string, b arrow.RecordBatch, name string) (arrow.Array, error) {
	col, err := blocks.Column(b, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	if !isNumeric(col.DataType()) {
		return nil, fmt.Errorf("%s: column %q is %s, not numeric", who, name, col.DataType())
	}
	return col, nil
}

// mapFloat64 computes a float64 column from a numeric one: nulls stay null.
func mapFloat64(col arrow.Array, f func(float64) float64) arrow.Array {
	bld := array.NewFloat64Builder(memory.DefaultAllocator)
	defer bld.Release()
	bld.Reserve(col.Len())
	for i := range col.Len() {
		if col.IsNull(i) {
			bld.AppendNull()
			continue
		}
		bld.UnsafeAppend(f(float64At(col, i)))
	}
	return bld.NewArray()
}

// batchEdit builds an output batch from an input one: columns kept,
// replaced in place, dropped or appended, in one pass.
type batchEdit struct {
	in     arrow.RecordBatch
	fields []arrow.Field
	cols   []arrow.Array
	owned  []arrow.Array // arrays made here, released once built
}

func newEdit(in arrow.RecordBatch) *batchEdit {
	return &batchEdit{in: in}
}

// add appends a column made by the preprocessor (the edit owns col).
func (e *batchEdit) add(name string, col arrow.Array) {
	e.fields = append(e.fields, arrow.Field{Name: name, Type: col.DataType(), Nullable: true})
	e.cols = append(e.cols, col)
	e.owned = append(e.owned, col)
}

// keep appends input column i unchanged.
func (e *batchEdit) keep(i int) {
	e.fields = append(e.fields, e.in.Schema().Field(i))
	e.cols = append(e.cols, e.in.Column(i))
}

// release frees the arrays made so far (on an error path).
func (e *batchEdit) release() {
	for _, a := range e.owned {
		a.Release()
	}
	e.owned = nil
}

// build returns the new batch, keeping the input schema's metadata.
func (e *batchEdit) build() arrow.RecordBatch {
	defer e.release()
	md := e.in.Schema().Metadata()
	return array.NewRecordBatch(arrow.NewSchema(e.fields, &md), e.cols, e.in.NumRows())
}

// checkColumns checks that cols is non-empty and has no repeats.
func checkColumns(who string, cols []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("%s: no columns", who)
	}
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if seen[c] {
			return fmt.Errorf("%s: column %q listed twice", who, c)
		}
		seen[c] = true
	}
	return nil
}

// schemaColumn returns the type of column name of d's schema, or an error
// naming the column.
func schemaColumn(ctx context.Context, who string, d *dataset.Dataset, name string) (arrow.DataType, error) {
	s, err := d.Schema(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	idx := s.FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%s: %w", who, &blocks.UnknownColumnError{Column: name, Schema: s})
	}
	return s.Field(idx[0]).Type, nil
}

// checkNumeric checks that every column of cols is in d and numeric.
func checkNumeric(ctx context.Context, who string, d *dataset.Dataset, cols []string) error {
	if err := checkColumns(who, cols); err != nil {
		return err
	}
	for _, c := range cols {
		t, err := schemaColumn(ctx, who, d, c)
		if err != nil {
			return err
		}
		if !isNumeric(t) {
			return fmt.Errorf("%s: column %q is %s, not numeric", who, c, t)
		}
	}
	return nil
}

// aggregateRow runs one d.Aggregate(aggs...) and returns each aggregation's
// value as float64, NaN for null, by output name.
func aggregateRow(ctx context.Context, who string, d *dataset.Dataset, aggs []dataset.Agg) (map[string]float64, error) {
	recs, err := d.Aggregate(aggs...).ToRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, r := range recs {
		if r.NumRows() == 0 {
			continue
		}
		out := make(map[string]float64, len(aggs))
		for _, a := range aggs {
			col, err := blocks.Column(r, a.Name())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", who, err)
			}
			v := math.NaN()
			if col.IsValid(0) {
				v = float64At(col, 0)
			}
			out[a.Name()] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: aggregation returned no row", who)
}
