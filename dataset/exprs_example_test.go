package dataset_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// exampleTrips is a small trips table: pickup and dropoff times, distance,
// fare, tip and payment.
func exampleTrips(rt exec.Runtime) *dataset.Dataset {
	t0 := time.Date(2024, 1, 5, 13, 0, 0, 0, time.UTC)
	var items []dataset.Item
	for i := range 8 {
		pickup := t0.Add(time.Duration(i) * 37 * time.Minute)
		items = append(items, dataset.Item{
			"pickup":   pickup,
			"dropoff":  pickup.Add(time.Duration(10+5*i) * time.Minute),
			"distance": float64(1 + i),
			"fare":     float64(8 + 3*i),
			"tip":      float64(i % 3),
			"payment":  []string{"card", "cash", "card", "dispute"}[i%4],
		})
	}
	return dataset.FromItems(items, dataset.WithRuntime(rt))
}

func ExampleDataset_WithColumn() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	col, lit := dataset.Col, dataset.Lit
	rides := exampleTrips(rt).
		Where(col("payment").IsIn("card", "cash")).
		WithColumn("minutes", dataset.DiffSeconds(col("dropoff"), col("pickup")).Div(60.0)).
		WithColumn("mph", col("distance").Div(col("minutes").Div(60.0))).
		WithColumn("hour", dataset.Hour(col("pickup"))).
		WithColumn("total", col("fare").Add(col("tip")).Mul(lit(1).Add(0.25)))
	if err := rides.Select(col("hour"), col("minutes"), dataset.Round(col("mph"), 1).Alias("mph"), col("total")).Show(ctx, 10); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {hour: 13, minutes: 10, mph: 6, total: 10}
	// {hour: 13, minutes: 15, mph: 8, total: 15}
	// {hour: 14, minutes: 20, mph: 9, total: 20}
	// {hour: 15, minutes: 30, mph: 10, total: 26.25}
	// {hour: 16, minutes: 35, mph: 10.3, total: 31.25}
	// {hour: 16, minutes: 40, mph: 10.5, total: 32.5}
}

func ExampleDataset_Select() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	col := dataset.Col
	out := exampleTrips(rt).Select(
		col("payment"),
		col("fare").Div(col("distance")).Alias("per_mile"),
		col("tip").Gt(0).Alias("tipped"),
		dataset.Upper(dataset.Substr(col("payment"), 1, 2)).Alias("code"),
	)
	if err := out.Show(ctx, 3); err != nil {
		log.Fatal(err)
	}
	// A type mismatch is an error when the plan is built, not when it runs.
	fmt.Println(exampleTrips(rt).WithColumn("x", col("payment").Add(1)).Err())
	// Output:
	// {payment: "card", per_mile: 8, tipped: false, code: "CA"}
	// {payment: "cash", per_mile: 5.5, tipped: true, code: "CA"}
	// {payment: "card", per_mile: 4.666666666666667, tipped: true, code: "CA"}
	// dataset.WithColumn(x, payment + 1): expression payment + 1: cannot add: column payment is utf8 and 1 is int64
}

func ExampleSumOfExpr() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ctx := context.Background()

	col, lit := dataset.Col, dataset.Lit
	summary := exampleTrips(rt).
		GroupBy("payment").Aggregate(
		dataset.SumOfExpr(col("fare").Mul(lit(1).Sub(col("tip").Div(100)))).As("net"),
		dataset.MaxOfExpr(col("fare").Add(col("tip"))),
		dataset.CountOf(col("tip")),
	).
		Sort(dataset.Asc("payment"))
	if err := summary.Show(ctx, 5); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {payment: "card", net: 67.52, max(fare + tip): 26, count(tip): 4}
	// {payment: "cash", net: 33.43, max(fare + tip): 25, count(tip): 2}
	// {payment: "dispute", net: 45.71, max(fare + tip): 30, count(tip): 2}
}
