package dataset_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/ci"
	"github.com/shoal-data/shoal/internal/watchdog"
	"github.com/shoal-data/shoal/io/formats"
)

// shipRuntime runs every task that has a spec as another process would:
// the spec goes through JSON and the function is rebuilt by
// exec.BuildTask, replacing the planner's. It counts tasks by whether they
// had a spec, per operator.
type shipRuntime struct {
	*exec.Local
	mu      sync.Mutex
	with    map[string]int
	without map[string]int
	specs   []exec.TaskSpec
}

func newShipRuntime(rt *exec.Local) *shipRuntime {
	return &shipRuntime{Local: rt, with: map[string]int{}, without: map[string]int{}}
}

func (r *shipRuntime) Submit(ctx context.Context, t exec.Task, done func(exec.TaskResult)) {
	r.mu.Lock()
	if t.Spec == nil {
		r.without[t.Operator]++
	} else {
		r.with[t.Operator]++
		r.specs = append(r.specs, *t.Spec)
	}
	r.mu.Unlock()
	if t.Spec != nil {
		run, err := rebuild(*t.Spec)
		if err != nil {
			run = func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) {
				return nil, fmt.Errorf("rebuilding %s task from its spec: %w", t.Operator, err)
			}
		}
		t.Run = run
	}
	r.Local.Submit(ctx, t, done)
}

// StartActor starts actors from their spec, as a node's worker would,
// and counts those that had one.
func (r *shipRuntime) StartActor(ctx context.Context, spec exec.ActorSpec, started func(exec.Actor, error)) {
	r.mu.Lock()
	if spec.Spec == nil {
		r.without["actor "+spec.Operator]++
	} else {
		r.with["actor "+spec.Operator]++
	}
	r.mu.Unlock()
	if spec.Spec != nil {
		data, err := json.Marshal(spec.Spec)
		var back exec.TaskSpec
		if err == nil {
			err = json.Unmarshal(data, &back)
		}
		var newActor func(*exec.ActorContext) (exec.ActorFunc, error)
		if err == nil {
			newActor, err = exec.BuildActor(back)
		}
		if err != nil {
			go started(nil, fmt.Errorf("rebuilding actor from its spec: %w", err))
			return
		}
		spec.New = newActor
	}
	r.Local.StartActor(ctx, spec, started)
}

// rebuild is what a worker does with a spec that crossed the wire.
func rebuild(spec exec.TaskSpec) (exec.RunFunc, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var back exec.TaskSpec
	if err := json.Unmarshal(data, &back); err != nil {
		return nil, err
	}
	return exec.BuildTask(back)
}

func (r *shipRuntime) counts() (with, without int, unshipped []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.with {
		with += n
	}
	for op, n := range r.without {
		without += n
		unshipped = append(unshipped, op)
	}
	sort.Strings(unshipped)
	return with, without, unshipped
}

// Functions the tests register, as a program would at package level.

// newShipActor is an actor constructor.
func newShipActor(*dataset.ActorContext) (dataset.BatchFunc, error) {
	return shipAddKey, nil
}

type offsetArgs struct{ Add int64 }

var shipOffsetActor = dataset.RegisterFactory("ship.offsetActor", func(a offsetArgs) dataset.ActorConstructor {
	return func(*dataset.ActorContext) (dataset.BatchFunc, error) {
		return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
			ids, err := blocks.Column(b, "id")
			if err != nil {
				return nil, err
			}
			bld := array.NewInt64Builder(memory.DefaultAllocator)
			defer bld.Release()
			for i := range ids.Len() {
				bld.Append(ids.(*array.Int64).Value(i) + a.Add)
			}
			col := bld.NewArray()
			defer col.Release()
			return blocks.WithColumn(b, "shifted", col)
		}, nil
	}
})

func shipSquare(r dataset.Row) (dataset.Item, error) {
	x := r.Int64("id")
	return dataset.Item{"id": x, "sq": x * x, "name": fmt.Sprint("n", x%7)}, nil
}

func shipOdd(r dataset.Row) (bool, error) { return r.Int64("id")%2 == 1, nil }

func shipTwice(r dataset.Row) ([]dataset.Item, error) {
	x := r.Int64("id")
	return []dataset.Item{{"id": x}, {"id": -x}}, nil
}

