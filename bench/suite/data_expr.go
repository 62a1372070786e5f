package suite

// The tables of the expression workloads (tpch_q1, tpch_q6, topk_10,
// join_groupby): a TPC-H-like lineitem, a 10-column table for the top-k
// and a small zones table that trips.zone joins to.

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Table ids of the expression tables' row streams (after those of data.go).
const (
	tLineitem uint64 = iota + 16
	tTopK
)

// LineitemFiles is the file count of lineitem/.
const LineitemFiles = 8

// LineitemSchema is the schema of lineitem/.
var LineitemSchema = arrow.NewSchema([]arrow.Field{
	{Name: "l_shipdate", Type: arrow.FixedWidthTypes.Date32},
	{Name: "l_returnflag", Type: arrow.BinaryTypes.String},
	{Name: "l_linestatus", Type: arrow.BinaryTypes.String},
	{Name: "l_quantity", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_extendedprice", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_discount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "l_tax", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// Lineitem is one row of lineitem: TPC-H's distributions, roughly.
type Lineitem struct {
	ShipDate                   time.Time // a day
	ReturnFlag, LineStatus     string
	Quantity, Price, Disc, Tax float64
	shipDays                   int32 // days since the Unix epoch
}

var (
	tpchStart   = time.Date(1992, 1, 1, 0, 0, 0, 0, time.UTC)
	tpchOrderTo = time.Date(1998, 8, 2, 0, 0, 0, 0, time.UTC)
	// tpchCurrent is TPC-H's CURRENTDATE: lines received by then are
	// returned (R) or accepted (A), later ones not yet (N); lines shipped
	// after it are open (O), earlier ones filled (F).
	tpchCurrent = time.Date(1995, 6, 17, 0, 0, 0, 0, time.UTC)
)

// LineitemRow is row i of lineitem: the order date uniform over
// 1992-01-01..1998-08-02, shipped 1..121 days later and received 1..30
// days after that; quantity 1..50; the part's price 900..2100 per unit;
// discount 0.00..0.10 and tax 0.00..0.08 in steps of 0.01.
func LineitemRow(seed uint64, i int64) Lineitem {
	r := rowRNG(seed, tLineitem, i)
	orderDays := int(tpchOrderTo.Sub(tpchStart).Hours() / 24)
	ship := tpchStart.AddDate(0, 0, int(r.intn(int64(orderDays)+1))+1+int(r.intn(121)))
	receipt := ship.AddDate(0, 0, 1+int(r.intn(30)))
	l := Lineitem{ShipDate: ship, shipDays: int32(arrow.Date32FromTime(ship))}
	l.Quantity = float64(1 + r.intn(50))
	l.Price = round2(l.Quantity * (900 + r.float()*1200))
	l.Disc = float64(r.intn(11)) / 100
	l.Tax = float64(r.intn(9)) / 100
	l.ReturnFlag = "N"
	if !receipt.After(tpchCurrent) {
		l.ReturnFlag = "R"
		if r.next()&1 == 0 {
			l.ReturnFlag = "A"
		}
	}
	l.LineStatus = "O"
	if !ship.After(tpchCurrent) {
		l.LineStatus = "F"
	}
	return l
}

func lineitemBlock(seed uint64, lo, hi int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, LineitemSchema)
	defer b.Release()
	b.Reserve(int(hi - lo))
	ship := b.Field(0).(*array.Date32Builder)
	flag := b.Field(1).(*array.StringBuilder)
	status := b.Field(2).(*array.StringBuilder)
	qty := b.Field(3).(*array.Float64Builder)
	price := b.Field(4).(*array.Float64Builder)
	disc := b.Field(5).(*array.Float64Builder)
	tax := b.Field(6).(*array.Float64Builder)
	for i := lo; i < hi; i++ {
		l := LineitemRow(seed, i)
		ship.UnsafeAppend(arrow.Date32(l.shipDays))
		flag.Append(l.ReturnFlag)
		status.Append(l.LineStatus)
		qty.UnsafeAppend(l.Quantity)
		price.UnsafeAppend(l.Price)
		disc.UnsafeAppend(l.Disc)
		tax.UnsafeAppend(l.Tax)
	}
	return b.NewRecordBatch()
}

// TopKColumns is the column count of topk.parquet.
const TopKColumns = 10

var topkSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "a", Type: arrow.PrimitiveTypes.Int64},
	{Name: "b", Type: arrow.PrimitiveTypes.Int64},
	{Name: "c", Type: arrow.PrimitiveTypes.Float64},
	{Name: "d", Type: arrow.PrimitiveTypes.Float64},
	{Name: "e", Type: arrow.PrimitiveTypes.Int64},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "tag", Type: arrow.BinaryTypes.String},
}, nil)

