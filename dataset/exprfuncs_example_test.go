package dataset_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
)

// trips is a small table for the function examples.
func trips(rt *exec.Local) *dataset.Dataset {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			log.Fatal(err)
		}
		return t
	}
	return dataset.FromItems([]dataset.Item{
		{"id": 1, "city": "Oslo", "fare": 12.5, "tip": 2.0, "pickup": at("2023-12-31T23:50:00Z"), "dropoff": at("2024-01-01T00:20:00Z")},
		{"id": 2, "city": "BERGEN", "fare": 7.25, "tip": nil, "pickup": at("2024-01-06T08:00:00Z"), "dropoff": at("2024-01-06T08:09:30Z")},
		{"id": 3, "city": "Tromsø", "fare": 30.0, "tip": 5.5, "pickup": at("1969-07-20T20:17:00Z"), "dropoff": at("1969-07-20T21:00:00Z")},
	}, dataset.WithRuntime(rt))
}

func printIDs(ds *dataset.Dataset) {
	rows, err := ds.TakeAll(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r["id"], r["city"])
	}
}

// Temporal functions read timestamps on their zone's clock (UTC here).
func ExampleYear() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ds := trips(rt)

	// Trips that began in 2023 and ended in 2024, and trips on a Saturday
	// (DayOfWeek counts from 0 for Sunday, as DuckDB) of under 10 minutes.
	printIDs(ds.Where(dataset.Year(dataset.Col("pickup")).Lt(dataset.Year(dataset.Col("dropoff")))))
	printIDs(ds.Where(dataset.And(
		dataset.DayOfWeek(dataset.Col("pickup")).Eq(6),
		dataset.DiffSeconds(dataset.Col("dropoff"), dataset.Col("pickup")).Lt(600),
	)))
	// Output:
	// 1 Oslo
	// 2 BERGEN
}

// String functions count characters, not bytes.
func ExampleLower() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ds := trips(rt)

	printIDs(ds.Where(dataset.Lower(dataset.Col("city")).Eq("bergen")))
	printIDs(ds.Where(dataset.And(dataset.Len(dataset.Col("city")).Eq(6), dataset.EndsWith(dataset.Col("city"), "ø"))))
	printIDs(ds.Where(dataset.Concat(dataset.Substr(dataset.Col("city"), 1, 2), "!").Eq("Os!")))
	// Output:
	// 2 BERGEN
	// 3 Tromsø
	// 1 Oslo
}

// Math functions keep integers as integers and round half away from zero.
func ExampleRound() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ds := trips(rt)

	printIDs(ds.Where(dataset.Round(dataset.Col("fare")).Eq(13)))                 // 12.5 rounds up
	printIDs(ds.Where(dataset.Round(dataset.Col("fare"), 1).Eq(7.3)))             // 7.25 to 7.3
	printIDs(ds.Where(dataset.Sqrt(dataset.Col("fare").Sub(5)).Gt(5)))            // sqrt(25) is not above 5
	printIDs(ds.Where(dataset.Abs(dataset.Col("id").Sub(3)).Eq(2)))               // |1 - 3|
	printIDs(ds.Where(dataset.Pow(dataset.Floor(dataset.Col("fare")), 2).Eq(49))) // 7²
	// Output:
	// 1 Oslo
	// 2 BERGEN
	// 1 Oslo
	// 2 BERGEN
}

// If picks a value per row; Coalesce the first that is not null.
func ExampleIf() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	ds := trips(rt)

	// A missing tip counts as 0; trips paying at least 15 in all.
	total := dataset.Col("fare").Add(dataset.Coalesce(dataset.Col("tip"), 0))
	printIDs(ds.Where(total.Ge(14)))
	// Big spenders by a rule that differs by city.
	rule := dataset.If(dataset.Col("city").Eq("Oslo"), dataset.Col("fare").Gt(10), dataset.Col("fare").Gt(20))
	printIDs(ds.Where(rule))
	// Output:
	// 1 Oslo
	// 3 Tromsø
	// 1 Oslo
	// 3 Tromsø
}

// When...Then...Otherwise picks the first branch whose condition holds, as
// SQL's CASE WHEN; a null condition (a missing tip) counts as false.
func ExampleWhen() {
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	band := dataset.When(dataset.Col("tip").Ge(5.0)).Then("generous").
		When(dataset.Col("tip").Gt(0.0)).Then("some").
		Otherwise("none")
	rows, err := trips(rt).Select(dataset.Col("id"), band.Alias("band")).TakeAll(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Println(r["id"], r["band"])
	}
	// Output:
	// 1 some
	// 2 none
	// 3 generous
}