// shipHalf adds "half" = id / 2, null for odd ids.
func shipHalf(in dataset.ColumnSet) (dataset.ColumnSet, error) {
	ids := in.Int64("id")
	half, valid := make([]float64, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		half[i], valid[i] = float64(id)/2, id%2 == 0
	}
	in.SetNullable("half", half, valid)
	return in, nil
}

// shipAddKey adds "k" = id % 5 and "v" = id * 1.5 to each batch.
func shipAddKey(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := blocks.Column(b, "id")
	if err != nil {
		return nil, err
	}
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	defer kb.Release()
	vb := array.NewFloat64Builder(memory.DefaultAllocator)
	defer vb.Release()
	for i := range ids.Len() {
		id := ids.(*array.Int64).Value(i)
		kb.Append(id % 5)
		vb.Append(float64(id) * 1.5)
	}
	k, v := kb.NewArray(), vb.NewArray()
	defer k.Release()
	defer v.Release()
	with, err := blocks.WithColumn(b, "k", k)
	if err != nil {
		return nil, err
	}
	defer with.Release()
	return blocks.WithColumn(with, "v", v)
}

func shipNegID(b arrow.RecordBatch) (arrow.Array, error) {
	ids, err := blocks.Column(b, "id")
	if err != nil {
		return nil, err
	}
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	defer bld.Release()
	for i := range ids.Len() {
		bld.Append(-ids.(*array.Int64).Value(i))
	}
	return bld.NewArray(), nil
}

// shipGroupSize makes one row per group: the key and the group's size.
func shipGroupSize(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	k, err := blocks.Column(b, "k")
	if err != nil {
		return nil, err
	}
	return blocks.FromItems(memory.DefaultAllocator, []dataset.Item{{"k": k.(*array.Int64).Value(0), "n": b.NumRows()}})
}

// scaleArgs are a factory's arguments: what a closure would have captured.
type scaleArgs struct {
	K      int64  `json:"k"`
	Suffix string `json:"suffix"`
}

var shipScale = dataset.RegisterFactory("ship-test.scale", func(a scaleArgs) dataset.BatchFunc {
	return func(b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := blocks.Column(b, "id")
		if err != nil {
			return nil, err
		}
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		defer bld.Release()
		for i := range ids.Len() {
			bld.Append(ids.(*array.Int64).Value(i) * a.K)
		}
		col := bld.NewArray()
		defer col.Release()
		return blocks.WithColumn(b, "scaled"+a.Suffix, col)
	}
})

var shipAbove = dataset.RegisterFactory("ship-test.above", func(min int64) func(dataset.Row) (bool, error) {
	return func(r dataset.Row) (bool, error) { return r.Int64("id") > min, nil }
})

func init() {
	dataset.Register("ship-test.square", shipSquare)
	dataset.Register("ship-test.odd", shipOdd)
	dataset.Register("ship-test.twice", shipTwice)
	dataset.Register("ship-test.add-key", shipAddKey)
	dataset.Register("ship-test.neg-id", shipNegID)
	dataset.Register("ship-test.group-size", shipGroupSize)
	dataset.Register("ship-test.wide", shipWide)
	dataset.Register("ship-test.actor", newShipActor)
	dataset.Register("ship-test.half", shipHalf)
}

