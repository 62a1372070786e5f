package preprocess

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
)

// Vocabulary kinds.
const (
	KindString = "string"
	KindInt    = "int"
)

// Vocabulary is the sorted distinct non-null values of a string or integer
// column, found at Fit: a value's code is its index. Kind says which of
// Strings (any string type: string, large_string, string_view) or Ints (any
// integer type, read as int64) holds them.
type Vocabulary struct {
	Kind    string   `json:"kind"`
	Strings []string `json:"strings,omitempty"`
	Ints    []int64  `json:"ints,omitempty"`
}

// Len is the number of values.
func (v *Vocabulary) Len() int {
	if v.Kind == KindInt {
		return len(v.Ints)
	}
	return len(v.Strings)
}

// label is value i as text: the string, or the integer in decimal.
func (v *Vocabulary) label(i int) string {
	if v.Kind == KindInt {
		return strconv.FormatInt(v.Ints[i], 10)
	}
	return v.Strings[i]
}

type stringValuer interface {
	arrow.Array
	Value(int) string
}

func isString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isInteger(t arrow.DataType) bool {
	return isNumeric(t) && t.ID() != arrow.FLOAT32 && t.ID() != arrow.FLOAT64
}

// int64At returns an integer array's value i; ok is false for a uint64
// beyond int64.
func int64At(arr arrow.Array, i int) (v int64, ok bool) {
	switch a := arr.(type) {
	case *array.Int8:
		return int64(a.Value(i)), true
	case *array.Int16:
		return int64(a.Value(i)), true
	case *array.Int32:
		return int64(a.Value(i)), true
	case *array.Int64:
		return a.Value(i), true
	case *array.Uint8:
		return int64(a.Value(i)), true
	case *array.Uint16:
		return int64(a.Value(i)), true
	case *array.Uint32:
		return int64(a.Value(i)), true
	case *array.Uint64:
		u := a.Value(i)
		return int64(u), u <= math.MaxInt64
	}
	return 0, false
}

// kindOf is the vocabulary kind of a column type, or "" for an unsupported
// type.
func kindOf(t arrow.DataType) string {
	switch {
	case isString(t):
		return KindString
	case isInteger(t):
		return KindInt
	}
	return ""
}

// fitVocabulary collects the sorted distinct values of col with one
// distributed Unique.
func fitVocabulary(ctx context.Context, who string, d *dataset.Dataset, col string) (*Vocabulary, error) {
	t, err := schemaColumn(ctx, who, d, col)
	if err != nil {
		return nil, err
	}
	v := &Vocabulary{Kind: kindOf(t)}
	if v.Kind == "" {
		return nil, fmt.Errorf("%s: column %q is %s, not a string or integer", who, col, t)
	}
	recs, err := d.Unique(col).ToRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, r := range recs {
		arr, err := blocks.Column(r, col)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", who, err)
		}
		for i := range arr.Len() {
			if arr.IsNull(i) {
				continue
			}
			if v.Kind == KindString {
				v.Strings = append(v.Strings, arr.(stringValuer).Value(i))
				continue
			}
			x, ok := int64At(arr, i)
			if !ok {
				return nil, fmt.Errorf("%s: column %q: value %d does not fit int64", who, col, arr.(*array.Uint64).Value(i))
			}
			v.Ints = append(v.Ints, x)
		}
	}
	// Unique gives each value once; sort, and compact in case a value
	// arrived in two forms.
	slices.Sort(v.Strings)
	v.Strings = slices.Compact(v.Strings)
	slices.Sort(v.Ints)
	v.Ints = slices.Compact(v.Ints)
	return v, nil
}

// coder finds the codes of one batch column.
type coder struct {
	v   *Vocabulary
	arr arrow.Array
	str stringValuer
}

// newCoder checks arr's type against the vocabulary.
func (v *Vocabulary) newCoder(who, col string, arr arrow.Array) (*coder, error) {
	if k := kindOf(arr.DataType()); k != v.Kind {
		return nil, fmt.Errorf("%s: column %q is %s, fitted on %s values", who, col, arr.DataType(), v.Kind)
	}
	c := &coder{v: v, arr: arr}
	if v.Kind == KindString {
		c.str = arr.(stringValuer)
	}
	return c, nil
}

// code returns row i's code, or -1 for a value not in the vocabulary
// (callers check nulls first), and the value as text for messages.
func (c *coder) code(i int) int {
	if c.str != nil {
		if j, ok := slices.BinarySearch(c.v.Strings, c.str.Value(i)); ok {
			return j
		}
		return -1
	}
	x, ok := int64At(c.arr, i)
	if !ok {
		return -1
	}
	if j, ok := slices.BinarySearch(c.v.Ints, x); ok {
		return j
	}
	return -1
}

// text is row i's value as text, for error messages.
func (c *coder) text(i int) string {
	if c.str != nil {
		return strconv.Quote(c.str.Value(i))
	}
	return c.arr.ValueStr(i)
}

// ---------------------------------------------------------------------------
// LabelEncoder
// ---------------------------------------------------------------------------

