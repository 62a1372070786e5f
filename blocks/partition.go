package blocks

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// reduce maps a uniformly distributed 64-bit hash onto [0, n) without a
// division: the high word of h*n (Lemire's fast range reduction).
func reduce(h uint64, n uint64) int32 {
	hi, _ := bits.Mul64(h, n)
	return int32(hi)
}

// HashPartition assigns each row of b a partition in [0, n) from the hash of
// its key columns cols (HashColumns with PartitionSeed): rows with equal keys
// land in the same partition, in any block and on any machine.
func HashPartition(b arrow.RecordBatch, cols []string, n int) ([]int32, error) {
	if n <= 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("blocks: hash partition into %d parts", n)
	}
	h, err := HashColumns(b, cols, PartitionSeed, nil)
	if err != nil {
		return nil, err
	}
	parts := make([]int32, len(h))
	for i, x := range h {
		parts[i] = reduce(x, uint64(n))
	}
	return parts, nil
}

// RandomPartition assigns each of rows rows a uniformly random partition in
// [0, n), drawn from rng. It panics if n is not positive.
func RandomPartition(rows int, n int, rng *rand.Rand) []int32 {
	if n <= 0 || n > math.MaxInt32 {
		panic(fmt.Sprintf("blocks: random partition into %d parts", n))
	}
	parts := make([]int32, rows)
	for i := range parts {
		parts[i] = reduce(rng.Uint64(), uint64(n))
	}
	return parts
}

// Scatter splits b into n blocks by the partition index of each row, parts[i]
// in [0, n), keeping the order of rows within each block. A partition with no
// rows gets an empty block of b's schema; one with all of them gets b itself,
// retained. The caller releases every returned block.
func Scatter(mem memory.Allocator, b arrow.RecordBatch, parts []int32, n int) ([]arrow.RecordBatch, error) {
	rows := int(b.NumRows())
	if len(parts) != rows {
		return nil, fmt.Errorf("blocks: scatter %d rows with %d partition indices", rows, len(parts))
	}
	if n <= 0 {
		return nil, fmt.Errorf("blocks: scatter into %d parts", n)
	}
	// Counting sort of the row indices by partition: start[p] is where
	// partition p's rows begin in idx.
	start := make([]int, n+1)
	for i, p := range parts {
		if p < 0 || int(p) >= n {
			return nil, fmt.Errorf("blocks: scatter: row %d has partition %d, want [0, %d)", i, p, n)
		}
		start[p+1]++
	}
	for p := 1; p <= n; p++ {
		start[p] += start[p-1]
	}
	idx := make([]int64, rows)
	next := make([]int, n)
	copy(next, start[:n])
	for i, p := range parts {
		idx[next[p]] = int64(i)
		next[p]++
	}

	out := make([]arrow.RecordBatch, n)
	for p := range out {
		lo, hi := start[p], start[p+1]
		switch hi - lo {
		case 0:
			out[p] = Empty(mem, b.Schema())
		case rows:
			b.Retain()
			out[p] = b
		default:
			t, err := Take(mem, b, idx[lo:hi])
			if err != nil {
				for _, o := range out[:p] {
					o.Release()
				}
				return nil, err
			}
			out[p] = t
		}
	}
	return out, nil
}