// shipFiles writes the inputs of the file reads into dir.
func shipFiles(t *testing.T, dir string) {
	t.Helper()
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	src := dataset.Range(300, dataset.WithRuntime(rt), dataset.WithParallelism(6)).MapBatches(shipAddKey)
	if err := src.WriteParquet(ctx, filepath.Join(dir, "pq"), dataset.ParquetOptions(formats.ParquetOptions{RowGroupRows: 20})); err != nil {
		t.Fatal(err)
	}
	if err := src.WriteParquet(ctx, filepath.Join(dir, "hive"), dataset.PartitionBy("k")); err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("id;city;fare;when\n")
	for i := range 120 {
		city := []string{"Oslo", "Bergen", "NA", "Tromsø"}[i%4]
		fmt.Fprintf(&csv, "%d;%s;%g;2024-01-%02dT10:00:00Z\n", i, city, float64(i)/4, i%28+1)
	}
	if err := os.WriteFile(filepath.Join(dir, "trips.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var js strings.Builder
	for i := range 90 {
		if i%10 == 3 {
			fmt.Fprintf(&js, "{\"id\": %d, \"tag\": null, \"score\": %d}\n", i, i*3)
			continue
		}
		fmt.Fprintf(&js, "{\"id\": %d, \"tag\": \"t%d\", \"score\": %d, \"nested\": {\"a\": %d}}\n", i, i%3, i*3, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(js.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

const shipTestdata = "../../shared/testdata/parquet-testing/data/alltypes_plain.parquet"

type shipCase struct {
	name string
	// build makes the dataset on the runtime opts name.
	build func(ctx context.Context, opts ...dataset.Option) *dataset.Dataset
	// sorted compares the rows as sets: the order is not part of the result.
	sorted bool
	// partial allows tasks without a spec (built-in stages that stay in
	// the driver); otherwise every task must have one.
	partial bool
	// specs, when set, checks the specs of the tasks that ran.
	specs func(t *testing.T, specs []exec.TaskSpec)
}

var shipAt = time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)

// shipWide makes columns of several types for predicates.
func shipWide(r dataset.Row) (dataset.Item, error) {
	id := r.Int64("id")
	it := dataset.Item{"id": id, "k": r.Int64("k"), "v": r.Float64("v"), "s": fmt.Sprint("s", id%9),
		"b": id%3 == 0, "t": shipAt.Add(time.Duration(id) * time.Hour)}
	if id%11 == 0 {
		it["s"] = nil
	}
	return it, nil
}

func readOpts(o []dataset.Option, more ...dataset.ReadOption) []dataset.ReadOption {
	for _, x := range o {
		more = append(more, x)
	}
	return more
}

func named(a dataset.Agg, as string) dataset.Agg {
	return a.As(as)
}

func shipCases(dir string) []shipCase {
	at := shipAt
	rng := func(n int64, p int, opts []dataset.Option) *dataset.Dataset {
		return dataset.Range(n, append(opts, dataset.WithParallelism(p))...)
	}
	return []shipCase{
		{name: "range", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset { return rng(1000, 7, o) }},
		{name: "range-limit", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset { return rng(1000, 7, o).Limit(333) }},
		{name: "map", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).Map(shipSquare)
		}},
		{name: "filter-flatmap", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).Filter(shipOdd).FlatMap(shipTwice)
		}},
		{name: "map-batches-bound", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).MapBatches(shipScale.Bind(scaleArgs{K: 3, Suffix: "_x3"}), dataset.BatchSize(7)).
				MapBatches(shipScale.Bind(scaleArgs{K: -2, Suffix: "_m2"}), dataset.StageName("neg"), dataset.TaskCPUs(0.5))
		}},
		{name: "filter-bound-addcolumn", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).Filter(shipAbove.Bind(123)).AddColumn("neg", shipNegID)
		}},
		{name: "where-exprs", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			d := rng(400, 4, o).MapBatches(shipAddKey).Map(shipWide)
			return d.Where(dataset.Or(
				dataset.And(dataset.Col("k").In(1, 3), dataset.Col("v").Gt(float32(30.5)), dataset.Col("s").IsNotNull()),
				dataset.And(dataset.Col("s").Ne("s4"), dataset.Col("b").Eq(true), dataset.Col("t").Ge(at.Add(50*time.Hour))),
				dataset.Col("s").IsNull(),
				dataset.Col("id").Lt(uint8(5)),
			))
		}},
		{name: "expression-program", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			d := rng(400, 4, o).MapBatches(shipAddKey).Map(shipWide)
			return d.Where(dataset.Col("v").Gt(dataset.Lit(10).Mul(2))).
				WithColumn("w", dataset.Col("v").Cast(arrow.PrimitiveTypes.Float64).Mul(dataset.Col("k").Add(1)).Neg()).
				WithColumn("late", dataset.Col("t").Ge(at.Add(50*time.Hour)).Not()).
				Where(dataset.Col("s").IsNull().Or(dataset.Col("s").Ne("s4"))).
				Select(dataset.Col("id"), dataset.Col("w").Div(dataset.Col("k")).Alias("ratio"), dataset.Col("late"), dataset.Col("id").Mod(7).Alias("m"))
		}},
		{name: "aggregate-expressions", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(3000, 10, o).MapBatches(shipAddKey).GroupBy("k").Aggregate(
				dataset.SumOfExpr(dataset.Col("id").Mul(dataset.Col("v"))).Alias("iv"), dataset.CountOf(dataset.Col("v")),
				dataset.MaxOfExpr(dataset.Col("id").Sub(dataset.Col("k"))))
		}, sorted: true},
		{name: "columns", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(300, 3, o).MapBatches(shipAddKey).RenameColumns(map[string]string{"v": "value"}).
				DropColumns("k").SelectColumns("value", "id")
		}},
		{name: "where-then-select", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(300, 3, o).MapBatches(shipAddKey).Where(dataset.Col("k").Eq(2)).SelectColumns("id")
		}},
		{name: "parquet", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			return dataset.ReadParquet(ctx, filepath.Join(dir, "pq"), readOpts(append(o, dataset.WithParallelism(8)))...)
		}},
		{name: "parquet-projected-filtered", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			return dataset.ReadParquet(ctx, filepath.Join(dir, "pq"), readOpts(append(o, dataset.WithParallelism(8)))...).
				Where(dataset.Col("id").Ge(150)).SelectColumns("v", "id")
		}},
		{name: "parquet-limit", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			return dataset.ReadParquet(ctx, filepath.Join(dir, "pq"), readOpts(append(o, dataset.WithParallelism(8)))...).Limit(37)
		}},
		{name: "parquet-hive", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			return dataset.ReadParquet(ctx, filepath.Join(dir, "hive"), readOpts(append(o, dataset.WithParallelism(8)))...).
				Where(dataset.Col("k").In(0, 4)).SelectColumns("k", "id")
		}, sorted: true},
		{name: "parquet-testdata", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			return dataset.ReadParquet(ctx, shipTestdata, readOpts(o)...).
				Where(dataset.Col("id").Gt(2))
		}},
		{name: "csv", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			ro := []dataset.ReadOption{dataset.CSVOptions(formats.CSVOptions{
				Delimiter:  ';',
				NullValues: []string{"NA"},
				Columns:    map[string]arrow.DataType{"fare": arrow.PrimitiveTypes.Float32},
			}), dataset.BatchRows(16)}
			for _, x := range o {
				ro = append(ro, x)
			}
			return dataset.ReadCSV(ctx, filepath.Join(dir, "trips.csv"), ro...).
				Where(dataset.And(dataset.Col("city").IsNotNull(), dataset.Col("when").Lt(at)))
		}},
		{name: "json", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			ro := []dataset.ReadOption{dataset.JSONOptions(formats.JSONOptions{InferRows: 5,
				Columns: map[string]arrow.DataType{"score": arrow.PrimitiveTypes.Float64}}), dataset.Columns("score", "tag", "id")}
			for _, x := range o {
				ro = append(ro, x)
			}
			return dataset.ReadJSON(ctx, filepath.Join(dir, "rows.jsonl"), ro...)
		}},
		{name: "random-shuffle", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(2000, 12, o).MapBatches(shipAddKey).RandomShuffle(42)
		}},
		{name: "repartition-shuffle-merged", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			// 40 input blocks and 20 partitions: map outputs are merged in groups.
			return rng(4000, 40, o).Repartition(20, dataset.Shuffle(true), dataset.ShuffleSeed(7))
		}},
		{name: "repartition", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(1000, 7, o).Filter(shipOdd).Repartition(3)
		}},
		{name: "randomize-block-order", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(1000, 9, o).RandomizeBlockOrder(3)
		}},
		{name: "sort", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(3000, 10, o).MapBatches(shipAddKey).Sort(dataset.Asc("k"), dataset.Desc("id"))
		}},
		{name: "top-k", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			// The TopKPartial stage fuses into the map tasks; the merge is a task of its own.
			return rng(3000, 10, o).MapBatches(shipAddKey).Sort(dataset.Desc("k"), dataset.Asc("v")).Limit(25)
		}, specs: func(t *testing.T, specs []exec.TaskSpec) {
			partial, merge := false, false
			for _, s := range specs {
				partial = partial || s.Kind == "shoal.fused" && strings.Contains(string(s.Args), "ops.topk-partial")
				merge = merge || s.Kind == "shoal.topk-merge"
			}
			if !partial || !merge {
				t.Errorf("top-k partial stage shipped: %v, merge shipped: %v; want both", partial, merge)
			}
		}},
		{name: "groupby", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(3000, 10, o).MapBatches(shipAddKey).GroupBy("k").Aggregate(
				dataset.CountRows(), dataset.SumOf("id"), dataset.MinOf("v"), dataset.MaxOf("id"),
				dataset.MeanOf("v"), dataset.StdOf("v"), named(dataset.CountRows(), "n"))
		}, sorted: true},
		{name: "groupby-unique-keys", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			// Blocks of unique keys: the map tasks stop pre-aggregating, and
			// later tasks are told so in their specs.
			return rng(30000, 6, o).GroupBy("id").Aggregate(dataset.CountRows(), dataset.SumOf("id"))
		}, sorted: true, specs: func(t *testing.T, specs []exec.TaskSpec) {
			skipped := 0
			for _, s := range specs {
				if (s.Kind == "shoal.exchange-map" || s.Kind == "shoal.exchange-read-map") && strings.Contains(string(s.Args), `"skip":true`) {
					skipped++
				}
			}
			// The driver learns from the maps' outputs (ObserveMap), so the
			// maps dispatched after the first ones ran skip the hash table.
			if skipped == 0 {
				t.Error("no map task was told to skip pre-aggregation")
			}
		}},
		{name: "global-aggregate", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(3000, 10, o).MapBatches(shipAddKey).Aggregate(dataset.SumOf("v"), dataset.CountRows())
		}},
		{name: "map-groups", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(600, 6, o).MapBatches(shipAddKey).GroupBy("k").MapGroups(shipGroupSize)
		}, sorted: true},
		{name: "join", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			left := rng(300, 4, o).MapBatches(shipAddKey)
			right := rng(50, 3, o).Map(shipSquare)
			return left.Join(right, []string{"id"}, dataset.LeftJoin)
		}, sorted: true},
		{name: "join-on", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			// Keys named differently per side; a full join coalesces them.
			left := rng(300, 4, o).MapBatches(shipAddKey)
			right := rng(50, 3, o).Map(shipSquare).RenameColumns(map[string]string{"id": "key"})
			return left.JoinOn(right, []string{"k"}, []string{"key"}, dataset.FullJoin)
		}, sorted: true},
		{name: "map-columns", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).MapColumns(shipHalf, dataset.BatchSize(64))
		}},
		{name: "zip", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(500, 5, o).Zip(rng(500, 3, o).AddColumn("neg", shipNegID))
		}},
		{name: "union", build: func(_ context.Context, o ...dataset.Option) *dataset.Dataset {
			return rng(100, 2, o).Union(rng(50, 3, o).Map(shipSquare).SelectColumns("id"))
		}},
		{name: "pipeline", build: func(ctx context.Context, o ...dataset.Option) *dataset.Dataset {
			// Parquet -> MapBatches(registered) -> Where -> RandomShuffle -> GroupBy.
			return dataset.ReadParquet(ctx, filepath.Join(dir, "pq"), readOpts(append(o, dataset.WithParallelism(8)))...).
				MapBatches(shipScale.Bind(scaleArgs{K: 10})).
				Where(dataset.Col("v").Gt(12.0)).
				RandomShuffle(5).
				GroupBy("k").Aggregate(dataset.CountRows(), dataset.SumOf("scaled"), dataset.MeanOf("v"))
		}, sorted: true},
	}
}

