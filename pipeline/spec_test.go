package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// shipRuntime rebuilds every task that has a spec from the spec, after a
// trip through JSON, as a worker would, and counts the tasks by kind.
type shipRuntime struct {
	exec.Runtime
	mu      sync.Mutex
	kinds   map[string]int
	without []string
}

func (r *shipRuntime) Submit(ctx context.Context, t exec.Task, done func(exec.TaskResult)) {
	r.mu.Lock()
	if t.Spec == nil {
		r.without = append(r.without, t.Operator)
	} else {
		r.kinds[t.Spec.Kind]++
	}
	r.mu.Unlock()
	if t.Spec != nil {
		data, err := json.Marshal(t.Spec)
		var spec exec.TaskSpec
		if err == nil {
			err = json.Unmarshal(data, &spec)
		}
		var run exec.RunFunc
		if err == nil {
			run, err = exec.BuildTask(spec)
		}
		if err != nil {
			run = func(*exec.TaskContext, []blocks.Block) ([]blocks.Block, error) { return nil, err }
		}
		t.Run = run
	}
	r.Runtime.Submit(ctx, t, done)
}

const (
	idsReadKind = "pipeline-test.ids"
	addKind     = "pipeline-test.add"
	modKind     = "pipeline-test.mod"
	rankKind    = "pipeline-test.rank"
	sidesKind   = "pipeline-test.sides"
)

// specDatasource is testSource with specs: block i holds ids
// i*rows..(i+1)*rows-1.
type specDatasource struct{ n, rows int64 }

type idsArgs struct{ Lo, Hi int64 }

func idsRead(a idsArgs) ops.ReadFunc {
	return func(tc *exec.TaskContext) ([]blocks.Block, error) {
		return []blocks.Block{idBlock(tc.Alloc, a.Lo, a.Hi)}, nil
	}
}

func (s *specDatasource) Name() string          { return "Ids" }
func (s *specDatasource) Schema() *arrow.Schema { return idSchema }
func (s *specDatasource) NumRows() int64        { return s.n * s.rows }
func (s *specDatasource) ReadTasks(int) ([]ops.ReadTask, error) {
	tasks := make([]ops.ReadTask, s.n)
	for i := range s.n {
		a := idsArgs{i * s.rows, (i + 1) * s.rows}
		tasks[i] = ops.ReadTask{Rows: s.rows, Bytes: 8 * s.rows, Read: idsRead(a), Spec: ops.MustSpec(idsReadKind, a)}
	}
	return tasks, nil
}

// addFn adds k to every id.
func addFn(k int64) ops.BlockFn {
	return func(tc *exec.TaskContext, in blocks.Block) (blocks.Block, error) {
		ids, err := blocks.Values[int64](in.Column(0))
		if err != nil {
			return nil, err
		}
		b := make([]int64, len(ids))
		for i, v := range ids {
			b[i] = v + k
		}
		return idsBlock(tc, b), nil
	}
}

func idsBlock(tc *exec.TaskContext, ids []int64) blocks.Block {
	b := array.NewInt64Builder(tc.Alloc)
	defer b.Release()
	b.AppendValues(ids, nil)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(idSchema, []arrow.Array{col}, int64(len(ids)))
}

func addStage(k int64) *ops.OneToOne {
	return &ops.OneToOne{Label: fmt.Sprintf("Add(%d)", k), PreservesRows: true, Fn: addFn(k), Spec: ops.MustSpec(addKind, k)}
}

// rankFuncs is an exchange with a prepared state: each map adds the number
// of sampled rows (the state's row count) to its ids before routing them
// by id mod n.
func rankFuncs() ExchangeFuncs {
	mod := modExchange(nil, 0)
	return ExchangeFuncs{
		Sample: func(tc *exec.TaskContext, b blocks.Block) (blocks.Block, error) {
			return blocks.Slice(b, 0, min(3, b.NumRows())), nil
		},
		Prepare: func(tc *exec.TaskContext, samples []blocks.Block, _ int) (blocks.Block, error) {
			return blocks.Concat(tc.Alloc, samples)
		},
		Map: func(tc *exec.TaskContext, i int, b, state blocks.Block, n int) ([]blocks.Block, error) {
			shifted, err := addFn(state.NumRows())(tc, b)
			if err != nil {
				return nil, err
			}
			defer shifted.Release()
			return mod.Map(tc, i, shifted, nil, n)
		},
		Reduce: mod.Reduce,
	}
}

// sidesFuncs routes both sides by id mod n; reduce j outputs side 0's ids,
// then side 1's negated.
func sidesFuncs() ExchangeFuncs {
	mod := modExchange(nil, 0)
	return ExchangeFuncs{
		MapSide: func(tc *exec.TaskContext, _, i int, b blocks.Block, n int) ([]blocks.Block, error) {
			return mod.Map(tc, i, b, nil, n)
		},
		ReduceSides: func(tc *exec.TaskContext, j int, parts [][]blocks.Block) ([]blocks.Block, error) {
			var ids []int64
			for side, ps := range parts {
				for _, p := range ps {
					vals, err := blocks.Values[int64](p.Column(0))
					if err != nil {
						return nil, err
					}
					for _, v := range vals {
						ids = append(ids, v*int64(1-2*side))
					}
				}
			}
			return []blocks.Block{idsBlock(tc, ids)}, nil
		},
	}
}

