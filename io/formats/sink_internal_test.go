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
	s, err := NewSink(t.Context(), SinkOptions{Path: t.TempDir(), Encoder: Parquet(ParquetOptions{}), WriteID: "w", MaxRowsPerFile: 7})
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
	if again.opts.MaxRowsPerFile != 7 {
		t.Errorf("MaxRowsPerFile %d after the spec, want 7", again.opts.MaxRowsPerFile)
	}
}