// TestShippedTasksMatchLocal runs datasets of every kind that has specs
// twice: on the local runtime, and with every task that has a spec rebuilt
// from it as a worker would. The results must be equal, and the tasks
// must have had specs.
func TestShippedTasksMatchLocal(t *testing.T) {
	dir := t.TempDir()
	shipFiles(t, dir)
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	for _, c := range shipCases(dir) {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "parquet-testdata" {
				if _, err := os.Stat(shipTestdata); err != nil {
					ci.Missing(t, fmt.Sprintf("no shared test data (../shared/testdata beside the checkout): %v", err))
				}
			}
			plain := setup(t)
			want := must(c.build(ctx, plain.opt()).TakeAll(ctx))(t)

			env := setup(t)
			rt := newShipRuntime(env.rt)
			ds := c.build(ctx, dataset.WithRuntime(rt))
			if err := dataset.CheckShippable(ds); err != nil && !c.partial {
				t.Fatalf("CheckShippable: %v", err)
			}
			got := must(ds.TakeAll(ctx))(t)
			if c.sorted {
				sortItems(want)
				sortItems(got)
			}
			if len(got) != len(want) {
				t.Fatalf("shipped run gave %d rows, local %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d: shipped %v, local %v", i, got[i], want[i])
				}
			}
			with, without, ops := rt.counts()
			t.Logf("%d tasks with specs, %d without %v", with, without, ops)
			if with == 0 {
				t.Fatalf("no task had a spec (%d without: %v)", without, ops)
			}
			if !c.partial && without > 0 {
				t.Fatalf("%d of %d tasks had no spec: %v", without, with+without, ops)
			}
			if c.specs != nil {
				c.specs(t, rt.specs)
			}
		})
	}
}

