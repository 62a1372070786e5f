package preprocess

import (
	"context"
	"math"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
)

// MeanStd is the fitted state of one StandardScaler column. Either is NaN
// (null in JSON) when the column had too few non-null values.
type MeanStd struct {
	Mean Float `json:"mean"`
	Std  Float `json:"std"`
}

// StandardScaler centres and scales numeric columns to zero mean and unit
// sample standard deviation (ddof=1, as Ray Data's Std): x → (x-mean)/std,
// a float64 column in the same place, nulls kept null.
//
// Where std is 0 (a constant column) or undefined (fewer than two values at
// Fit, or a column of nulls), every non-null value becomes 0.
type StandardScaler struct {
	// Columns are the numeric columns to scale.
	Columns []string `json:"columns"`
	// Stats is the fitted state by column; nil until Fit.
	Stats map[string]MeanStd `json:"stats,omitempty"`
}

// Fit computes every column's mean and standard deviation in one
// distributed aggregation over d.
func (s *StandardScaler) Fit(ctx context.Context, d *dataset.Dataset) error {
	pairs, err := fitPairs(ctx, "preprocess.StandardScaler", d, s.Columns, dataset.MeanOf, dataset.StdOf)
	if err != nil {
		return err
	}
	s.Stats = make(map[string]MeanStd, len(pairs))
	for c, p := range pairs {
		s.Stats[c] = MeanStd{Mean: p[0], Std: p[1]}
	}
	return nil
}

// fitPairs computes two aggregations of every column in one distributed
// aggregation over d, checking first that the columns are numeric.
func fitPairs(ctx context.Context, who string, d *dataset.Dataset, cols []string, first, second func(string) dataset.Agg) (map[string][2]Float, error) {
	if err := checkNumeric(ctx, who, d, cols); err != nil {
		return nil, err
	}
	aggs := make([]dataset.Agg, 0, 2*len(cols))
	for _, c := range cols {
		aggs = append(aggs, first(c), second(c))
	}
	row, err := aggregateRow(ctx, who, d, aggs)
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]Float, len(cols))
	for i, c := range cols {
		out[c] = [2]Float{Float(row[aggs[2*i].Name()]), Float(row[aggs[2*i+1].Name()])}
	}
	return out, nil
}

// Transform scales the columns of d lazily.
func (s *StandardScaler) Transform(d *dataset.Dataset) *dataset.Dataset { return transform(d, s) }

// TransformBatch scales the columns of b.
func (s *StandardScaler) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	const who = "preprocess.StandardScaler"
	if s.Stats == nil {
		return nil, notFitted(who)
	}
	return scaleColumns(who, b, s.Columns, func(col string) (func(float64) float64, bool) {
		st, ok := s.Stats[col]
		if !ok {
			return nil, false
		}
		mean, std := float64(st.Mean), float64(st.Std)
		if math.IsNaN(mean) || math.IsNaN(std) || std == 0 {
			return func(float64) float64 { return 0 }, true
		}
		return func(x float64) float64 { return (x - mean) / std }, true
	})
}

// MinMax is the fitted state of one MinMaxScaler column; NaN (null in
// JSON) when the column had no non-null values.
type MinMax struct {
	Min Float `json:"min"`
	Max Float `json:"max"`
}

// MinMaxScaler rescales numeric columns to [0, 1] over the range seen at
// Fit: x → (x-min)/(max-min), a float64 column in the same place, nulls
// kept null. Values outside the fitted range map outside [0, 1].
//
// Where max equals min, or the column had no values at Fit, every non-null
// value becomes 0.
type MinMaxScaler struct {
	// Columns are the numeric columns to scale.
	Columns []string `json:"columns"`
	// Stats is the fitted state by column; nil until Fit.
	Stats map[string]MinMax `json:"stats,omitempty"`
}

// Fit computes every column's minimum and maximum in one distributed
// aggregation over d.
func (s *MinMaxScaler) Fit(ctx context.Context, d *dataset.Dataset) error {
	pairs, err := fitPairs(ctx, "preprocess.MinMaxScaler", d, s.Columns, dataset.MinOf, dataset.MaxOf)
	if err != nil {
		return err
	}
	s.Stats = make(map[string]MinMax, len(pairs))
	for c, p := range pairs {
		s.Stats[c] = MinMax{Min: p[0], Max: p[1]}
	}
	return nil
}

// Transform rescales the columns of d lazily.
func (s *MinMaxScaler) Transform(d *dataset.Dataset) *dataset.Dataset { return transform(d, s) }

// TransformBatch rescales the columns of b.
func (s *MinMaxScaler) TransformBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	const who = "preprocess.MinMaxScaler"
	if s.Stats == nil {
		return nil, notFitted(who)
	}
	return scaleColumns(who, b, s.Columns, func(col string) (func(float64) float64, bool) {
		st, ok := s.Stats[col]
		if !ok {
			return nil, false
		}
		lo, hi := float64(st.Min), float64(st.Max)
		if math.IsNaN(lo) || math.IsNaN(hi) || hi == lo {
			return func(float64) float64 { return 0 }, true
		}
		return func(x float64) float64 { return (x - lo) / (hi - lo) }, true
	})
}

// scaleColumns replaces each of cols in b by f(col) applied to its values.
// fn reports false for a column without fitted state.
func scaleColumns(who string, b arrow.RecordBatch, cols []string, fn func(col string) (func(float64) float64, bool)) (arrow.RecordBatch, error) {
	made := make(map[string]arrow.Array, len(cols))
	release := func() {
		for _, a := range made {
			a.Release()
		}
	}
	for _, c := range cols {
		in, err := numericColumn(who, b, c)
		if err != nil {
			release()
			return nil, err
		}
		f, ok := fn(c)
		if !ok {
			release()
			return nil, notFitted(who + " column " + c)
		}
		made[c] = mapFloat64(in, f)
	}
	e := newEdit(b)
	for i, fld := range b.Schema().Fields() {
		if a, ok := made[fld.Name]; ok {
			e.add(fld.Name, a)
			delete(made, fld.Name)
			continue
		}
		e.keep(i)
	}
	return e.build(), nil
}
