package try

import (
	"os"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoal-data/shoal/dataset"
)

var dir string

func data(b *testing.B) string {
	if dir != "" {
		return dir
	}
	if _, err := os.Stat("/tmp/qdata"); err == nil {
		dir = "/tmp/qdata"
		return dir
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 2_000_000
	flags := []string{"A", "N", "R"}
	st := []string{"F", "O"}
	base := time.Date(1992, 1, 1, 0, 0, 0, 0, time.UTC)
	items := make([]dataset.Item, 0, n)
	for i := 0; i < n; i++ {
		items = append(items, dataset.Item{"ship": base.Add(time.Duration(rng.IntN(2500)) * 24 * time.Hour), "flag": flags[rng.IntN(3)], "status": st[rng.IntN(2)],
			"qty": float64(rng.IntN(50) + 1), "price": rng.Float64() * 1e5, "disc": float64(rng.IntN(11)) / 100, "tax": float64(rng.IntN(9)) / 100})
	}
	dir = "/tmp/qdata"
	if err := dataset.FromItems(items, dataset.WithParallelism(16)).WriteParquet(context.Background(), dir, dataset.Mode(1)); err != nil {
		b.Fatal(err)
	}
	return dir
}

func BenchmarkQ1(b *testing.B) {
	d := data(b)
	ctx := context.Background()
	cut := time.Date(1998, 9, 2, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for range b.N {
		disc := dataset.Col("price").Mul(dataset.Lit(1).Sub(dataset.Col("disc")))
		ds := dataset.ReadParquet(ctx, d).Where(dataset.Col("ship").Le(cut)).
			GroupBy("flag", "status").Aggregate(dataset.SumOf("qty"), dataset.SumOf("price"), dataset.SumOfExpr(disc).Alias("sdp"),
			dataset.SumOfExpr(disc.Mul(dataset.Lit(1).Add(dataset.Col("tax")))).Alias("charge"), dataset.MeanOf("qty"), dataset.MeanOf("price"), dataset.MeanOf("disc"), dataset.CountRows())
		if _, err := ds.TakeAll(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQ6(b *testing.B) {
	d := data(b)
	ctx := context.Background()
	lo := time.Date(1994, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for range b.N {
		ds := dataset.ReadParquet(ctx, d).Where(dataset.Col("ship").Ge(lo).And(dataset.Col("ship").Lt(hi), dataset.Col("disc").Between(0.05, 0.07), dataset.Col("qty").Lt(24.0))).
			Aggregate(dataset.SumOfExpr(dataset.Col("price").Mul(dataset.Col("disc"))).Alias("rev"))
		if _, err := ds.TakeAll(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