func sortItems(items []dataset.Item) {
	keys := make(map[*dataset.Item]string, len(items))
	for i := range items {
		keys[&items[i]] = fmt.Sprint(items[i])
	}
	sorted := make([]string, len(items))
	byKey := make(map[string][]dataset.Item, len(items))
	for i := range items {
		k := keys[&items[i]]
		sorted[i] = k
		byKey[k] = append(byKey[k], items[i])
	}
	sort.Strings(sorted)
	for i, k := range sorted {
		items[i] = byKey[k][0]
		byKey[k] = byKey[k][1:]
	}
}

// TestShippedActors: the actors of MapBatchesWithActors over a registered
// constructor, or one a factory made, are started from their specs and
// give what the local run gives; an unregistered constructor is named.
func TestShippedActors(t *testing.T) {
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	build := func(opt dataset.Option) *dataset.Dataset {
		return dataset.Range(5000, opt, dataset.WithParallelism(10)).
			MapBatchesWithActors(newShipActor, dataset.Actors(2, 2), dataset.ActorCPUs(0.5), dataset.BatchSize(300)).
			MapBatchesWithActors(shipOffsetActor.Bind(offsetArgs{Add: 1000}), dataset.Actors(1, 1), dataset.ActorCPUs(0.5))
	}
	plain := setup(t)
	want := must(build(plain.opt()).TakeAll(ctx))(t)
	env := setup(t)
	rt := newShipRuntime(env.rt)
	ds := build(dataset.WithRuntime(rt))
	if err := dataset.CheckShippable(ds); err != nil {
		t.Fatal(err)
	}
	got := must(ds.TakeAll(ctx))(t)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("actors started from specs gave %d rows (first %v), local %d (first %v)", len(got), got[0], len(want), want[0])
	}
	if got[7]["shifted"] != int64(1007) {
		t.Errorf("row 7: %v, want shifted 1007", got[7])
	}
	rt.mu.Lock()
	for op, n := range rt.without {
		if strings.HasPrefix(op, "actor ") {
			t.Errorf("%d actors of %s had no spec", n, op)
		}
	}
	actors := 0
	for op, n := range rt.with {
		if strings.HasPrefix(op, "actor ") {
			actors += n
		}
	}
	rt.mu.Unlock()
	if actors < 3 {
		t.Errorf("%d actors had specs, want at least 3", actors)
	}

	unregistered := dataset.Range(10, env.opt()).MapBatchesWithActors(func(*dataset.ActorContext) (dataset.BatchFunc, error) { return shipAddKey, nil })
	err := dataset.CheckShippable(unregistered)
	if err == nil || !strings.Contains(err.Error(), "MapBatchesWithActors") || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("an unregistered constructor: %v", err)
	}
}

