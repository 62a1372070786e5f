package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

func rowsOf(items []dataset.Item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it["row"].(int64)
	}
	return out
}

// TestTopKMatchesSortLimit runs Sort(keys).Limit(k) over random ints,
// floats (NaN, ±Inf), strings and nulls, with one to three keys of mixed
// directions, many duplicate keys, k from 0 to past the input and uneven
// blocks: with SortLimitToTopK (the plan shows a TopK) it gives exactly the
// first k rows of a stable sort, and without it (a full sort) the same.
func TestTopKMatchesSortLimit(t *testing.T) {
	e := setup(t)
	off := dataset.WithOptimizerRules(ops.DefaultRulesWithout(ops.SortLimitToTopK)...)
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 14))
		n := rng.IntN(300)
		items := randomSortItems(rng, n, seed%4 == 0)
		for _, it := range items {
			if rng.IntN(15) == 0 {
				it["f"] = math.Inf(1)
			}
		}
		keys := randomSortKeys(rng)
		want := refSortItems(items, keys)
		nblocks := 1 + rng.IntN(8)
		for _, k := range []int64{0, 1, int64(rng.IntN(20)), int64(n), int64(n) + 7} {
			if n == 0 {
				continue // FromItems of nothing has no schema to sort by
			}
			name := fmt.Sprintf("seed %d, %d rows in %d blocks, keys %v, k=%d", seed, n, nblocks, keys, k)
			on := dataset.FromItems(items, e.par(nblocks)...).Sort(keys...).Limit(k)
			if ex := on.Explain(); !strings.Contains(ex, fmt.Sprintf("TopK[k=%d; keys=", k)) || strings.Contains(ex[strings.Index(ex, "-- optimized"):], "Sort(") {
				t.Fatalf("%s: the optimized plan is not a top-k:\n%s", name, ex)
			}
			got, err := on.TakeAll(e.ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantRows := rowsOf(want[:min(int(k), n)])
			if rows := rowsOf(got); !slices.Equal(rows, wantRows) {
				t.Fatalf("%s: top-k rows %v, want %v", name, rows, wantRows)
			}
			full := dataset.FromItems(items, append(e.par(nblocks), off)...).Sort(keys...).Limit(k)
			if ex := full.Explain(); strings.Contains(ex, "TopK") {
				t.Fatalf("%s: the rule is off but the plan has a TopK:\n%s", name, ex)
			}
			fullGot, err := full.TakeAll(e.ctx)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if rows := rowsOf(fullGot); !slices.Equal(rows, wantRows) {
				t.Fatalf("%s: sort+limit rows %v, want %v", name, rows, wantRows)
			}
		}
	}
}

