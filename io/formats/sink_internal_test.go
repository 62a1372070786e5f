package formats

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestPartitionRowsBothPaths: the Grouper path and the per-row path give
// the same groups, and a key type the Grouper does not hash (a dictionary
// column) still partitions.
func TestPartitionRowsBothPaths(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	city := array.NewStringBuilder(mem)
	year := array.NewInt64Builder(mem)
	dict := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	for i := range 12 {
		if i%5 == 4 {
			city.AppendNull()
		} else {
			city.Append([]string{"Oslo", "Lima/East"}[i%2])
		}
		year.Append(int64(2020 + i%3))
		if err := dict.AppendString([]string{"a", "b"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	cols := []arrow.Array{city.NewArray(), year.NewArray(), dict.NewArray()}
	city.Release()
	year.Release()
	dict.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "city", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "year", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: cols[2].DataType()},
	}, nil)
	b := array.NewRecordBatch(schema, cols, 12)
	for _, c := range cols {
		c.Release()
	}
	defer b.Release()

	by := []string{"city", "year"}
	viaGrouper, ok := partitionByGrouper(b, by)
	if !ok {
		t.Fatal("string and int64 keys should go through the Grouper")
	}
	byRow := partitionByRow(b, by, []arrow.Array{b.Column(0), b.Column(1)})
	if fmt.Sprint(viaGrouper) != fmt.Sprint(byRow) {
		t.Errorf("grouper %v\nrow     %v", viaGrouper, byRow)
	}
	sorted, err := partitionRows(b, by)
	if err != nil || len(sorted) != 8 || sorted[0].dir != "city=Lima%2FEast/year=2020" || sorted[7].dir != "city=__HIVE_DEFAULT_PARTITION__/year=2021" {
		t.Errorf("groups %v, %v", sorted, err)
	}

	if _, ok := partitionByGrouper(b, []string{"d"}); ok {
		t.Skip("the Grouper now hashes dictionary columns; the fallback is untested here")
	}
	groups, err := partitionRows(b, []string{"d"})
	if err != nil || len(groups) != 2 || groups[0].dir != "d=a" || len(groups[0].rows) != 6 {
		t.Errorf("dictionary partition: %v, %v", groups, err)
	}
}

// TestSinkSpecKeepsMaxRowsPerFile: a sink rebuilt from its spec in another
// process splits blocks alike.
func TestSinkSpecKeepsMaxRowsPerFile(t *testing.T) {
	s, err := NewSink(t.Context(), SinkOptions{Path: t.TempDir(), Encoder: Parquet(ParquetOptions{}), WriteID: "w", MaxRowsPerFile: 7, MaxFileBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	args, ok := s.SpecArgs()
	if !ok {
		t.Fatal("a local Parquet sink does not travel")
	}
	again, err := SinkFromSpecArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	if again.opts.MaxRowsPerFile != 7 || again.opts.MaxFileBytes != 1<<20 {
		t.Errorf("MaxRowsPerFile %d, MaxFileBytes %d after the spec, want 7 and 1 MiB", again.opts.MaxRowsPerFile, again.opts.MaxFileBytes)
	}
}

// TestFilePieces: how a block is cut into files by rows and by bytes.
func TestFilePieces(t *testing.T) {
	for _, c := range []struct {
		maxRows, maxBytes, rows, size int64
		pieces, per                   int64
	}{
		{0, 0, 0, 0, 1, 0},                                     // no rows: one file, of the schema
		{0, 0, 1000, 1 << 20, 1, 1000},                         // under the default bound
		{0, 0, 1000, 3*DefaultMaxFileBytes + 1, 4, 250},        // the default bound: equal shares
		{0, -1, 1000, 3 * DefaultMaxFileBytes, 1, 1000},        // no bound
		{300, 0, 1000, 1 << 20, 4, 300},                        // rows: 300, 300, 300, 100
		{300, 100, 1000, 1000, 10, 100},                        // bytes split more than rows
		{600, 500, 1000, 1000, 2, 600},                         // rows split as much as bytes
		{0, 10, 3, 1 << 20, 3, 1},                              // never fewer than one row a file
		{0, DefaultMaxFileBytes, 5, DefaultMaxFileBytes, 1, 5}, // at the bound: one file
	} {
		o := SinkOptions{MaxRowsPerFile: c.maxRows, MaxFileBytes: c.maxBytes}
		if p, per := o.filePieces(c.rows, c.size); p != c.pieces || per != c.per {
			t.Errorf("%+v: %d pieces of %d rows, want %d of %d", c, p, per, c.pieces, c.per)
		}
	}
}
