package suite

// The expression workloads (tpch_q1, tpch_q6, topk_10, join_groupby)
// on Shoal, written as a user writes them: expressions the planner can see
// through (Where, SumOfExpr, Sort+Limit, JoinOn), no MapBatches.

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
)

// The expression workloads' dates (TPC-H's substitution parameters of the
// validation run).
var (
	Q1ShipBefore = time.Date(1998, 9, 2, 0, 0, 0, 0, time.UTC) // inclusive: 1998-12-01 - 90 days
	Q6ShipFrom   = time.Date(1994, 1, 1, 0, 0, 0, 0, time.UTC) // inclusive
	Q6ShipTo     = time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC) // exclusive
)

// TopK is topk_10's k.
const TopK = 10

// q1Keys name tpch_q1's aggregates in the answer, in Aggregate's order.
var q1Keys = []string{"sum_qty", "sum_base_price", "sum_disc_price", "sum_charge", "sum_avg_qty", "sum_avg_price", "sum_avg_disc", "sum_count"}

// runShoalExpr runs one expression workload; ok is false for any other.
func runShoalExpr(ctx context.Context, d *Data, workload string, with dataset.ReadOption) (a Answer, el time.Duration, ok bool, err error) {
	col, lit := dataset.Col, dataset.Lit
	lineitem := func() *dataset.Dataset { return dataset.ReadParquet(ctx, d.LineitemDir, with) }
	start := time.Now()
	switch workload {
	case TPCHQ1:
		discPrice := col("l_extendedprice").Mul(lit(1.0).Sub(col("l_discount")))
		m, err := lineitem().
			Where(col("l_shipdate").Le(Q1ShipBefore)).
			GroupBy("l_returnflag", "l_linestatus").
			Aggregate(
				dataset.SumOf("l_quantity").Alias("sum_qty"),
				dataset.SumOf("l_extendedprice").Alias("sum_base_price"),
				dataset.SumOfExpr(discPrice).Alias("sum_disc_price"),
				dataset.SumOfExpr(discPrice.Mul(lit(1.0).Add(col("l_tax")))).Alias("sum_charge"),
				dataset.MeanOf("l_quantity").Alias("avg_qty"),
				dataset.MeanOf("l_extendedprice").Alias("avg_price"),
				dataset.MeanOf("l_discount").Alias("avg_disc"),
				dataset.CountRows().Alias("count_order"),
			).Materialize(ctx)
		el = time.Since(start)
		if err != nil {
			return nil, el, true, err
		}
		a, err := groupSums(ctx, m, 2, q1Keys)
		return a, el, true, err

	case TPCHQ6:
		row, err := oneRow(ctx, lineitem().
			Where(col("l_shipdate").Ge(Q6ShipFrom).
				And(col("l_shipdate").Lt(Q6ShipTo),
					col("l_discount").Between(0.05, 0.07),
					col("l_quantity").Lt(24.0))).
			Aggregate(dataset.CountRows(), dataset.SumOfExpr(col("l_extendedprice").Mul(col("l_discount")))))
		el = time.Since(start)
		if err != nil {
			return nil, el, true, err
		}
		return Answer{"rows": row[0], "revenue": row[1]}, el, true, nil

	case TopK10:
		recs, err := dataset.ReadParquet(ctx, d.TopK, with).Sort(dataset.Desc("score")).Limit(TopK).ToRecords(ctx)
		el = time.Since(start)
		if err != nil {
			return nil, el, true, err
		}
		defer release(recs)
		a, err := topkAnswer(recs)
		return a, el, true, err

	case JoinGroupBy:
		trips := dataset.ReadParquet(ctx, d.TripsDir, with)
		zones := dataset.ReadParquet(ctx, d.Zones, with)
		m, err := trips.JoinOn(zones, []string{"zone"}, []string{"zone_id"}, dataset.InnerJoin).
			GroupBy("borough").
			Aggregate(dataset.CountRows(), dataset.SumOf("fare")).
			Materialize(ctx)
		el = time.Since(start)
		if err != nil {
			return nil, el, true, err
		}
		a, err := groupSums(ctx, m, 1, []string{"rows", "sum_fare"})
		return a, el, true, err
	}
	return nil, 0, false, nil
}

// groupSums reads a materialized GroupBy (nKeys key columns, then one
// column per name) into {"groups": n, name: Σ over groups, ...}.
func groupSums(ctx context.Context, m *dataset.Dataset, nKeys int, names []string) (Answer, error) {
	recs, err := m.ToRecords(ctx)
	if err != nil {
		return nil, err
	}
	defer release(recs)
	a := Answer{"groups": 0}
	for _, name := range names {
		a[name] = 0
	}
	for _, r := range recs {
		if int(r.NumCols()) != nKeys+len(names) {
			return nil, fmt.Errorf("group output has %d columns (%s), want %d keys and %v", r.NumCols(), r.Schema(), nKeys, names)
		}
		for i := range int(r.NumRows()) {
			a["groups"]++
			for j, name := range names {
				v, err := numberAt(r.Column(nKeys+j), i)
				if err != nil {
					return nil, fmt.Errorf("group column %s: %w", r.Schema().Field(nKeys+j).Name, err)
				}
				a[name] += v
			}
		}
	}
	return a, nil
}

// topkAnswer reads topk_10's output: its row and column counts, the
// scores' sum, the first and the last, checking the order.
func topkAnswer(recs []arrow.RecordBatch) (Answer, error) {
	var scores []float64
	cols := 0
	for _, r := range recs {
		if r.NumRows() == 0 {
			continue
		}
		cols = int(r.NumCols())
		s, err := floatCol(r, "score")
		if err != nil {
			return nil, err
		}
		scores = append(scores, s...)
	}
	return TopKAnswer(scores, cols)
}

// TopKAnswer is topk_10's answer from the scores in output order.
func TopKAnswer(scores []float64, cols int) (Answer, error) {
	a := Answer{"rows": float64(len(scores)), "columns": float64(cols), "sum_score": 0, "first": 0, "last": 0}
	for i, s := range scores {
		if i > 0 && s > scores[i-1] {
			return nil, fmt.Errorf("top-k output out of order at row %d: %v after %v", i, s, scores[i-1])
		}
		a["sum_score"] += s
	}
	if len(scores) > 0 {
		a["first"], a["last"] = scores[0], scores[len(scores)-1]
	}
	return a, nil
}

// The expression workloads' row counts (input rows, for rows/s).
func (d *Data) exprInputRows(workload string) (int64, bool) {
	switch workload {
	case TPCHQ1, TPCHQ6, TopK10:
		return d.Size.Rows, true
	case JoinGroupBy:
		return d.Size.Rows + ZoneIDs, true
	}
	return 0, false
}