func init() {
	ops.RegisterRead(idsReadKind, func(data json.RawMessage) (ops.ReadFunc, error) {
		a, err := decode[idsArgs](data)
		return idsRead(a), err
	})
	ops.RegisterStage(addKind, func(data json.RawMessage) (ops.BlockFn, error) {
		k, err := decode[int64](data)
		return addFn(k), err
	})
	RegisterExchange(modKind, func(json.RawMessage) (ExchangeFuncs, error) {
		x := modExchange(nil, 0)
		return ExchangeFuncs{Map: x.Map, Reduce: x.Reduce}, nil
	})
	RegisterExchange(rankKind, func(json.RawMessage) (ExchangeFuncs, error) { return rankFuncs(), nil })
	RegisterExchange(sidesKind, func(json.RawMessage) (ExchangeFuncs, error) { return sidesFuncs(), nil })
}

func withSpec(x *Exchange, kind string) *Exchange {
	x.Spec = ConstSpec(&ops.Spec{Kind: kind})
	return x
}

// TestTaskSpecsRebuildTheSameTasks runs plans of every task kind twice,
// with the planner's functions and with the ones built from the tasks'
// specs, and compares the outputs.
func TestTaskSpecsRebuildTheSameTasks(t *testing.T) {
	read := func(n, rows int64) ops.Node { return &ops.Read{Source: &specDatasource{n, rows}} }
	chain := func(in ops.Node, stages ...*ops.OneToOne) ops.Node {
		for _, s := range stages {
			c := *s
			c.Input = in
			in = &c
		}
		return in
	}
	batched := addStage(3)
	batched.BatchRows = 250
	for _, c := range []struct {
		name  string
		plan  func() ops.Node
		kinds []string
	}{
		{"read-fused", func() ops.Node { return chain(read(10, 100), addStage(1), addStage(2)) }, []string{FusedTaskKind}},
		{"map-batched", func() ops.Node { return chain(read(10, 100), batched, addStage(-4)) }, []string{FusedTaskKind}},
		{"exchange-fused-merged", func() ops.Node {
			x := withSpec(modExchange(chain(read(40, 50), addStage(5)), 20), modKind)
			return x
		}, []string{FusedTaskKind, ExchangeMapKind, ExchangeMergeKind, ExchangeReduceKind}},
		{"exchange-sampled", func() ops.Node {
			f := rankFuncs()
			return withSpec(&Exchange{Input: read(9, 70), Label: "Rank", Sample: f.Sample, Prepare: f.Prepare, Map: f.Map, Reduce: f.Reduce, KeepsRows: true}, rankKind)
		}, []string{ExchangeSampleKind, ExchangePrepareKind, ExchangeMapKind, ExchangeReduceKind}},
		{"exchange-sides", func() ops.Node {
			f := sidesFuncs()
			return withSpec(&Exchange{Input: read(5, 30), More: []ops.Node{read(3, 20)}, Label: "Sides", Partitions: 4,
				MapSide: f.MapSide, ReduceSides: f.ReduceSides}, sidesKind)
		}, []string{ExchangeMapKind, ExchangeReduceKind}},
		{"repartition", func() ops.Node { return &ops.Repartition{Input: read(6, 33), N: 4} }, []string{RepartitionTaskKind}},
		{"repartition-empty", func() ops.Node { return &ops.Repartition{Input: read(0, 33), N: 2} }, []string{RepartitionTaskKind}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			want, err := collect(t, ctx, newRuntime(t), c.plan(), Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rt := &shipRuntime{Runtime: newRuntime(t), kinds: map[string]int{}}
			got, err := collect(t, ctx, rt, c.plan(), Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("rebuilt tasks give %v\nwant %v", got, want)
			}
			if len(rt.without) > 0 {
				t.Fatalf("tasks without specs: %v", rt.without)
			}
			for _, k := range c.kinds {
				if rt.kinds[k] == 0 {
					t.Errorf("no %s task ran (ran %v)", k, rt.kinds)
				}
			}
		})
	}
}

// TestTaskSpecsNeedEveryStage: a chain with a stage that has no spec gives
// tasks without one, which run as planned.
func TestTaskSpecsNeedEveryStage(t *testing.T) {
	plan := &ops.OneToOne{Label: "Id", Input: addStage(1), Fn: identity("Id", 0).Fn}
	plan.Input.(*ops.OneToOne).Input = &ops.Read{Source: &specDatasource{4, 10}}
	rt := &shipRuntime{Runtime: newRuntime(t), kinds: map[string]int{}}
	ids, err := collect(t, context.Background(), rt, plan, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 40 || ids[0] != 1 || len(rt.without) != 4 || len(rt.kinds) != 0 {
		t.Fatalf("ids %v, tasks without specs %v, with %v", ids, rt.without, rt.kinds)
	}
}

func TestBuildTaskErrors(t *testing.T) {
	for _, spec := range []exec.TaskSpec{
		{Kind: FusedTaskKind, Args: []byte(`{`)},
		{Kind: FusedTaskKind, Args: []byte(`{}`)},
		{Kind: FusedTaskKind, Args: []byte(`{"stages":[{"label":"X","spec":{"kind":"pipeline-test.none"}}]}`)},
		{Kind: FusedTaskKind, Args: []byte(`{"read":{"kind":"pipeline-test.none"}}`)},
		{Kind: ExchangeMapKind, Args: []byte(`{"x":{"kind":"pipeline-test.none"}}`)},
		{Kind: ExchangeSampleKind, Args: []byte(`{"x":{"kind":"pipeline-test.mod"}}`)},
		{Kind: ExchangePrepareKind, Args: []byte(`{"x":{"kind":"pipeline-test.sides"}}`)},
		{Kind: ExchangeReduceKind, Args: []byte(`{"x":{"kind":"pipeline-test.sides"}}`)},
		{Kind: RepartitionTaskKind, Args: []byte(`{"from":[1],"to":[]}`)},
	} {
		if _, err := exec.BuildTask(spec); err == nil {
			t.Errorf("%s %s built", spec.Kind, spec.Args)
		}
	}
}
