package dataset_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/watchdog"
)

func joinItems(rng *rand.Rand, n int, valName string, keyRange int) []dataset.Item {
	items := make([]dataset.Item, n)
	for i := range items {
		var k any = int64(rng.IntN(keyRange))
		if rng.IntN(12) == 0 {
			k = nil
		}
		var s any = []string{"a", "b"}[rng.IntN(2)]
		items[i] = dataset.Item{"k": k, "s": s, valName: int64(i), "x": int64(rng.IntN(5))}
	}
	return items
}

func TestJoinMatchesReference(t *testing.T) {
	e := setup(t)
	kinds := []dataset.JoinKind{dataset.InnerJoin, dataset.LeftJoin, dataset.RightJoin, dataset.FullJoin, dataset.SemiJoin, dataset.AntiJoin}
	for seed := range uint64(24) {
		rng := rand.New(rand.NewPCG(seed, 3))
		keyRange := []int{1, 5, 50, 1000}[seed%4] // one key, few, many, nearly distinct
		left := joinItems(rng, 1+rng.IntN(150), "lv", keyRange)
		right := joinItems(rng, 1+rng.IntN(150), "rv", keyRange)
		on := []string{"k"}
		if seed%3 == 0 {
			on = []string{"k", "x"}
		}
		for _, kind := range kinds {
			l := dataset.FromItems(left, e.par(1+rng.IntN(6))...).SelectColumns("k", "lv", "x")
			r := dataset.FromItems(right, e.par(1+rng.IntN(6))...).SelectColumns("k", "rv", "x")
			rows, err := l.Join(r, on, kind).TakeAll(e.ctx)
			if err != nil {
				t.Fatalf("seed %d %s: %v", seed, kind, err)
			}
			got, want := renderItems(rows), refJoin(left, right, []string{"k", "lv", "x"}, []string{"k", "rv", "x"}, on, on, kind)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d %s join on %v: %d rows, want %d\ngot  %v\nwant %v", seed, kind, on, len(got), len(want), head(got), head(want))
			}
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func TestJoinErrors(t *testing.T) {
	e := setup(t)
	other := exec.NewLocal(exec.WithWorkers(1))
	defer other.Close()
	l := dataset.FromItems([]dataset.Item{{"k": 1, "a": "x"}}, e.opt())
	r := dataset.FromItems([]dataset.Item{{"k": "1", "b": "y"}}, e.opt())
	for _, c := range []struct {
		d    *dataset.Dataset
		want string
	}{
		{l.Join(r, []string{"k"}, dataset.InnerJoin), `key "k" is int64 on the left but utf8 on the right`},
		{l.Join(l, []string{"nope"}, dataset.InnerJoin), `"nope"`},
		{l.Join(l, nil, dataset.InnerJoin), "no key columns"},
		{l.Join(nil, []string{"k"}, dataset.InnerJoin), "nil dataset"},
		{l.Join(dataset.Range(3, dataset.WithRuntime(other)), []string{"k"}, dataset.InnerJoin), "different runtimes"},
	} {
		_, err := c.d.TakeAll(e.ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %s", err, c.want)
		}
	}
}

func TestJoinLargerThanTheStore(t *testing.T) {
	rt := smallStore(t)
	const n = 1 << 19 // two sides of 4 MiB each: 4x the store together
	opts := []dataset.Option{dataset.WithRuntime(rt), dataset.WithParallelism(16)}
	left := dataset.Range(n, opts...)
	right := dataset.Range(n, opts...).Where(dataset.Col("id").Lt(n / 2))
	ctx := watchdog.Context(t, context.Background(), hangLimit)
	joined := left.Join(right, []string{"id"}, dataset.LeftJoin)
	rows, err := joined.Count(ctx)
	if err != nil || rows != n {
		t.Fatalf("rows %d, %v", rows, err)
	}
	sum, err := left.Join(right, []string{"id"}, dataset.InnerJoin).Sum(ctx, "id")
	if err != nil || sum.Int64() != (n/2)*(n/2-1)/2 {
		t.Fatalf("sum %v, %v", sum, err)
	}
	if st := rt.Stats(); st.SpilledTotal == 0 {
		t.Errorf("a join of 4x the store spilled nothing: %v", st)
	}
}