// TopKScore is row i's score in topk.parquet: uniform in [0, 1e6).
func TopKScore(seed uint64, i int64) float64 {
	r := rowRNG(seed, tTopK, i)
	return r.float() * 1e6
}

func topkBlock(seed uint64, lo, hi int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, topkSchema)
	defer b.Release()
	b.Reserve(int(hi - lo))
	for i := lo; i < hi; i++ {
		r := rowRNG(seed, tTopK, i)
		b.Field(0).(*array.Int64Builder).UnsafeAppend(i)
		b.Field(1).(*array.Float64Builder).UnsafeAppend(r.float() * 1e6)
		b.Field(2).(*array.Int64Builder).UnsafeAppend(r.intn(1000))
		b.Field(3).(*array.Int64Builder).UnsafeAppend(int64(r.next() >> 1))
		b.Field(4).(*array.Float64Builder).UnsafeAppend(r.float())
		b.Field(5).(*array.Float64Builder).UnsafeAppend(r.float() * 100)
		b.Field(6).(*array.Int64Builder).UnsafeAppend(r.intn(7))
		b.Field(7).(*array.Float64Builder).UnsafeAppend(round2(r.float() * 50))
		b.Field(8).(*array.StringBuilder).Append(fmt.Sprintf("row-%09d", i))
		b.Field(9).(*array.StringBuilder).Append(Payments[r.intn(int64(len(Payments)))])
	}
	return b.NewRecordBatch()
}

// Boroughs are the values of zones.borough.
var Boroughs = []string{"Bronx", "Brooklyn", "EWR", "Manhattan", "Queens", "Staten Island"}

// ZoneIDs is the key range of zones.zone_id: 1..263, so that trips in
// zones 264 and 265 (unknown, as in the NYC data) find no zone.
const ZoneIDs = 263

var zonesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "zone_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "borough", Type: arrow.BinaryTypes.String},
	{Name: "zone_name", Type: arrow.BinaryTypes.String},
}, nil)

// ZoneBorough is the borough of zone id (1..ZoneIDs): a fixed, uneven
// spread (Manhattan and Queens hold the most zones).
func ZoneBorough(id int64) string {
	return Boroughs[[]int{3, 4, 3, 1, 0, 3, 4, 1, 5, 3, 4, 2}[id%12]]
}

func zonesBlock(lo, hi int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, zonesSchema)
	defer b.Release()
	for id := lo + 1; id <= hi; id++ {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(ZoneBorough(id))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("zone %d", id))
	}
	return b.NewRecordBatch()
}

// exprPaths fills in the expression tables' paths.
func (d *Data) exprPaths() {
	d.LineitemDir = filepath.Join(d.Dir, "lineitem")
	for i := range LineitemFiles {
		d.Lineitem = append(d.Lineitem, filepath.Join(d.LineitemDir, fmt.Sprintf("part-%03d.parquet", i)))
	}
	d.TopK = filepath.Join(d.Dir, "topk.parquet")
	d.Zones = filepath.Join(d.Dir, "zones.parquet")
}

// exprJobs are the generation jobs of the expression tables.
func (d *Data) exprJobs() []genJob {
	n, seed := d.Size.Rows, d.Seed
	var jobs []genJob
	for i, p := range d.Lineitem {
		lo, hi := n*int64(i)/LineitemFiles, n*int64(i+1)/LineitemFiles
		jobs = append(jobs, genJob{cost: (hi - lo) * 50, run: func() error {
			return writeParquet(p, LineitemSchema, hi-lo, tripsRowGroupRows(hi-lo), nil,
				func(a, b int64) arrow.RecordBatch { return lineitemBlock(seed, lo+a, lo+b) })
		}})
	}
	jobs = append(jobs,
		genJob{cost: n * 80, run: func() error {
			return writeParquet(d.TopK, topkSchema, n, singleRowGroupRows(n), nil, func(a, b int64) arrow.RecordBatch { return topkBlock(seed, a, b) })
		}},
		genJob{cost: ZoneIDs, run: func() error {
			return writeParquet(d.Zones, zonesSchema, ZoneIDs, ZoneIDs, nil, func(a, b int64) arrow.RecordBatch { return zonesBlock(a, b) })
		}},
	)
	return jobs
}