// TestTopKMergesAsCandidatesArrive: over many blocks the TopK merges the
// candidates into a running top k in several tasks while the blocks are
// still being read, not in one task at the end, ties across merges still
// in input order; its stats count what came from its input and the k rows
// it gave, not the running result it merged again.
func TestTopKMergesAsCandidatesArrive(t *testing.T) {
	e := setup(t)
	const n, nblocks, k = 3000, 60, 40
	items := make([]dataset.Item, n)
	for i := range items {
		items[i] = dataset.Item{"row": int64(i), "k": int64(i % 3), "f": float64(i%7) / 2}
	}
	keys := []dataset.SortKey{dataset.Asc("k"), dataset.Desc("f")}
	d := dataset.FromItems(items, e.par(nblocks)...).Sort(keys...).Limit(k)
	got, err := d.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rows, want := rowsOf(got), rowsOf(refSortItems(items, keys)[:k]); !slices.Equal(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	found := false
	for _, o := range d.Stats().Operators {
		if strings.HasPrefix(o.Name, "TopK[") {
			found = true
			if o.Tasks < 2 {
				t.Errorf("%d merge tasks over %d blocks, want a merge per batch of candidates", o.Tasks, nblocks)
			}
			if o.RowsOut != k || o.BlocksOut != 1 {
				t.Errorf("TopK gave %d rows in %d blocks, want %d in 1", o.RowsOut, o.BlocksOut, k)
			}
			if o.RowsIn > nblocks*k || o.RowsIn < k {
				t.Errorf("TopK took %d rows in, want at most %d candidates (%d per block)", o.RowsIn, nblocks*k, k)
			}
		}
	}
	if !found {
		t.Fatalf("no TopK operator in the run:\n%v", d.Stats())
	}
}

// TestTopKThroughRowPreservingStage: a column selection between the sort
// and the limit still gives a top-k, with the selection's columns.
func TestTopKThroughRowPreservingStage(t *testing.T) {
	e := setup(t)
	var items []dataset.Item
	for i := range 500 {
		items = append(items, dataset.Item{"row": int64(i), "v": float64((i * 37) % 101), "pad": "x"})
	}
	d := dataset.FromItems(items, e.par(5)...).Sort(dataset.Desc("v")).SelectColumns("row", "v").Limit(4)
	ex := d.Explain()
	opt := ex[strings.Index(ex, "-- optimized"):strings.Index(ex, "-- physical")]
	if !strings.Contains(opt, "TopK[k=4; keys=v desc]") || strings.Contains(opt, "Sort(") {
		t.Fatalf("no top-k in the optimized plan:\n%s", ex)
	}
	got, err := d.TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// v = 100 at rows i with 37i ≡ 100 (mod 101), then 99, ...; ties in row order.
	var want []int64
	for v := 100; len(want) < 4; v-- {
		for i := range 500 {
			if (i*37)%101 == v && len(want) < 4 {
				want = append(want, int64(i))
			}
		}
	}
	if rows := rowsOf(got); !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if len(got) > 0 && len(got[0]) != 2 {
		t.Errorf("columns %v, want row and v", got[0])
	}
}

// countingSource is tasks read tasks of rows rows each, numbered by "id"
// across tasks; reads counts the tasks that ran. With stall set, the read
// tasks from stallFrom on close stall (once) and wait for their context's
// end instead of reading.
type countingSource struct {
	tasks, rows int
	reads       atomic.Int64
	stallFrom   int
	stall       chan struct{}
	stallOnce   sync.Once
}

var countingSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

func (s *countingSource) Name() string          { return "Counting" }
func (s *countingSource) Schema() *arrow.Schema { return countingSchema }
func (s *countingSource) NumRows() int64        { return int64(s.tasks * s.rows) }
func (s *countingSource) ReadTasks(int) ([]ops.ReadTask, error) {
	out := make([]ops.ReadTask, s.tasks)
	for i := range out {
		out[i] = ops.ReadTask{Rows: int64(s.rows), Bytes: int64(8 * s.rows), Read: func(tc *exec.TaskContext) ([]blocks.Block, error) {
			s.reads.Add(1)
			if s.stall != nil && i >= s.stallFrom {
				s.stallOnce.Do(func() { close(s.stall) })
				<-tc.Done()
				return nil, tc.Err()
			}
			b := array.NewInt64Builder(tc.Alloc)
			defer b.Release()
			for r := range s.rows {
				b.Append(int64(i*s.rows + r))
			}
			col := b.NewArray()
			defer col.Release()
			return []blocks.Block{array.NewRecordBatch(countingSchema, []arrow.Array{col}, int64(s.rows))}, nil
		}}
	}
	return out, nil
}

// TestLimitAfterWhereStopsReading: once a Limit after a Where has its rows,
// no further read tasks start, so a large source is barely read.
func TestLimitAfterWhereStopsReading(t *testing.T) {
	e := setup(t)
	src := &countingSource{tasks: 2000, rows: 100}
	got, err := dataset.ReadDatasource(src, e.opt()).Where(dataset.Col("id").Ge(int64(150))).Limit(25).TakeAll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 || got[0]["id"] != int64(150) || got[24]["id"] != int64(174) {
		t.Fatalf("got %d rows from %v to %v, want ids 150..174", len(got), got[0], got[len(got)-1])
	}
	// The executor runs a bounded number of reads ahead of the limit; far
	// fewer than the source's 2000.
	if n := src.reads.Load(); n > 100 {
		t.Errorf("%d of 2000 read tasks ran for 25 rows", n)
	}
}

// TestTopKCancelled: a top-k cancelled while it holds a running top k and
// candidates not merged yet ends with the context's error and releases
// every block it held: the store holds none once the run has returned.
func TestTopKCancelled(t *testing.T) {
	e := setup(t)
	src := &countingSource{tasks: 200, rows: 100, stallFrom: 40, stall: make(chan struct{})}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() {
		select {
		case <-src.stall:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := dataset.ReadDatasource(src, e.opt()).Sort(dataset.Desc("id")).Limit(5).TakeAll(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if st := e.rt.Stats(); st.Objects != 0 {
		t.Errorf("the store still holds %d blocks after the cancelled run: %v", st.Objects, st)
	}
}
