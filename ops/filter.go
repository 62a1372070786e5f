package ops

import (
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// applyMask keeps the rows of b where mask is true (null drops the row, as
// SQL does), gathered with the typed kernels of blocks.Take.
func applyMask(mem memory.Allocator, m *array.Boolean, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	idx := maskIndices(m)
	if len(idx) == m.Len() {
		b.Retain()
		return b, nil
	}
	return blocks.Take(mem, b, idx)
}

// maskIndices lists the rows where m is true and not null, a byte of the
// bitmap at a time when m starts on a byte boundary (as masks made here do).
func maskIndices(m *array.Boolean) []int64 {
	n := m.Len()
	var idx []int64
	data := m.Data()
	if n == 0 {
		return nil
	}
	if data.Offset()%8 != 0 || data.Buffers()[1] == nil {
		for i := range n {
			if m.Value(i) && m.IsValid(i) {
				idx = append(idx, int64(i))
			}
		}
		return idx
	}
	vals := data.Buffers()[1].Bytes()[data.Offset()/8:]
	var valid []byte
	if m.NullN() > 0 && data.Buffers()[0] != nil {
		valid = data.Buffers()[0].Bytes()[data.Offset()/8:]
	}
	count := 0
	for j := 0; j < (n+7)/8; j++ {
		b := vals[j]
		if valid != nil {
			b &= valid[j]
		}
		count += bits.OnesCount8(b)
	}
	idx = make([]int64, 0, count)
	for j := 0; j < (n+7)/8; j++ {
		b := vals[j]
		if valid != nil {
			b &= valid[j]
		}
		for b != 0 {
			k := bits.TrailingZeros8(b)
			if i := j*8 + k; i < n {
				idx = append(idx, int64(i))
			}
			b &= b - 1
		}
	}
	return idx
}
