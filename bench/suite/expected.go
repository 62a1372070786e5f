package suite

import (
	"cmp"
	"slices"
)

// Expected computes a workload's answer directly in Go from the
// generator's row functions (TripRow, GroupByRow, ...), without reading
// any file: what every engine must find in the files. It is meant for
// small sizes (it holds the sort keys in memory); ok is false for the
// pipeline, which has no data answer.
func Expected(d *Data, workload string) (a Answer, ok bool) {
	n, seed := d.Size.Rows, d.Seed
	if a, ok := expectedExpr(d, workload); ok {
		return a, true
	}
	switch workload {
	case ScanFilterSum:
		var rows, sf, st float64
		for i := range n {
			t := TripRow(seed, i)
			if t.Distance > 5 && t.Payment == "card" {
				rows++
				sf += t.Fare
				st += t.Tip
			}
		}
		return Answer{"rows": rows, "sum_fare": sf, "sum_tip": st}, true
	case MapArith:
		var sy float64
		for i := range n {
			t := TripRow(seed, i)
			sy += MapArithY(t.Fare, t.Tip, t.Distance)
		}
		return Answer{"rows": float64(n), "sum_y": sy}, true
	case GroupBy100, GroupBy1M:
		type agg struct {
			n   int64
			sum float64
		}
		groups := map[int64]*agg{}
		for i := range n {
			k100, k1m, v := GroupByRow(seed, d.Size.GroupKeys1M(), i)
			k := k100
			if workload == GroupBy1M {
				k = k1m
			}
			g := groups[k]
			if g == nil {
				g = &agg{}
				groups[k] = g
			}
			g.n++
			g.sum += v
		}
		a := Answer{"groups": float64(len(groups))}
		for _, g := range groups {
			a["sum_count"] += float64(g.n)
			a["sum_sum"] += g.sum
			a["sum_mean"] += g.sum / float64(g.n)
		}
		return a, true
	case UniqueW:
		seen := map[int64]bool{}
		a := Answer{}
		for i := range n {
			_, k, _ := GroupByRow(seed, d.Size.GroupKeys1M(), i)
			if !seen[k] {
				seen[k] = true
				a["sum_keys"] += float64(k)
			}
		}
		a["distinct"] = float64(len(seen))
		return a, true
	case SortInt:
		keys := make([]int64, n)
		for i := range n {
			keys[i], _, _, _ = SortRow(seed, n, i)
		}
		slices.Sort(keys)
		return SortAnswer(n, func(i int64) float64 { return float64(keys[i]) }), true
	case SortStr:
		keys := make([]string, n)
		for i := range n {
			_, s, _, _ := SortRow(seed, n, i)
			keys[i] = string(s[:])
		}
		slices.Sort(keys)
		return SortAnswer(n, func(i int64) float64 { return SortProbeString(keys[i]) }), true
	case ShuffleW:
		sn := d.Size.ShuffleRows()
		return Answer{"rows": float64(sn), "sum_id": float64(sn * (sn - 1) / 2), "moved": 1}, true
	case JoinW:
		var rows, sa, sb float64
		for i := range n {
			k, a := JoinLeftRow(seed, d.Size.JoinKeys(), i)
			if k%10 != 0 {
				rows++
				sa += a
				sb += JoinB(seed, k)
			}
		}
		return Answer{"rows": rows, "sum_a": sa, "sum_b": sb}, true
	case CSVETL:
		var rows, s float64
		for i := range d.Size.CSVRows() {
			t := CSVTripRow(seed, i)
			if t.Fare > 0 && t.Distance > 0 && !t.PassengersNull {
				rows++
				s += t.Fare / t.Distance
			}
		}
		return Answer{"rows": rows, "sum_fare_per_mile": s}, true
	case CSVConvert:
		var s float64
		for i := range d.Size.CSVRows() {
			s += CSVTripRow(seed, i).Fare
		}
		return Answer{"rows": float64(d.Size.CSVRows()), "sum_fare": s}, true
	case Ingest:
		var sf float64
		for i := range n {
			sf += TripRow(seed, i).Fare
		}
		return Answer{"rows": float64(n), "batches": float64((n + IngestBatchRows - 1) / IngestBatchRows),
			"sum_id": float64(n * (n - 1) / 2), "sum_fare": sf}, true
	}
	return nil, false
}

// expectedExpr is Expected for the expression workloads.
func expectedExpr(d *Data, workload string) (Answer, bool) {
	n, seed := d.Size.Rows, d.Seed
	switch workload {
	case TPCHQ1:
		type agg struct{ qty, price, disc, discPrice, charge, count float64 }
		groups := map[string]*agg{}
		for i := range n {
			l := LineitemRow(seed, i)
			if l.ShipDate.After(Q1ShipBefore) {
				continue
			}
			k := l.ReturnFlag + l.LineStatus
			g := groups[k]
			if g == nil {
				g = &agg{}
				groups[k] = g
			}
			dp := l.Price * (1 - l.Disc)
			g.qty += l.Quantity
			g.price += l.Price
			g.disc += l.Disc
			g.discPrice += dp
			g.charge += dp * (1 + l.Tax)
			g.count++
		}
		a := Answer{"groups": float64(len(groups))}
		for _, k := range q1Keys {
			a[k] = 0
		}
		for _, g := range groups {
			a["sum_qty"] += g.qty
			a["sum_base_price"] += g.price
			a["sum_disc_price"] += g.discPrice
			a["sum_charge"] += g.charge
			a["sum_avg_qty"] += g.qty / g.count
			a["sum_avg_price"] += g.price / g.count
			a["sum_avg_disc"] += g.disc / g.count
			a["sum_count"] += g.count
		}
		return a, true
	case TPCHQ6:
		var rows, rev float64
		for i := range n {
			l := LineitemRow(seed, i)
			if !l.ShipDate.Before(Q6ShipFrom) && l.ShipDate.Before(Q6ShipTo) &&
				l.Disc >= 0.05 && l.Disc <= 0.07 && l.Quantity < 24 {
				rows++
				rev += l.Price * l.Disc
			}
		}
		return Answer{"rows": rows, "revenue": rev}, true
	case TopK10:
		scores := make([]float64, n)
		for i := range n {
			scores[i] = TopKScore(seed, i)
		}
		slices.SortFunc(scores, func(a, b float64) int { return cmp.Compare(b, a) })
		a, err := TopKAnswer(scores[:min(TopK, len(scores))], TopKColumns)
		return a, err == nil
	case JoinGroupBy:
		var rows, fare float64
		boroughs := map[string]bool{}
		for i := range n {
			t := TripRow(seed, i)
			if t.Zone >= 1 && t.Zone <= ZoneIDs {
				rows++
				fare += t.Fare
				boroughs[ZoneBorough(t.Zone)] = true
			}
		}
		return Answer{"groups": float64(len(boroughs)), "rows": rows, "sum_fare": fare}, true
	}
	return nil, false
}