// TestShippedConsumerAggregates covers the partial aggregation stage of
// Sum, Mean and Std.
func TestShippedConsumerAggregates(t *testing.T) {
	env := setup(t)
	rt := newShipRuntime(env.rt)
	ds := dataset.Range(1000, dataset.WithRuntime(rt), dataset.WithParallelism(6)).MapBatches(shipAddKey)
	sum := must(ds.Sum(env.ctx, "id"))(t)
	mean := must(ds.Mean(env.ctx, "v"))(t)
	std := must(ds.Std(env.ctx, "v"))(t)
	if sum.Int64() != 999*1000/2 || math.Abs(mean-1.5*999/2) > 1e-9 || std <= 0 {
		t.Fatalf("sum %v mean %v std %v", sum, mean, std)
	}
	if _, without, ops := rt.counts(); without > 0 {
		t.Fatalf("tasks without specs: %v", ops)
	}
}

// TestUnregisteredFunctionStaysInDriver checks that a stage over a
// function that is not registered gets no spec, runs where it was planned,
// and that CheckShippable names it.
func TestUnregisteredFunctionStaysInDriver(t *testing.T) {
	env := setup(t)
	rt := newShipRuntime(env.rt)
	ds := dataset.Range(100, dataset.WithRuntime(rt), dataset.WithParallelism(2)).Map(shipSquare).MapBatches(unregisteredBatch)
	err := dataset.CheckShippable(ds)
	want := `dataset: MapBatches(dataset_test.unregisteredBatch) cannot run on the cluster: the function is not registered; call dataset.Register("unregisteredBatch", unregisteredBatch) at package level`
	if err == nil || err.Error() != want {
		t.Fatalf("CheckShippable:\n got %v\nwant %s", err, want)
	}
	if n := must(ds.Count(env.ctx))(t); n != 100 {
		t.Fatalf("count %d", n)
	}
	if _, without, _ := rt.counts(); without == 0 {
		t.Fatal("the unregistered stage's tasks had specs")
	}
	if err := dataset.CheckShippable(dataset.Range(10, env.opt()).Map(shipSquare).Filter(shipAbove.Bind(3))); err != nil {
		t.Fatalf("registered functions: %v", err)
	}
}

