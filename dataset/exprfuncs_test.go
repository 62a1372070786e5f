package dataset_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// TestExprFuncsTyped checks that every wrapper names a registered
// function taking its arguments, and the result type it gives.
func TestExprFuncsTyped(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	i, f, s, b, ts, d := dataset.Col("i"), dataset.Col("f"), dataset.Col("s"), dataset.Col("b"), dataset.Col("t"), dataset.Col("d")
	for _, c := range []struct {
		e    dataset.Expr
		want arrow.DataType
	}{
		{dataset.Coalesce(i, f), arrow.PrimitiveTypes.Float64},
		{dataset.If(b, s, "x"), arrow.BinaryTypes.String},
		{dataset.Abs(i), arrow.PrimitiveTypes.Int64},
		{dataset.Round(f), arrow.PrimitiveTypes.Float64},
		{dataset.Round(i, -1), arrow.PrimitiveTypes.Int64},
		{dataset.Floor(f), arrow.PrimitiveTypes.Float64},
		{dataset.Ceil(i), arrow.PrimitiveTypes.Int64},
		{dataset.Sqrt(i), arrow.PrimitiveTypes.Float64},
		{dataset.Log(f), arrow.PrimitiveTypes.Float64},
		{dataset.Exp(f), arrow.PrimitiveTypes.Float64},
		{dataset.Pow(i, 2), arrow.PrimitiveTypes.Float64},
		{dataset.Lower(s), arrow.BinaryTypes.String},
		{dataset.Upper(s), arrow.BinaryTypes.String},
		{dataset.Len(s), arrow.PrimitiveTypes.Int64},
		{dataset.Contains(s, "a"), arrow.FixedWidthTypes.Boolean},
		{dataset.StartsWith(s, s), arrow.FixedWidthTypes.Boolean},
		{dataset.EndsWith(s, "a"), arrow.FixedWidthTypes.Boolean},
		{dataset.Substr(s, 2), arrow.BinaryTypes.String},
		{dataset.Substr(s, 2, i), arrow.BinaryTypes.String},
		{dataset.Concat(s, "-", s), arrow.BinaryTypes.String},
		{dataset.Year(ts), arrow.PrimitiveTypes.Int64},
		{dataset.Month(d), arrow.PrimitiveTypes.Int64},
		{dataset.Day(ts), arrow.PrimitiveTypes.Int64},
		{dataset.Hour(ts), arrow.PrimitiveTypes.Int64},
		{dataset.Minute(ts), arrow.PrimitiveTypes.Int64},
		{dataset.DayOfWeek(d), arrow.PrimitiveTypes.Int64},
		{dataset.DiffSeconds(ts, d), arrow.PrimitiveTypes.Float64},
		{dataset.DiffDays(d, ts), arrow.PrimitiveTypes.Int64},
	} {
		got, err := c.e.DataType(schema)
		if err != nil || !arrow.TypeEqual(got, c.want) {
			t.Errorf("%s: %v (%v), want %s", c.e, got, err, c.want)
		}
	}
}

// TestExprFuncsWhereTypeError checks that a function given the wrong type
// fails when the plan is built, naming the function, the column and its type.
func TestExprFuncsWhereTypeError(t *testing.T) {
	rt := exec.NewLocal(exec.WithWorkers(1))
	defer rt.Close()
	ds := dataset.FromItems([]dataset.Item{{"city": "Oslo"}}, dataset.WithRuntime(rt))
	_, err := ds.Where(dataset.Year(dataset.Col("city")).Eq(2024)).Count(context.Background())
	for _, want := range []string{"year(city)", "needs a timestamp or date", "column city is utf8"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want one saying %q", err, want)
		}
	}
}
