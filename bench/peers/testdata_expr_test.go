package peers_test

// The expression workloads' tables (lineitem/, topk.parquet,
// zones.parquet) of the test dataset, and their answers, computed here
// from the rows written.

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/bench/suite"
)

// lineitem is one row of lineitem/.
type lineitem struct {
	ship                  time.Time
	flag, status          string
	qty, price, disc, tax float64
}

// exprData is the expression tables, kept in memory for the answers.
type exprData struct {
	lineitems []lineitem
	topk      [][]any // rows of topk.parquet: id, score, then 8 more
	zoneOf    map[int64]string
}

// The queries' dates: SPEC.md's constants.
var q1ShipBefore, q6ShipFrom, q6ShipTo = suite.Q1ShipBefore, suite.Q6ShipFrom, suite.Q6ShipTo

// genExprData draws n lineitems, n top-k rows and the zones 1..260 (trips'
// zones 261..265 find none), with the boundaries of the queries' filters
// drawn on purpose: ship dates on 1998-09-02, 1994-01-01 and 1995-01-01,
// discounts of exactly 0.05 and 0.07, quantities of 24.
func genExprData(n int, r *rand.Rand) *exprData {
	e := &exprData{zoneOf: map[int64]string{}}
	start := time.Date(1992, 1, 1, 0, 0, 0, 0, time.UTC)
	edges := []time.Time{q1ShipBefore, q1ShipBefore.AddDate(0, 0, 1), q6ShipFrom, q6ShipTo, q6ShipTo.AddDate(0, 0, -1)}
	for i := range n {
		ship := start.AddDate(0, 0, r.IntN(2526))
		if i%7 == 0 {
			ship = edges[r.IntN(len(edges))]
		}
		l := lineitem{ship: ship, qty: float64(1 + r.IntN(50)), disc: float64(r.IntN(11)) / 100, tax: float64(r.IntN(9)) / 100}
		l.price = l.qty * (900 + r.Float64()*1200)
		l.flag = []string{"A", "N", "R"}[r.IntN(3)]
		l.status = []string{"F", "O"}[r.IntN(2)]
		e.lineitems = append(e.lineitems, l)
	}
	for i := range n {
		e.topk = append(e.topk, []any{int64(i), r.Float64() * 1000, r.Int64N(9), r.Int64(), r.Float64(), r.Float64(),
			r.Int64N(3), r.Float64(), fmt.Sprintf("n%d", i), "t"})
	}
	for z := int64(1); z <= 260; z++ {
		e.zoneOf[z] = []string{"Bronx", "Brooklyn", "Manhattan", "Queens"}[r.IntN(4)]
	}
	return e
}

// write lays the tables out under dir: lineitem in 8 files of small row
// groups (so that the date filter can skip some).
func (e *exprData) write(dir string) error {
	ld := filepath.Join(dir, "lineitem")
	if err := os.MkdirAll(ld, 0o755); err != nil {
		return err
	}
	ls := slices.Clone(e.lineitems)
	slices.SortStableFunc(ls, func(a, b lineitem) int { return a.ship.Compare(b.ship) })
	for f := range 8 {
		part := ls[len(ls)*f/8 : len(ls)*(f+1)/8]
		if err := writeParquet(filepath.Join(ld, fmt.Sprintf("part-%03d.parquet", f)), lineitemRecord(part), 200); err != nil {
			return err
		}
	}
	cols := make([]col, 10)
	names := []string{"id", "score", "a", "b", "c", "d", "e", "f", "name", "tag"}
	for j := range cols {
		cols[j].name = names[j]
		switch e.topk[0][j].(type) {
		case int64:
			cols[j].vals = mapSlice(e.topk, func(row []any) int64 { return row[j].(int64) })
		case float64:
			cols[j].vals = mapSlice(e.topk, func(row []any) float64 { return row[j].(float64) })
		case string:
			cols[j].vals = mapSlice(e.topk, func(row []any) string { return row[j].(string) })
		}
	}
	if err := writeParquet(filepath.Join(dir, "topk.parquet"), record(cols...), 1000); err != nil {
		return err
	}
	ids := slices.Sorted(maps.Keys(e.zoneOf))
	return writeParquet(filepath.Join(dir, "zones.parquet"), record(
		col{"zone_id", ids},
		col{"borough", mapSlice(ids, func(z int64) string { return e.zoneOf[z] })},
		col{"zone_name", mapSlice(ids, func(z int64) string { return fmt.Sprintf("zone %d", z) })},
	), 100)
}

func lineitemRecord(rows []lineitem) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, suite.LineitemSchema)
	defer b.Release()
	for _, l := range rows {
		b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(l.ship))
		b.Field(1).(*array.StringBuilder).Append(l.flag)
		b.Field(2).(*array.StringBuilder).Append(l.status)
		b.Field(3).(*array.Float64Builder).Append(l.qty)
		b.Field(4).(*array.Float64Builder).Append(l.price)
		b.Field(5).(*array.Float64Builder).Append(l.disc)
		b.Field(6).(*array.Float64Builder).Append(l.tax)
	}
	return b.NewRecordBatch()
}

// answers adds the expression workloads' answers to a; trips are the rows
// of trips/ (for join_groupby).
func (e *exprData) answers(a map[string]map[string]float64, trips []trip) {
	type q1 struct{ qty, price, disc, dp, charge, n float64 }
	groups := map[string]*q1{}
	var q6rows, q6rev float64
	for _, l := range e.lineitems {
		if !l.ship.After(q1ShipBefore) {
			g := groups[l.flag+l.status]
			if g == nil {
				g = &q1{}
				groups[l.flag+l.status] = g
			}
			dp := l.price * (1 - l.disc)
			g.qty, g.price, g.disc, g.dp, g.charge, g.n = g.qty+l.qty, g.price+l.price, g.disc+l.disc, g.dp+dp, g.charge+dp*(1+l.tax), g.n+1
		}
		if !l.ship.Before(q6ShipFrom) && l.ship.Before(q6ShipTo) && l.disc >= 0.05 && l.disc <= 0.07 && l.qty < 24 {
			q6rows++
			q6rev += l.price * l.disc
		}
	}
	q := map[string]float64{"groups": float64(len(groups))}
	for _, g := range groups {
		q["sum_qty"] += g.qty
		q["sum_base_price"] += g.price
		q["sum_disc_price"] += g.dp
		q["sum_charge"] += g.charge
		q["sum_avg_qty"] += g.qty / g.n
		q["sum_avg_price"] += g.price / g.n
		q["sum_avg_disc"] += g.disc / g.n
		q["sum_count"] += g.n
	}
	a["tpch_q1"] = q
	a["tpch_q6"] = map[string]float64{"rows": q6rows, "revenue": q6rev}

	scores := mapSlice(e.topk, func(row []any) float64 { return row[1].(float64) })
	slices.SortFunc(scores, func(x, y float64) int { return cmp.Compare(y, x) })
	top := map[string]float64{"rows": 10, "columns": 10, "first": scores[0], "last": scores[9]}
	for _, s := range scores[:10] {
		top["sum_score"] += s
	}
	a["topk_10"] = top

	boroughs := map[string]bool{}
	jg := map[string]float64{}
	for _, t := range trips {
		if b, ok := e.zoneOf[t.zone]; ok {
			boroughs[b] = true
			jg["rows"]++
			jg["sum_fare"] += t.fare
		}
	}
	jg["groups"] = float64(len(boroughs))
	a["join_groupby"] = jg
}