func unregisteredBatch(b arrow.RecordBatch) (arrow.RecordBatch, error) { return b, nil }

type madeScale struct{ k int64 }

func (m madeScale) apply(r dataset.Row) (dataset.Item, error) {
	return dataset.Item{"x": r.Int64("id") * m.k}, nil
}

// makeAdder is not inlined, so its closures share one code pointer
// (inlined copies of a closure have code of their own, which is never
// mistaken for the registered one either).
//
//go:noinline
func makeAdder(k int64) func(dataset.Row) (dataset.Item, error) {
	return func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"x": r.Int64("id") + k}, nil }
}

var addTwo = makeAdder(2)

func init() { dataset.Register("ship-test.add-two", addTwo) }

func TestCheckShippableClosures(t *testing.T) {
	env := setup(t)
	base := dataset.Range(10, env.opt())
	// The registered closure itself ships.
	if err := dataset.CheckShippable(base.Map(addTwo)); err != nil {
		t.Fatalf("registered closure: %v", err)
	}
	// Another closure of the same code does not: its k could differ.
	err := dataset.CheckShippable(base.Map(makeAdder(3)))
	if err == nil || !strings.Contains(err.Error(), `registered as "ship-test.add-two", but this is another closure`) {
		t.Fatalf("closure of registered code: %v", err)
	}
	err = dataset.CheckShippable(base.Filter(func(dataset.Row) (bool, error) { return true, nil }))
	if err == nil || !strings.Contains(err.Error(), "closure or method value") || !strings.Contains(err.Error(), "RegisterFactory") {
		t.Fatalf("literal: %v", err)
	}
	err = dataset.CheckShippable(base.Map(madeScale{k: 2}.apply))
	if err == nil || !strings.Contains(err.Error(), "closure or method value") {
		t.Fatalf("method value: %v", err)
	}
	// The first unregistered stage is named, sources first.
	err = dataset.CheckShippable(base.Map(makeAdder(4)).Map(shipSquare).FlatMap(func(dataset.Row) ([]dataset.Item, error) { return nil, nil }))
	if err == nil || !strings.HasPrefix(err.Error(), "dataset: Map(dataset_test.makeAdder.func1) cannot run") {
		t.Fatalf("first stage: %v", err)
	}
	// MapGroups' function counts too.
	err = dataset.CheckShippable(base.GroupBy("id").MapGroups(unregisteredBatch))
	if err == nil || !strings.Contains(err.Error(), "MapGroups(dataset_test.unregisteredBatch)") {
		t.Fatalf("MapGroups: %v", err)
	}
}

