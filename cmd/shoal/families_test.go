package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

func init() {
	dataset.Register("families.withKey", withKey)
	dataset.Register("families.bigID", bigID)
	dataset.Register("families.twice", twice)
}

func withKey(r dataset.Row) (dataset.Item, error) {
	id := r.Int64("id")
	return dataset.Item{"id": id, "k": id % 13, "v": float64(id%101) / 4, "name": fmt.Sprint("n", id%7)}, nil
}

func bigID(r dataset.Row) (bool, error) { return r.Int64("id") >= 1000, nil }

func twice(r dataset.Row) ([]dataset.Item, error) {
	id := r.Int64("id")
	return []dataset.Item{{"id": id}, {"id": -id}}, nil
}

// TestClusterOperatorFamilies runs every operator family on a head and
// three nodes started as separate processes, with the tasks and actors on
// the nodes, and checks each result equals the embedded runtime's: file
// reads with pushed filters and projections, row and batch maps, filters,
// flat maps, actors, groupby, sort, shuffle, join, zip, union and limit,
// split, and writes.
func TestClusterOperatorFamilies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	bin := shoalBinary(t)
	ctx := context.Background()
	local := exec.NewLocal(exec.WithWorkers(2))
	defer local.Close()
	dir := t.TempDir()
	base := func(rt exec.Runtime) *dataset.Dataset {
		return dataset.Range(6000, dataset.WithRuntime(rt), dataset.WithParallelism(12)).Map(withKey)
	}
	// Inputs in files, written by the embedded runtime.
	if err := base(local).WriteParquet(ctx, filepath.Join(dir, "pq")); err != nil {
		t.Fatal(err)
	}
	if err := base(local).WriteCSV(ctx, filepath.Join(dir, "csv")); err != nil {
		t.Fatal(err)
	}

	type workload struct {
		name string
		make func(rt exec.Runtime) (*dataset.Dataset, error)
		// unordered: compare the rows as a multiset (the order depends on
		// the runtime's CPUs, as a shuffle's does).
		unordered bool
	}
	workloads := []workload{
		{"parquet+where+select", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return dataset.ReadParquet(ctx, filepath.Join(dir, "pq"), dataset.WithRuntime(rt)).
				Where(dataset.Col("k").Lt(int64(4))).SelectColumns("id", "v"), nil
		}, false},
		{"csv+map+filter+flatmap", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return dataset.ReadCSV(ctx, filepath.Join(dir, "csv"), dataset.WithRuntime(rt)).
				SelectColumns("id").Filter(bigID).FlatMap(twice), nil
		}, false},
		{"map-batches", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return dataset.Range(5000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).MapBatches(slowSquare), nil
		}, false},
		{"actors", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return dataset.Range(5000, dataset.WithRuntime(rt), dataset.WithParallelism(10)).
				MapBatchesWithActors(newPassActor, dataset.Actors(2, 2), dataset.ActorCPUs(0.5), dataset.BatchSize(700)), nil
		}, false},
		{"groupby", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return base(rt).GroupBy("k").Aggregate(dataset.CountRows(), dataset.SumOf("v"), dataset.MeanOf("id")).Sort(dataset.Asc("k")), nil
		}, false},
		{"sort", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return base(rt).Sort(dataset.Desc("v"), dataset.Asc("id")), nil
		}, false},
		{"shuffle", func(rt exec.Runtime) (*dataset.Dataset, error) {
			return base(rt).RandomShuffle(3), nil
		}, true},
		{"join", func(rt exec.Runtime) (*dataset.Dataset, error) {
			right := dataset.Range(300, dataset.WithRuntime(rt), dataset.WithParallelism(3)).Map(withKey).SelectColumns("id", "name")
			return base(rt).SelectColumns("id", "k").Join(right, []string{"id"}, dataset.InnerJoin).Sort(dataset.Asc("id")), nil
		}, false},
		{"zip+union+limit", func(rt exec.Runtime) (*dataset.Dataset, error) {
			a := dataset.Range(3000, dataset.WithRuntime(rt), dataset.WithParallelism(6))
			b := dataset.Range(3000, dataset.WithRuntime(rt), dataset.WithParallelism(4)).Map(withKey).SelectColumns("k")
			return a.Zip(b).Union(a.Map(withKey).SelectColumns("id", "k")).Limit(4500), nil
		}, false},
		{"split", func(rt exec.Runtime) (*dataset.Dataset, error) {
			parts, err := base(rt).Split(ctx, 3, dataset.Equal(true))
			if err != nil {
				return nil, err
			}
			return parts[1], nil
		}, false},
		{"write+read", func(rt exec.Runtime) (*dataset.Dataset, error) {
			out := filepath.Join(t.TempDir(), "out")
			if err := base(rt).Filter(bigID).WriteParquet(ctx, out); err != nil {
				return nil, err
			}
			// Read back on the embedded runtime: what the cluster wrote.
			return dataset.ReadParquet(ctx, out, dataset.WithRuntime(local)).Sort(dataset.Asc("id")), nil
		}, false},
	}
	render := func(w workload, rt exec.Runtime) []string {
		t.Helper()
		d, err := w.make(rt)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := d.TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = fmt.Sprint(r)
		}
		if w.unordered {
			sort.Strings(out)
		}
		return out
	}

	c := startCluster(t, bin, 3)
	rt, err := dataset.ConnectCluster(ctx, c.addr, "chaos-test-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range workloads {
		want := render(w, local)
		before := rt.RemoteTasks()
		got := render(w, rt)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the cluster gives %d rows (first %v), the embedded runtime %d (first %v)", w.name, len(got), firstRow(got), len(want), firstRow(want))
			continue
		}
		t.Logf("%s: %d rows equal; %d tasks on the nodes", w.name, len(got), rt.RemoteTasks()-before)
		if rt.RemoteTasks() == before {
			t.Errorf("%s: no task ran on the nodes", w.name)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		if o := c.objects(i); o != 0 {
			t.Errorf("node %d holds %d blocks after the driver closed", i, o)
		}
	}
}
