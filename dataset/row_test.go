package dataset_test

import (
	"errors"
	"testing"

	"github.com/shoal-data/shoal/dataset"
)

// TestRowGetterErrorsFailTheTask: a typo or a wrong type in a Row getter
// fails the task with an error naming operator, block, row, getter, column,
// its type and the columns, rather than reading 0 or "".
func TestRowGetterErrorsFailTheTask(t *testing.T) {
	e := setup(t)
	src := dataset.Range(100, e.par(10)...) // id 42 is row 2 of block 4
	const cols = "(columns: id int64)"
	t.Run("Map unknown column", func(t *testing.T) {
		_, err := src.Map(func(r dataset.Row) (dataset.Item, error) {
			if r.Int64("id") == 42 {
				return dataset.Item{"x": r.Int64("idd")}, nil
			}
			return dataset.Item{"x": int64(0)}, nil
		}).TakeAll(e.ctx)
		wantTaskError(t, err, nil, "Map(", "block 4", "row 2", `Row.Int64("idd"): no such column `+cols)
		var access *dataset.AccessError
		if !errors.As(err, &access) || access.Column != "idd" || access.Getter != "Row.Int64" {
			t.Errorf("error %v does not wrap the *AccessError", err)
		}
	})
	t.Run("Filter wrong type", func(t *testing.T) {
		_, err := src.Filter(func(r dataset.Row) (bool, error) { return r.String("id") == "1", nil }).Count(e.ctx)
		wantTaskError(t, err, nil, "Filter(", "row 0", `Row.String("id"): column "id" is int64; String reads a utf8 column`, cols)
	})
	t.Run("FlatMap IsNull", func(t *testing.T) {
		_, err := src.FlatMap(func(r dataset.Row) ([]dataset.Item, error) {
			if r.IsNull("ID") {
				return nil, nil
			}
			return []dataset.Item{r.Item()}, nil
		}).Count(e.ctx)
		wantTaskError(t, err, nil, "FlatMap(", "row 0", `Row.IsNull("ID"): no such column `+cols)
	})
	t.Run("error variants", func(t *testing.T) {
		rows, err := src.Map(func(r dataset.Row) (dataset.Item, error) {
			v, err := r.GetFloat64("score")
			if err != nil {
				var access *dataset.AccessError
				if !errors.As(err, &access) {
					return nil, err
				}
				v = -1 // optional column
			}
			return dataset.Item{"score": v}, nil
		}).Take(e.ctx, 1)
		if err != nil || len(rows) != 1 || rows[0]["score"] != -1.0 {
			t.Fatalf("rows %v, %v", rows, err)
		}
	})
}
