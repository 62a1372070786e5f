package dataset_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
)

func TestGroupByFloatKeys(t *testing.T) {
	e := setup(t)
	items := []dataset.Item{
		{"f": math.NaN(), "v": int64(1)}, {"f": 0.0, "v": int64(2)}, {"f": math.Copysign(0, -1), "v": int64(3)},
		{"f": math.NaN(), "v": int64(4)}, {"f": nil, "v": int64(5)}, {"f": 1.5, "v": int64(6)}, {"f": nil, "v": int64(7)},
	}
	rows, err := dataset.FromItems(items, e.par(3)...).GroupBy("f").Sum("v").TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, r := range rows {
		k := "null"
		if f, ok := r["f"].(float64); ok {
			switch {
			case math.IsNaN(f):
				k = "NaN"
			default:
				k = strings.TrimSpace(strings.Replace(fmtFloat(f), "-0", "0", 1))
			}
		}
		got[k] = r["sum(v)"]
	}
	want := map[string]any{"NaN": int64(5), "0": int64(5), "null": int64(12), "1.5": int64(6)}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v (NaNs together, -0 with +0, nulls together)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("group %s: sum %v, want %v", k, got[k], v)
		}
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestMixedKeyTypesAcrossBlocks: a key column that is int64 in one block
// and a string in another is a clear error, not a wrong answer.
func TestMixedKeyTypesAcrossBlocks(t *testing.T) {
	e := setup(t)
	d := dataset.Range(100, e.par(2)...).MapBatches(func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		var col arrow.Array
		if b.Column(0).(*array.Int64).Value(0) == 0 {
			bld := array.NewInt64Builder(memory.DefaultAllocator)
			defer bld.Release()
			for range b.NumRows() {
				bld.Append(1)
			}
			col = bld.NewArray()
		} else {
			bld := array.NewStringBuilder(memory.DefaultAllocator)
			defer bld.Release()
			for range b.NumRows() {
				bld.Append("one")
			}
			col = bld.NewArray()
		}
		defer col.Release()
		return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: col.DataType()}}, nil), []arrow.Array{col}, b.NumRows()), nil
	})
	for name, q := range map[string]*dataset.Dataset{
		"groupby": d.GroupBy("k").Count(),
		"sort":    d.Sort(dataset.Asc("k")),
		"join":    d.Join(dataset.Range(5, e.opt()).RenameColumns(map[string]string{"id": "k"}), []string{"k"}, dataset.InnerJoin),
	} {
		_, err := q.TakeAll(e.ctx)
		if err == nil {
			t.Errorf("%s over mixed key types: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), "k") {
			t.Errorf("%s: error %q does not name the column", name, err)
		}
	}
}
