package blocks

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestCastToStringLeavesNothing: casts to strings give arrow's text and
// leave the allocator's accounts at zero (see Cast); a numeric cast
// allocates from the allocator given, and refuses a value that does not
// fit.
func TestCastToStringLeavesNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewInt64Builder(mem)
	b.AppendValues([]int64{1, -20, 300}, nil)
	b.AppendNull()
	a := b.NewArray()
	b.Release()
	defer a.Release()
	for _, to := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString} {
		out, err := Cast(context.Background(), mem, a, to)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != `["1" "-20" "300" (null)]` {
			t.Errorf("cast to %s: %s", to, got)
		}
		out.Release()
	}
	out, err := Cast(context.Background(), mem, a, arrow.PrimitiveTypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if mem.CurrentAlloc() == int(a.Data().Buffers()[1].Len()+a.Data().Buffers()[0].Len()) {
		t.Errorf("a numeric cast did not allocate from the allocator given")
	}
	out.Release()
	if out, err := Cast(context.Background(), mem, a, arrow.PrimitiveTypes.Int8); err == nil {
		out.Release()
		t.Errorf("300 cast to int8 without an error: the cast is not safe")
	}
}
