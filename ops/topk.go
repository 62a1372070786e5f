package ops

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// Sorter is a node whose output is exactly its first input's rows ordered
// by keys, ties in input order (Sort). The optimizer turns a Limit over one
// into a TopK.
type Sorter interface {
	Node
	SortedBy() []blocks.SortKey
}

// TopKMaxRows is the largest limit SortLimitToTopK turns into a TopK. Each
// of its merge tasks holds the running K rows and up to K candidates per
// block that came since in memory; above this a Sort, whose
// range-partitioned parts spill, stays.
const TopKMaxRows = 100_000

// TopK is the first K rows of its input ordered by Keys, ties in input
// order: what Sort(Keys).Limit(K) gives, without sorting. Its input is a
// TopKPartial stage, so it only merges the candidates that stage keeps of
// each block. Only the optimizer makes it.
type TopK struct {
	Input Node
	K     int64
	Keys  []blocks.SortKey
	// inRows is the sorted input's row count (-1 when unknown): the
	// partial stage's output count is not known.
	inRows int64
}

func (t *TopK) Name() string               { return "TopK[" + topKArgs(t.K, t.Keys) + "]" }
func (t *TopK) Children() []Node           { return []Node{t.Input} }
func (t *TopK) WithChildren(c []Node) Node { n := *t; n.Input = c[0]; return &n }
func (t *TopK) Schema() *arrow.Schema      { return t.Input.Schema() }
func (t *TopK) Rows() int64 {
	if t.inRows >= 0 {
		return min(t.inRows, t.K)
	}
	return -1
}

func topKArgs(k int64, keys []blocks.SortKey) string {
	names := make([]string, len(keys))
	for i, key := range keys {
		names[i] = key.String()
	}
	return fmt.Sprintf("k=%d; keys=%s", k, strings.Join(names, ", "))
}

// SortLimitToTopK replaces a Limit directly over a Sorter with a TopK over
// a TopKPartial stage on the sort's input: each block keeps its own first
// K rows (a bounded heap, gathering only those rows' columns), and the TopK
// merges them. Run after PushDownLimit, which moves the Limit below
// row-preserving stages (SelectColumns, Map) between it and the sort, the
// rule applies to those plans too.
func SortLimitToTopK(n Node) Node {
	l, ok := n.(*Limit)
	if !ok || l.N > TopKMaxRows {
		return n
	}
	s, ok := l.Input.(Sorter)
	if !ok || len(s.SortedBy()) == 0 || len(s.Children()) != 1 {
		return n
	}
	keys := append([]blocks.SortKey(nil), s.SortedBy()...)
	in := s.Children()[0]
	return &TopK{Input: TopKPartial(in, l.N, keys), K: l.N, Keys: keys, inRows: in.Rows()}
}

// topKPartialKind is the stage kind of TopKPartial.
const topKPartialKind = "ops.topk-partial"

type topKPartialArgs struct {
	K    int64            `json:"k"`
	Keys []blocks.SortKey `json:"keys"`
}

// TopKPartial is the one-to-one stage that keeps the first k rows of each
// block by keys, in order. It fuses with the reads and stages before it.
func TopKPartial(in Node, k int64, keys []blocks.SortKey) *OneToOne {
	return &OneToOne{
		Input:     in,
		Label:     "TopKPartial[" + topKArgs(k, keys) + "]",
		Fn:        topKFn(k, keys),
		OutSchema: func(s *arrow.Schema) (*arrow.Schema, error) { return s, nil },
		Spec:      MustSpec(topKPartialKind, topKPartialArgs{K: k, Keys: keys}),
	}
}

func topKFn(k int64, keys []blocks.SortKey) BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		if in.NumRows() <= k {
			// All are candidates; the merge orders them.
			in.Retain()
			return in, nil
		}
		out, err := blocks.TopK(tc.Alloc, in, keys, int(k))
		if err != nil {
			return nil, fmt.Errorf("top-k: %w", err)
		}
		return out, nil
	}
}

func init() {
	RegisterStage(topKPartialKind, func(args json.RawMessage) (BlockFn, error) {
		var a topKPartialArgs
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return topKFn(a.K, a.Keys), nil
	})
}
