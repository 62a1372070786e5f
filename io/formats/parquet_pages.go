package formats

import (
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/shoal-data/shoal/ops"
)

// A Parquet file may carry a page index: each column chunk's pages with
// their first row (the offset index) and their min, max and null count
// (the column index). A read with a filter uses it the way row group
// statistics are used, one level down: the row group is cut where any
// filter column's page starts, each piece is judged on the stats of the
// pages covering it, and only the pieces the filter may match are decoded
// (pqarrow seeks each column to a piece's first row through the offset
// index). The filter still runs on every decoded row; pruning only skips
// rows it would have dropped.

// pqRowRange is the rows [start, end) of a row group.
type pqRowRange struct{ start, end int64 }

// pqPageStats is what one column's page index says, page by page.
type pqPageStats struct {
	first    []int64 // each page's first row, ascending
	min, max []any   // nil where unknown or for an all-null page
	nulls    []int64 // -1 where unknown
	allNull  []bool
	rows     int64 // the row group's rows, where the last page ends
}

// page is the index of the page holding row r.
func (p *pqPageStats) page(r int64) int {
	return sort.Search(len(p.first), func(i int) bool { return p.first[i] > r }) - 1
}

func (p *pqPageStats) stats(r int64) (min, max any, nulls int64, ok bool) {
	i := p.page(r)
	if i < 0 {
		return nil, nil, -1, false
	}
	if p.allNull[i] {
		end := p.rows
		if i+1 < len(p.first) {
			end = p.first[i+1]
		}
		return nil, nil, end - p.first[i], true
	}
	if p.min[i] == nil {
		return nil, nil, -1, false
	}
	return p.min[i], p.max[i], p.nulls[i], true
}

// pqPageRanges returns the pieces of row group rg that filter may match,
// judged by the page index of its columns; all is true when the whole row
// group must be read (no filter, no usable page index, or every page may
// match). A piece list that is empty skips the row group.
func pqPageRanges(pr *file.Reader, rg int, filter ops.Expr) (ranges []pqRowRange, all bool) {
	if filter.IsZero() {
		return nil, true
	}
	md := pr.MetaData()
	rows := md.RowGroups[rg].NumRows
	var idx *metadata.RowGroupPageIndexReader
	cols := map[string]*pqPageStats{}
	cuts := []int64{0}
	for _, name := range filter.Columns() {
		if _, seen := cols[name]; seen {
			continue
		}
		leaf := md.Schema.ColumnIndexByName(name)
		if leaf < 0 {
			continue
		}
		col := md.Schema.Column(leaf)
		kind := parquetStatKindOf(col)
		if kind == pqStatNone || col.MaxRepetitionLevel() > 0 || col.ColumnPath().String() != name ||
			col.ColumnOrder() != parquet.ColumnOrders.TypeDefinedOrder {
			continue
		}
		if idx == nil {
			var err error
			if idx, err = pr.GetPageIndexReader().RowGroup(rg); err != nil || idx == nil {
				return nil, true
			}
		}
		ps := pqLoadPageStats(idx, leaf, kind, col, rows)
		if ps == nil {
			continue
		}
		cols[name] = ps
		cuts = append(cuts, ps.first...)
	}
	if len(cols) == 0 {
		return nil, true
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for i, start := range cuts {
		end := rows
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		if start >= end {
			continue
		}
		may := filter.MayMatch(func(name string) (any, any, int64, bool) {
			if ps := cols[name]; ps != nil {
				return ps.stats(start)
			}
			return nil, nil, -1, false
		})
		if !may {
			continue
		}
		if n := len(ranges); n > 0 && ranges[n-1].end == start {
			ranges[n-1].end = end
		} else {
			ranges = append(ranges, pqRowRange{start, end})
		}
	}
	if len(ranges) == 1 && ranges[0] == (pqRowRange{0, rows}) {
		return nil, true
	}
	return ranges, false
}

// pqLoadPageStats decodes leaf's page index in a row group of rows rows, or
// returns nil when the file has none (or one that does not add up).
func pqLoadPageStats(idx *metadata.RowGroupPageIndexReader, leaf int, kind parquetStatKind, col *schema.Column, rows int64) (ps *pqPageStats) {
	defer func() {
		// arrow-go panics on an index it cannot decode: then there is none.
		if recover() != nil {
			ps = nil
		}
	}()
	oi, err := idx.GetOffsetIndex(leaf)
	if err != nil || oi == nil {
		return nil
	}
	ci, err := idx.GetColumnIndex(leaf)
	if err != nil || ci == nil {
		return nil
	}
	locs := oi.GetPageLocations()
	nullPages, mins, maxs := ci.GetNullPages(), ci.GetMinValues(), ci.GetMaxValues()
	n := len(locs)
	if n == 0 || len(nullPages) != n || len(mins) != n || len(maxs) != n || locs[0].FirstRowIndex != 0 {
		return nil
	}
	var counts []int64
	if ci.IsSetNullCounts() {
		if counts = ci.GetNullCounts(); len(counts) != n {
			return nil
		}
	}
	ps = &pqPageStats{rows: rows, first: make([]int64, n), min: make([]any, n), max: make([]any, n),
		nulls: make([]int64, n), allNull: make([]bool, n)}
	for i, loc := range locs {
		if loc.FirstRowIndex < 0 || loc.FirstRowIndex >= rows || (i > 0 && loc.FirstRowIndex <= ps.first[i-1]) {
			return nil
		}
		ps.first[i] = loc.FirstRowIndex
		ps.nulls[i] = -1
		if counts != nil && counts[i] >= 0 {
			ps.nulls[i] = counts[i]
		}
		if nullPages[i] {
			ps.allNull[i] = true
			continue
		}
		if lo, hi, ok := pqDecodeStats(kind, col, mins[i], maxs[i]); ok {
			ps.min[i], ps.max[i] = lo, hi
		}
	}
	return ps
}
