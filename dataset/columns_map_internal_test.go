package dataset

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// TestMapColumnsZeroCopy: columns not Set pass through as the input's
// arrays, and numeric slices given to Set become arrays over their memory.
func TestMapColumnsZeroCopy(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in, err := blocks.FromItems(mem, []Item{{"id": 1, "s": "a"}, {"id": 2, "s": "b"}, {"id": 3, "s": "c"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	var set []float64
	out, err := columnsBatch(func(c ColumnSet) (ColumnSet, error) {
		set = []float64{0.5, 1.5, 2.5}
		c.SetNullable("x", set, []bool{true, false, true})
		return c, nil
	})(in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	for j := range 2 {
		if out.Column(j) != in.Column(j) {
			t.Errorf("column %d was copied", j)
		}
	}
	x := out.Column(2).(*array.Float64)
	if &x.Float64Values()[0] != &set[0] {
		t.Error("the float64 slice was copied")
	}
	if x.NullN() != 1 || !x.IsNull(1) || x.Value(2) != 2.5 {
		t.Errorf("x = %v", x)
	}
}
