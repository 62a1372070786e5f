// Traincopies trains five copies of a model at once, as "Learning Ray"
// chapter 6's closing example: each worker is a logistic regression fitted
// by stochastic gradient descent with its own learning rate, on its shard of
// a synthetic binary classification dataset, for ten epochs reshuffled each
// epoch; then every worker is scored on a held-out test set.
//
//	go run ./examples/traincopies
package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/shoal-data/shoal/dataset"
)

const (
	rows      = 10000
	epochs    = 10
	batchSize = 32
)

var (
	features = []string{"x1", "x2"}
	alphas   = []float64{0.01, 0.03, 0.1, 0.3, 1}
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	// label = 1 where 2·x1 − 3·x2 + 0.5 plus a little noise is positive.
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]dataset.Item, rows)
	for i := range items {
		x1, x2 := rng.NormFloat64(), rng.NormFloat64()
		label := 0.0
		if 2*x1-3*x2+0.5+0.5*rng.NormFloat64() > 0 {
			label = 1
		}
		items[i] = dataset.Item{"x1": x1, "x2": x2, "label": label}
	}
	train, test, err := dataset.FromItems(items).TrainTestSplit(ctx, 0.2, dataset.SplitShuffle(3))
	if err != nil {
		return err
	}

	models := make([]*model, len(alphas))
	for k, a := range alphas {
		models[k] = &model{alpha: a, w: make([]float64, len(features))}
	}
	// Split once, in the book's shape: each worker loops over its own
	// shard for its epochs. Every epoch re-runs the plan, reshuffled with
	// seed 7+epoch, and the epochs of all shards advance together.
	shards, err := train.StreamingSplit(len(models), dataset.Equal(true), dataset.SplitShuffle(7))
	if err != nil {
		return err
	}
	errs := make([]error, len(models))
	var wg sync.WaitGroup
	for k, m := range models {
		wg.Go(func() { errs[k] = m.train(ctx, shards[k]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	for k, m := range models {
		var right, total int
		for mb, err := range test.IterMatrixBatches(ctx, 1000, features, "label") {
			if err != nil {
				return err
			}
			for i, y := range mb.Y {
				if (m.predict(mb.X.RawRowView(i)) >= 0.5) == (y == 1) {
					right++
				}
				total++
			}
		}
		fmt.Printf("worker %d: alpha %-4g test accuracy %.3f\n", k, m.alpha, float64(right)/float64(total))
	}
	return nil
}

// model is a logistic regression p(y=1|x) = σ(w·x + b).
type model struct {
	alpha float64
	w     []float64
	b     float64
}

func (m *model) predict(x []float64) float64 {
	return 1 / (1 + math.Exp(-(floats.Dot(m.w, x) + m.b)))
}

// train fits the model on its shard for the epochs, one gradient step per
// batch.
func (m *model) train(ctx context.Context, shard *dataset.Shard) error {
	for range epochs {
		for b, err := range shard.IterBatches(ctx, batchSize) {
			if err != nil {
				return err
			}
			if b.NumRows() > 0 {
				x, y := toMatrix(b)
				m.step(x, y)
			}
		}
	}
	return nil
}

// step takes one gradient step of the mean log loss over a batch.
func (m *model) step(x *mat.Dense, y []float64) {
	n, k := x.Dims()
	gw := make([]float64, k)
	var gb float64
	for i := range n {
		row := x.RawRowView(i)
		d := m.predict(row) - y[i] // the loss's derivative in w·x + b
		floats.AddScaled(gw, d, row)
		gb += d
	}
	floats.AddScaled(m.w, -m.alpha/float64(n), gw)
	m.b -= m.alpha * gb / float64(n)
}

// toMatrix is a batch's features and label as float64s.
func toMatrix(b arrow.RecordBatch) (*mat.Dense, []float64) {
	n := int(b.NumRows())
	x := mat.NewDense(n, len(features), nil)
	for j, f := range features {
		col := column(b, f)
		for i := range n {
			x.Set(i, j, col[i])
		}
	}
	return x, column(b, "label")
}

func column(b arrow.RecordBatch, name string) []float64 {
	return b.Column(b.Schema().FieldIndices(name)[0]).(*array.Float64).Float64Values()
}
