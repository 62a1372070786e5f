package blocks

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TopKIndices returns the first k entries of SortIndices(b, keys) (all of
// them when b has at most k rows): the rows a stable sort would put first,
// in order, ties in row order. It keeps a bounded max-heap of the k best rows
// seen, so it reads every key once and sorts only k rows; when k is a large
// share of the block it sorts the block instead, which is then cheaper.
// Errors are SortIndices'.
func TopKIndices(b arrow.RecordBatch, keys []SortKey, k int) ([]int64, error) {
	if k < 0 {
		return nil, fmt.Errorf("blocks: top-k: negative k %d", k)
	}
	cols, err := keyCols(b, keys)
	if err != nil {
		return nil, err
	}
	n := int(b.NumRows())
	if k >= n/4 {
		idx := sortIndices(cols, keys)
		return idx[:min(k, n)], nil
	}
	return topKHeap(lexCmp(buildCmps(cols, keys)), n, k), nil
}

// topKHeap selects the k rows of 0..n-1 that come first by c, ties broken
// by row, and returns them in that order. heap[0] is the worst row kept, so
// most rows cost one comparison with it.
func topKHeap(c rowCmp, n, k int) []int64 {
	if k == 0 {
		return []int64{}
	}
	// after reports whether row i sorts after row j (rows are distinct).
	after := func(i, j int64) bool {
		if r := c(int(i), int(j)); r != 0 {
			return r > 0
		}
		return i > j
	}
	heap := make([]int64, k)
	down := func(i, size int) {
		for {
			l := 2*i + 1
			if l >= size {
				return
			}
			m := l
			if r := l + 1; r < size && after(heap[r], heap[l]) {
				m = r
			}
			if !after(heap[m], heap[i]) {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for i := range heap {
		heap[i] = int64(i)
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i, k)
	}
	for row := k; row < n; row++ {
		// A later row that ties with the worst kept one sorts after it:
		// only a strictly smaller key displaces it.
		if c(row, int(heap[0])) < 0 {
			heap[0] = int64(row)
			down(0, k)
		}
	}
	// Heapsort in place: repeatedly move the worst row to the end.
	for end := k - 1; end > 0; end-- {
		heap[0], heap[end] = heap[end], heap[0]
		down(0, end)
	}
	return heap
}

// TopK returns the first k rows of b ordered by keys (Take of b by
// TopKIndices): only those rows' columns are gathered.
func TopK(mem memory.Allocator, b arrow.RecordBatch, keys []SortKey, k int) (arrow.RecordBatch, error) {
	idx, err := TopKIndices(b, keys, k)
	if err != nil {
		return nil, err
	}
	return Take(mem, b, idx)
}