// LabelEncoder replaces a string or integer column by int64 codes: the
// index of each value among the column's sorted distinct values at Fit
// (strings in byte order, integers numerically). Nulls stay null.
//
// A value not seen at Fit is an error naming the value and the column,
// unless UnknownAsMinusOne is set: then it is coded -1.
type LabelEncoder struct {
	// Column is the column to encode.
	Column string `json:"column"`
	// UnknownAsMinusOne codes values not seen at Fit as -1 instead of
	// failing.
	UnknownAsMinusOne bool `json:"unknown_as_minus_one,omitempty"`
	// Classes is the fitted vocabulary; nil until Fit.
	Classes *Vocabulary `json:"classes,omitempty"`
}

// Fit collects the column's distinct values with one distributed Unique.
func (l *LabelEncoder) Fit(ctx context.Context, d *dataset.Dataset) error {
	v, err := fitVocabulary(ctx, "preprocess.LabelEncoder", d, l.Column)
	if err != nil {
		return err
	}
	l.Classes = v
	return nil
}

// Transform encodes the column of d lazily.
func (l *LabelEncoder) Transform(d *dataset.Dataset) *dataset.Dataset { return transform(d, l) }

// TransformBatch encodes the column of b.
func (l *LabelEncoder) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	const who = "preprocess.LabelEncoder"
	if l.Classes == nil {
		return nil, notFitted(who)
	}
	arr, err := blocks.Column(b, l.Column)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	c, err := l.Classes.newCoder(who, l.Column, arr)
	if err != nil {
		return nil, err
	}
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	defer bld.Release()
	bld.Reserve(arr.Len())
	for i := range arr.Len() {
		if arr.IsNull(i) {
			bld.AppendNull()
			continue
		}
		j := c.code(i)
		if j < 0 && !l.UnknownAsMinusOne {
			return nil, fmt.Errorf("%s: column %q: value %s not seen at Fit", who, l.Column, c.text(i))
		}
		bld.UnsafeAppend(int64(j))
	}
	codes := bld.NewArray()
	defer codes.Release()
	return blocks.WithColumn(b, l.Column, codes)
}

// ---------------------------------------------------------------------------
// OneHotEncoder
// ---------------------------------------------------------------------------

// OneHotEncoder replaces each string or integer column by one int8 column
// per distinct value seen at Fit, in the column's place and in sorted value
// order. The columns are named "<column>_<value>" (an integer value in
// decimal, e.g. "size_3"; a string as is, e.g. "color_red"); each holds 1
// where the row has that value and 0 elsewhere. A null, or a value not seen
// at Fit, sets all of the row's columns to 0. An output name that is
// already a column of the batch is an error.
type OneHotEncoder struct {
	// Columns are the columns to encode.
	Columns []string `json:"columns"`
	// Categories is the fitted vocabulary by column; nil until Fit.
	Categories map[string]*Vocabulary `json:"categories,omitempty"`
}

// Fit collects each column's distinct values, one distributed Unique per
// column.
func (o *OneHotEncoder) Fit(ctx context.Context, d *dataset.Dataset) error {
	const who = "preprocess.OneHotEncoder"
	if err := checkColumns(who, o.Columns); err != nil {
		return err
	}
	cats := make(map[string]*Vocabulary, len(o.Columns))
	for _, c := range o.Columns {
		v, err := fitVocabulary(ctx, who, d, c)
		if err != nil {
			return err
		}
		cats[c] = v
	}
	o.Categories = cats
	return nil
}

// Transform encodes the columns of d lazily.
func (o *OneHotEncoder) Transform(d *dataset.Dataset) *dataset.Dataset { return transform(d, o) }

// TransformBatch encodes the columns of b.
func (o *OneHotEncoder) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	const who = "preprocess.OneHotEncoder"
	if o.Categories == nil {
		return nil, notFitted(who)
	}
	coders := make(map[string]*coder, len(o.Columns))
	for _, col := range o.Columns {
		v := o.Categories[col]
		if v == nil {
			return nil, notFitted(who + " column " + col)
		}
		arr, err := blocks.Column(b, col)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", who, err)
		}
		c, err := v.newCoder(who, col, arr)
		if err != nil {
			return nil, err
		}
		coders[col] = c
	}
	e := newEdit(b)
	n := int(b.NumRows())
	for i, fld := range b.Schema().Fields() {
		c, ok := coders[fld.Name]
		if !ok {
			e.keep(i)
			continue
		}
		delete(coders, fld.Name)
		hot := make([][]int8, c.v.Len())
		for k := range hot {
			hot[k] = make([]int8, n)
		}
		for r := range n {
			if c.arr.IsNull(r) {
				continue
			}
			if j := c.code(r); j >= 0 {
				hot[j][r] = 1
			}
		}
		for k := range hot {
			e.add(fld.Name+"_"+c.v.label(k), blocks.NumericArray(hot[k]))
		}
	}
	seen := make(map[string]bool, len(e.fields))
	for _, f := range e.fields {
		if seen[f.Name] {
			e.release()
			return nil, fmt.Errorf("%s: output column %q already exists", who, f.Name)
		}
		seen[f.Name] = true
	}
	return e.build(), nil
}
