package blocks

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Cast converts arr to type to with arrow's cast kernels, safely (an
// overflow or a lossy conversion is an error), allocating from mem.
//
// arrow-go (v18.8) leaks from the allocator in every cast to a string
// type: the kernel's builders are never released, so an accounting
// allocator never sees those bytes come back (an int64 → utf8 cast of
// 5,000 values leaves 150 KB behind). Go's garbage collector reclaims the
// memory itself, so those casts allocate from Go's allocator instead of
// mem: the result is the same, and mem's accounts stay true.
func Cast(ctx context.Context, mem memory.Allocator, arr arrow.Array, to arrow.DataType) (arrow.Array, error) {
	switch to.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY:
		mem = memory.DefaultAllocator
	}
	if mem != nil {
		ctx = compute.WithAllocator(ctx, mem)
	}
	return compute.CastArray(ctx, arr, compute.SafeCastOptions(to))
}