type badArgs struct{ Ch chan int }

var shipBad = dataset.RegisterFactory("ship-test.bad", func(badArgs) func(dataset.Row) (bool, error) {
	return func(dataset.Row) (bool, error) { return true, nil }
})

func TestBindArgumentsMustEncode(t *testing.T) {
	env := setup(t)
	ds := dataset.Range(10, env.opt()).Filter(shipBad.Bind(badArgs{Ch: make(chan int)}))
	err := dataset.CheckShippable(ds)
	if err == nil || !strings.Contains(err.Error(), `factory "ship-test.bad"`) || !strings.Contains(err.Error(), "Filter(ship-test.bad)") {
		t.Fatalf("CheckShippable: %v", err)
	}
	if n := must(ds.Count(env.ctx))(t); n != 10 {
		t.Fatalf("the function still runs locally: count %d", n)
	}
}

type hiddenArgs struct {
	K      int64
	hidden int64 // not encoded: a worker would not see it
}

var shipHidden = dataset.RegisterFactory("ship-test.hidden", func(a hiddenArgs) func(dataset.Row) (dataset.Item, error) {
	return func(r dataset.Row) (dataset.Item, error) { return dataset.Item{"x": a.K + a.hidden}, nil }
})

// TestBindUsesDecodedArguments checks that what runs locally is what a
// worker would run: the factory gets the arguments back from JSON.
func TestBindUsesDecodedArguments(t *testing.T) {
	env := setup(t)
	got := must(dataset.Range(1, env.opt()).Map(shipHidden.Bind(hiddenArgs{K: 1, hidden: 100})).TakeAll(env.ctx))(t)
	if got[0]["x"] != int64(1) {
		t.Fatalf("got %v, want x=1 (the unexported field does not travel)", got)
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"duplicate", func() { dataset.Register("ship-test.square", shipOdd) }},
		{"duplicate-factory", func() {
			dataset.RegisterFactory("ship-test.odd", func(int) func(dataset.Row) (bool, error) { return nil })
		}},
		{"empty", func() { dataset.Register("", shipOdd) }},
		{"nil", func() { dataset.Register("ship-test.nil", nil) }},
		{"nil-func", func() { dataset.Register("ship-test.nil-func", (func())(nil)) }},
		{"not-func", func() { dataset.Register("ship-test.int", 3) }},
		{"factory-type", func() { dataset.RegisterFactory("ship-test.f", func(int) func() { return nil }) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.fn()
		})
	}
}

// TestShippedWrite: a file write's tasks carry specs (the sink travels as
// data; Start and Commit stay in the driver), and what they write, rebuilt
// from the spec, is what a local write writes.
func TestShippedWrite(t *testing.T) {
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	env := setup(t)
	rt := newShipRuntime(env.rt)
	dir := t.TempDir()
	for _, format := range []string{"parquet", "csv", "json"} {
		out := filepath.Join(dir, format)
		ds := dataset.Range(3000, dataset.WithRuntime(rt), dataset.WithParallelism(6)).Map(shipSquare)
		var err error
		switch format {
		case "parquet":
			err = ds.WriteParquet(ctx, out, dataset.PartitionBy("name"))
		case "csv":
			err = ds.WriteCSV(ctx, out)
		case "json":
			err = ds.WriteJSON(ctx, out)
		}
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		var back *dataset.Dataset
		switch format {
		case "parquet":
			back = dataset.ReadParquet(ctx, out, env.opt())
		case "csv":
			back = dataset.ReadCSV(ctx, out, env.opt())
		case "json":
			back = dataset.ReadJSON(ctx, out, env.opt())
		}
		n, err := back.Count(ctx)
		if err != nil || n != 3000 {
			t.Fatalf("%s: read back %d rows, %v", format, n, err)
		}
		sum, err := back.Sum(ctx, "sq")
		if err != nil || sum.Int64() != 8995500500 {
			t.Fatalf("%s: sum of sq %v, %v", format, sum, err)
		}
	}
	_, without, ops := rt.counts()
	if without > 0 {
		t.Fatalf("%d tasks of the writes had no spec: %v", without, ops)
	}
}
