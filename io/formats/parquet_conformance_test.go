package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/thrift/lib/go/thrift"

	"github.com/shoal-data/shoal/internal/ci"
	"github.com/shoal-data/shoal/io/storage"
)

// The apache/parquet-testing files live beside the checkout, in
// ../shared/testdata (see its README); from this package's directory that
// is three levels up.
const pqTestingDir = "../../../shared/testdata/parquet-testing"

func pqTestingPath(t *testing.T, sub string) string {
	t.Helper()
	d := filepath.Join(pqTestingDir, sub)
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		skipWithoutTestdata(t, fmt.Sprintf("parquet-testing files not found at %s (they belong in ../shared/testdata beside the checkout): %v", d, err))
	}
	return d
}

// skipWithoutTestdata skips a test whose public test data is missing, and
// fails it under CI, where a skip would hide that the test never ran.
func skipWithoutTestdata(t *testing.T, msg string) {
	t.Helper()
	ci.Missing(t, msg+" (../shared/testdata belongs beside the checkout)")
}

func pqListParquet(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".parquet") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no .parquet files in %s", dir)
	}
	return out
}

// pqUnsupported lists the valid files in data/ that this reader (arrow-go
// v18.8.0 underneath) cannot read, with a fragment of the error each must
// give and why. A file that starts to read fails the test, so the list
// stays true. It is empty: every valid file reads (parquet_repair.go
// carries what arrow-go lacks).
var pqUnsupported = map[string]struct{ want, why string }{}

// pqCorruptChecksum lists the files in data/ whose page CRCs do not match
// their pages, with where the first mismatch is: each read must fail there.
var pqCorruptChecksum = map[string]string{
	"datapage_v1-corrupt-checksum.parquet":           "row group 0, column a, page 0 (data page at offset 4): page checksum mismatch",
	"rle-dict-uncompressed-corrupt-checksum.parquet": "row group 0, column long_field, page 0 (dictionary page at offset 4): page checksum mismatch",
}

// pqFooterRowsWrong lists files whose footer num_rows disagrees with the
// sum of their row groups, which is what the reader decodes and reports.
var pqFooterRowsWrong = map[string]string{
	"repeated_no_annotation.parquet": "parquet-rs 0.3.0 wrote num_rows 0 in the footer; its one row group holds 6 rows",
}

// pqFooterRows reads the footer's num_rows with arrow-go's Thrift
// decoder alone (its schema builder refuses some valid files).
func pqFooterRows(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	var holder metadata.FileMetaData
	fm := newLike(holder.FileMetaData)
	prot := thrift.NewTCompactProtocolConf(&thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(data[len(data)-8-n : len(data)-8])}, pqFooterThriftConf())
	if err := fm.Read(context.Background(), prot); err != nil {
		t.Fatalf("footer of %s: %v", path, err)
	}
	return fm.NumRows
}

// pqOpen opens a local file and closes it when the test ends.
func pqOpen(t *testing.T, path string) storage.File {
	t.Helper()
	f, err := storage.Local{}.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pqInspectRead inspects f and reads all of it.
func pqInspectRead(ctx context.Context, p *ParquetFormat, f storage.File, mem memory.Allocator, batch int) (*FileMeta, []arrow.RecordBatch, error) {
	meta, err := p.Inspect(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	var recs []arrow.RecordBatch
	err = p.Read(ctx, f, meta, ReadRequest{Alloc: mem, BatchRows: batch, Limit: -1}, func(r arrow.RecordBatch) error {
		recs = append(recs, r)
		return nil
	})
	return meta, recs, err
}

func TestParquetConformanceLists(t *testing.T) {
	dir := pqTestingPath(t, "data")
	have := map[string]bool{}
	for _, n := range pqListParquet(t, dir) {
		have[n] = true
	}
	for n := range pqUnsupported {
		if !have[n] {
			t.Errorf("pqUnsupported names %s, which is not in %s", n, dir)
		}
	}
	for n := range pqFooterRowsWrong {
		if !have[n] {
			t.Errorf("pqFooterRowsWrong names %s, which is not in %s", n, dir)
		}
	}
	for n := range pqCorruptChecksum {
		if !have[n] {
			t.Errorf("pqCorruptChecksum names %s, which is not in %s", n, dir)
		}
	}
}

// TestParquetConformance reads every file of parquet-testing/data: each
// must inspect and read in full with the footer's row count, read each
// top-level column alone to the same values (which catches leaf and field
// indices mixed up in nested files), stop at a limit, and leak nothing;
// or fail as pqUnsupported says.
func TestParquetConformance(t *testing.T) {
	dir := pqTestingPath(t, "data")
	p := Parquet(ParquetOptions{})
	for _, name := range pqListParquet(t, dir) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			f := pqOpen(t, path)
			mem := pqCheckedAlloc()
			defer mem.AssertSize(t, 0)
			ctx := context.Background()

			meta, recs, err := pqInspectRead(ctx, p, f, mem, 0)
			defer pqRelease(recs)
			if u, ok := pqUnsupported[name]; ok {
				if err == nil {
					t.Fatalf("now reads (%d rows): remove it from pqUnsupported (%s)", pqRows(recs), u.why)
				}
				if !strings.Contains(err.Error(), f.Name()) || !strings.Contains(err.Error(), u.want) {
					t.Fatalf("error %q: want one naming the file and containing %q (%s)", err, u.want, u.why)
				}
				t.Logf("unsupported, as listed: %v", err)
				return
			}
			if want, ok := pqCorruptChecksum[name]; ok {
				pqCheckCorruptChecksum(t, f, meta, err, want)
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}

			var unitRows int64
			for _, u := range meta.Units {
				unitRows += u.Rows
			}
			footer := pqFooterRows(t, path)
			if why, ok := pqFooterRowsWrong[name]; ok {
				if footer == meta.Rows {
					t.Errorf("listed in pqFooterRowsWrong (%s) but the footer agrees", why)
				}
			} else if footer != meta.Rows {
				t.Errorf("footer num_rows %d, inspected %d", footer, meta.Rows)
			}
			if meta.Rows != unitRows {
				t.Errorf("rows %d, units hold %d", meta.Rows, unitRows)
			}
			if got := pqRows(recs); got != meta.Rows {
				t.Fatalf("read %d rows, want %d", got, meta.Rows)
			}
			for _, r := range recs {
				if !r.Schema().Equal(meta.Schema) {
					t.Fatalf("block schema\n%s\ninspected\n%s", r.Schema(), meta.Schema)
				}
			}
			pqCheckRewrite(t, meta, recs, mem)
			if meta.Rows == 0 {
				return
			}

			// Through a buffered stream, the same values.
			buffered := Parquet(ParquetOptions{BufferedStream: true})
			var again []arrow.RecordBatch
			err = buffered.Read(ctx, f, meta, ReadRequest{Alloc: mem, Limit: -1}, func(r arrow.RecordBatch) error {
				again = append(again, r)
				return nil
			})
			if err != nil {
				t.Errorf("buffered stream: %v", err)
			} else {
				pqAssertColumnsEqual(t, recs, again, pqFieldNames(meta.Schema))
			}
			pqRelease(again)

			// Each top-level column alone, in small batches.
			for i, fld := range meta.Schema.Fields() {
				var got []arrow.RecordBatch
				err := p.Read(ctx, f, meta, ReadRequest{Alloc: mem, Columns: []string{fld.Name}, BatchRows: 3, Limit: -1}, func(r arrow.RecordBatch) error {
					got = append(got, r)
					return nil
				})
				if err != nil {
					t.Errorf("column %s alone: %v", fld.Name, err)
					pqRelease(got)
					continue
				}
				if n := pqRows(got); n != meta.Rows {
					t.Errorf("column %s alone: %d rows", fld.Name, n)
				}
				for _, r := range got {
					if r.NumCols() != 1 || r.Schema().Field(0).Name != fld.Name || r.NumRows() > 3 {
						t.Fatalf("column %s alone: block %s with %d rows", fld.Name, r.Schema(), r.NumRows())
					}
				}
				w := pqConcat(t, recs, i)
				g := pqConcat(t, got, 0)
				if !arrow.TypeEqual(w.DataType(), g.DataType()) || !pqArraysEqual(w, g) {
					t.Errorf("column %s alone differs from the full read:\n%v\n%v", fld.Name, g, w)
				}
				w.Release()
				g.Release()
				pqRelease(got)
			}

			// A limit in the middle.
			limit := meta.Rows/2 + 1
			var got []arrow.RecordBatch
			err = p.Read(ctx, f, meta, ReadRequest{Alloc: mem, BatchRows: 4, Limit: limit}, func(r arrow.RecordBatch) error {
				got = append(got, r)
				return nil
			})
			if err != nil || pqRows(got) != limit {
				t.Errorf("limit %d: %d rows, err %v", limit, pqRows(got), err)
			}
			pqRelease(got)

			pqCheckStatsAgainstData(t, p, f, meta, mem)
		})
	}
}

// pqCheckRewrite writes what was read with Encode (as shoal convert
// does) and reads it back: the same schema and values, and for no rows a
// valid file holding the schema.
func pqCheckRewrite(t *testing.T, meta *FileMeta, recs []arrow.RecordBatch, mem memory.Allocator) {
	t.Helper()
	var buf bytes.Buffer
	p := Parquet(ParquetOptions{})
	if err := p.Encode(context.Background(), &buf, meta.Schema, recs); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	meta2, again, err := pqInspectRead(context.Background(), p, pqFile("rewritten.parquet", buf.Bytes()), mem, 0)
	defer pqRelease(again)
	if err != nil {
		t.Fatalf("reading the rewrite: %v", err)
	}
	if !meta2.Schema.Equal(meta.Schema) {
		t.Fatalf("rewrite's schema\n%s\nread\n%s", meta2.Schema, meta.Schema)
	}
	if pqRows(again) != meta.Rows {
		t.Fatalf("rewrite holds %d rows, want %d", pqRows(again), meta.Rows)
	}
	if meta.Rows > 0 {
		pqAssertColumnsEqual(t, recs, again, pqFieldNames(meta.Schema))
	}
}

// pqCheckCorruptChecksum checks the error of a full read of a file with a
// corrupt page, and that a buffered read and a read of that column alone
// fail alike.
func pqCheckCorruptChecksum(t *testing.T, f storage.File, meta *FileMeta, err error, want string) {
	t.Helper()
	var ce *ParquetChecksumError
	if err == nil || !errors.As(err, &ce) {
		t.Fatalf("read gave %v; want a page checksum error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, f.Name()) || !strings.Contains(msg, want) {
		t.Fatalf("error %q: want one naming the file and containing %q", msg, want)
	}
	for _, o := range []ParquetOptions{{BufferedStream: true}, {}} {
		err := Parquet(o).Read(context.Background(), f, meta, ReadRequest{Columns: []string{ce.Column}, Limit: -1}, func(r arrow.RecordBatch) error {
			r.Release()
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v, column %s alone: error %v, want %q", o, ce.Column, err, want)
		}
	}
}

// pqCheckStatsAgainstData checks that every statistic Inspect reports
// holds for the data: min and max bound the values (NaN aside) and the
// null count is exact.
func pqCheckStatsAgainstData(t *testing.T, p *ParquetFormat, f storage.File, meta *FileMeta, mem memory.Allocator) {
	t.Helper()
	for u, unit := range meta.Units {
		for name, st := range unit.Stats {
			if st.NullCount < -1 || st.NullCount > unit.Rows {
				t.Errorf("unit %d, %s: null count %d of %d rows", u, name, st.NullCount, unit.Rows)
			}
			if st.HasMinMax {
				if fmt.Sprintf("%T", st.Min) != fmt.Sprintf("%T", st.Max) {
					t.Errorf("unit %d, %s: min %T, max %T", u, name, st.Min, st.Max)
				}
				if pqLess(st.Max, st.Min) {
					t.Errorf("unit %d, %s: min %v > max %v", u, name, st.Min, st.Max)
				}
			}
			var got []arrow.RecordBatch
			err := p.Read(context.Background(), f, meta, ReadRequest{Alloc: mem, Columns: []string{name}, Units: []int{u}, Limit: -1}, func(r arrow.RecordBatch) error {
				got = append(got, r)
				return nil
			})
			if err != nil {
				t.Errorf("unit %d, %s: %v", u, name, err)
				continue
			}
			var nulls int64
			for _, r := range got {
				col := r.Column(0)
				nulls += int64(col.NullN())
				for i := 0; i < col.Len(); i++ {
					v, ok := pqStatValue(col, i)
					if !ok || !st.HasMinMax {
						continue
					}
					if pqLess(v, st.Min) || pqLess(st.Max, v) {
						t.Errorf("unit %d, %s: value %v outside the stats [%v, %v]", u, name, v, st.Min, st.Max)
						break
					}
				}
			}
			pqRelease(got)
			if st.NullCount >= 0 && st.NullCount != nulls {
				t.Errorf("unit %d, %s: stats say %d nulls, the data has %d", u, name, st.NullCount, nulls)
			}
		}
	}
}

// pqStatValue is a value as ColumnStats holds it; false for nulls, NaN and
// types that have no stats.
func pqStatValue(a arrow.Array, i int) (any, bool) {
	if a.IsNull(i) {
		return nil, false
	}
	switch c := a.(type) {
	case *array.Int8:
		return int64(c.Value(i)), true
	case *array.Int16:
		return int64(c.Value(i)), true
	case *array.Int32:
		return int64(c.Value(i)), true
	case *array.Int64:
		return c.Value(i), true
	case *array.Uint8:
		return uint64(c.Value(i)), true
	case *array.Uint16:
		return uint64(c.Value(i)), true
	case *array.Uint32:
		return uint64(c.Value(i)), true
	case *array.Uint64:
		return c.Value(i), true
	case *array.Float32:
		v := float64(c.Value(i))
		return v, !math.IsNaN(v)
	case *array.Float64:
		v := c.Value(i)
		return v, !math.IsNaN(v)
	case *array.String:
		return c.Value(i), true
	case *array.LargeString:
		return c.Value(i), true
	case *array.Boolean:
		return c.Value(i), true
	}
	return nil, false
}

// pqLess orders two stats values of one kind.
func pqLess(a, b any) bool {
	switch x := a.(type) {
	case int64:
		return x < b.(int64)
	case uint64:
		return x < b.(uint64)
	case float64:
		return x < b.(float64)
	case string:
		return x < b.(string)
	case bool:
		return !x && b.(bool)
	}
	panic(fmt.Sprintf("stats value of type %T", a))
}

// TestParquetConformanceStats pins what Inspect reports for files whose
// statistics need care.
func TestParquetConformanceStats(t *testing.T) {
	dir := pqTestingPath(t, "data")
	p := Parquet(ParquetOptions{})
	inspect := func(t *testing.T, name string) *FileMeta {
		t.Helper()
		meta, err := p.Inspect(context.Background(), pqOpen(t, filepath.Join(dir, name)))
		if err != nil {
			t.Fatal(err)
		}
		return meta
	}
	t.Run("NaN max is no max", func(t *testing.T) {
		// pyarrow 0.8 wrote NaN as the max.
		st, ok := inspect(t, "nan_in_stats.parquet").Units[0].Stats["x"]
		if ok && st.HasMinMax {
			t.Errorf("x: %+v, want no min/max", st)
		}
	})
	t.Run("single NaN", func(t *testing.T) {
		if st := inspect(t, "single_nan.parquet").Units[0].Stats["mycol"]; st.HasMinMax {
			t.Errorf("mycol: %+v, want no min/max", st)
		}
	})
	t.Run("truncated bounds are not values", func(t *testing.T) {
		stats := inspect(t, "binary_truncated_min_max.parquet").Units[0].Stats
		if st := stats["utf8_no_truncation"]; !st.HasMinMax || st.Min != "Al" || st.Max != "Ke" {
			t.Errorf("utf8_no_truncation: %+v", st)
		}
		for _, c := range []string{"utf8_full_truncation", "utf8_partial_truncation"} {
			if st := stats[c]; st.HasMinMax {
				t.Errorf("%s: %+v, want no min/max (is_*_value_exact is false)", c, st)
			}
		}
		for _, c := range []string{"binary_full_truncation", "binary_partial_truncation", "binary_no_truncation"} {
			if st, ok := stats[c]; ok {
				t.Errorf("%s: %+v, want none (binary without a STRING annotation)", c, st)
			}
		}
	})
	t.Run("floats with NaN and zero bounds", func(t *testing.T) {
		meta := inspect(t, "floating_orders_nan_count.parquet")
		if len(meta.Units) != 5 {
			t.Fatalf("%d units", len(meta.Units))
		}
		// Unit 2 is all NaN: no bounds at all.
		for name, st := range meta.Units[2].Stats {
			if st.HasMinMax {
				t.Errorf("all-NaN unit, %s: %+v", name, st)
			}
		}
		// Unit 3 has 0 as its minimum: reported as -0.
		for _, c := range []string{"float_typedef", "double_typedef"} {
			st := meta.Units[3].Stats[c]
			lo, _ := st.Min.(float64)
			if !st.HasMinMax || lo != 0 || !math.Signbit(lo) {
				t.Errorf("zero-min unit, %s: %+v, want min -0", c, st)
			}
			st = meta.Units[4].Stats[c]
			hi, _ := st.Max.(float64)
			if !st.HasMinMax || hi != 0 || math.Signbit(hi) {
				t.Errorf("zero-max unit, %s: %+v, want max +0", c, st)
			}
		}
		// float16 has no stats.
		for u, unit := range meta.Units {
			for name := range unit.Stats {
				if strings.HasPrefix(name, "float16") {
					t.Errorf("unit %d: stats for %s", u, name)
				}
			}
		}
	})
	t.Run("no stats for logical types", func(t *testing.T) {
		for _, name := range []string{"int32_decimal.parquet", "int64_decimal.parquet", "fixed_length_decimal.parquet", "byte_array_decimal.parquet", "float16_nonzeros_and_nans.parquet"} {
			for u, unit := range inspect(t, name).Units {
				for c, st := range unit.Stats {
					if st.HasMinMax {
						t.Errorf("%s unit %d, %s: %+v, want no min/max", name, u, c, st)
					}
				}
			}
		}
	})
	t.Run("plain columns", func(t *testing.T) {
		stats := inspect(t, "alltypes_tiny_pages_plain.parquet").Units[0].Stats
		want := map[string]ColumnStats{
			"id":         {Min: int64(0), Max: int64(7299), HasMinMax: true, NullCount: 0},
			"bool_col":   {Min: false, Max: true, HasMinMax: true, NullCount: 0},
			"string_col": {Min: "0", Max: "9", HasMinMax: true, NullCount: 0},
			"year":       {Min: int64(2009), Max: int64(2010), HasMinMax: true, NullCount: 0},
		}
		for c, w := range want {
			if g := stats[c]; g != w {
				t.Errorf("%s: %+v, want %+v", c, g, w)
			}
		}
		if st, ok := stats["timestamp_col"]; ok {
			t.Errorf("timestamp_col: %+v, want none", st)
		}
	})
}

// TestParquetConformanceExpectedCSV compares the delta-encoded files with
// the values their *_expect.csv hold. The CSVs write nulls as empty
// unquoted fields and hold no empty strings (checked), so an empty cell
// must be a null.
func TestParquetConformanceExpectedCSV(t *testing.T) {
	dir := pqTestingPath(t, "data")
	p := Parquet(ParquetOptions{})
	csvs, err := filepath.Glob(filepath.Join(dir, "*_expect.csv"))
	if err != nil || len(csvs) == 0 {
		t.Fatalf("no *_expect.csv files in %s: %v", dir, err)
	}
	for _, csvPath := range csvs {
		name := strings.TrimSuffix(filepath.Base(csvPath), "_expect.csv") + ".parquet"
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(csvPath)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), `""`) {
				t.Fatalf("%s holds a quoted empty string: empty cells would be ambiguous", csvPath)
			}
			rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			header, rows := rows[0], rows[1:]

			mem := pqCheckedAlloc()
			defer mem.AssertSize(t, 0)
			f := pqOpen(t, filepath.Join(dir, name))
			meta, recs, err := pqInspectRead(context.Background(), p, f, mem, 37)
			defer pqRelease(recs)
			if err != nil {
				t.Fatal(err)
			}
			if len(meta.Schema.Fields()) != len(header) {
				t.Fatalf("%d columns, the CSV has %d", len(meta.Schema.Fields()), len(header))
			}
			if pqRows(recs) != int64(len(rows)) {
				t.Fatalf("%d rows, the CSV has %d", pqRows(recs), len(rows))
			}
			clean := func(s string) string { return strings.TrimSuffix(strings.TrimSpace(s), ":") }
			for c, fld := range meta.Schema.Fields() {
				if clean(fld.Name) != clean(header[c]) {
					t.Errorf("column %d is %q, the CSV says %q", c, fld.Name, header[c])
				}
				col := pqConcat(t, recs, c)
				bad := 0
				for r := range rows {
					got, isNull := pqFormatCell(t, col, r)
					want := rows[r][c]
					ok := got == want
					if isNull || want == "" {
						ok = isNull && want == ""
					} else if !ok {
						ok = pqSameNumber(got, want)
					}
					if !ok {
						if bad++; bad <= 5 {
							t.Errorf("row %d, column %s: got %q (null %v), want %q", r, fld.Name, got, isNull, want)
						}
					}
				}
				if bad > 5 {
					t.Errorf("column %s: %d cells differ in all", fld.Name, bad)
				}
				col.Release()
			}
		})
	}
}

// pqFormatCell formats a flat value as the CSVs write it.
func pqFormatCell(t *testing.T, a arrow.Array, i int) (string, bool) {
	if a.IsNull(i) {
		return "", true
	}
	switch c := a.(type) {
	case *array.Int32:
		return strconv.FormatInt(int64(c.Value(i)), 10), false
	case *array.Int64:
		return strconv.FormatInt(c.Value(i), 10), false
	case *array.Uint32:
		return strconv.FormatUint(uint64(c.Value(i)), 10), false
	case *array.Uint64:
		return strconv.FormatUint(c.Value(i), 10), false
	case *array.Float32:
		return strconv.FormatFloat(float64(c.Value(i)), 'g', -1, 32), false
	case *array.Float64:
		return strconv.FormatFloat(c.Value(i), 'g', -1, 64), false
	case *array.String:
		return c.Value(i), false
	case *array.Binary:
		return string(c.Value(i)), false
	case *array.Boolean:
		return strconv.FormatBool(c.Value(i)), false
	}
	t.Fatalf("no CSV format for %s", a.DataType())
	return "", false
}

// pqSameNumber compares numbers written differently ("1.5" and "1.50").
func pqSameNumber(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
}

// pqBadData says what each file in parquet-testing/bad_data must do. The
// descriptions are of the bugs the files reproduce, from their names and
// what the reader reports.
var pqBadData = map[string]struct {
	fail bool   // the read must fail ...
	want string // ... with an error containing this (besides the file's name)
	why  string
	// check, for files a careful reader accepts, checks the values read.
	check func(t *testing.T, meta *FileMeta, recs []arrow.RecordBatch)
}{
	"ARROW-GH-41317.parquet": {
		fail: true, want: "row group 0, column timestamp_us_no_tz",
		why: "apache/arrow#41317: the column chunks of one row group do not hold the same number of rows; " +
			"arrow-go fails reading a page header of the timestamp column, where that column's data runs short",
	},
	"ARROW-GH-41321.parquet": {
		fail: true, want: "row group 0, column int64",
		why: "apache/arrow#41321: a page decodes fewer repetition/definition levels than its header's num_values; " +
			"arrow-go stops at the level run's impossible bit width",
	},
	"ARROW-GH-43605.parquet": {
		fail: false,
		why: "apache/arrow#43605: dictionary indices RLE-encoded with bit width 0. Width 0 can only encode " +
			"index 0, so every value is the dictionary's first (0): a careful reader accepts the file; " +
			"other readers expect 21186 rows of uint16 0",
		check: func(t *testing.T, meta *FileMeta, recs []arrow.RecordBatch) {
			if meta.Rows != 21186 || pqRows(recs) != 21186 {
				t.Errorf("rows %d / %d, want 21186", meta.Rows, pqRows(recs))
			}
			if len(meta.Schema.Fields()) != 1 || meta.Schema.Field(0).Type.ID() != arrow.UINT16 {
				t.Fatalf("schema %s, want one uint16 column", meta.Schema)
			}
			for _, r := range recs {
				c := r.Column(0).(*array.Uint16)
				for i := 0; i < c.Len(); i++ {
					if c.IsValid(i) && c.Value(i) != 0 {
						t.Fatalf("value %d at %d, want 0", c.Value(i), i)
					}
				}
			}
		},
	},
	"ARROW-GH-45185.parquet": {
		fail: true, want: "row group 0, column x: parquet: record starts with a nonzero repetition level",
		why: "apache/arrow#45185: a repeated column's levels begin with repetition level 1, " +
			"continuing a list that no record started",
	},
	"ARROW-RS-GH-6229-DICTHEADER.parquet": {
		fail: true, want: "row group 0, column region_key: column chunk [466, 466+125) lies outside the file",
		why: "apache/arrow-rs#6229: a dictionary page header says it holds a negative number of values; " +
			"the file is cut short, and Inspect already refuses the footer's column chunk ranges past its end",
	},
	"ARROW-RS-GH-6229-LEVELS.parquet": {
		fail: true, want: "row group 0, column outer",
		why: "apache/arrow-rs#6229: a page holds fewer repetition levels than its header promises values",
	},
	"PARQUET-1481.parquet": {
		fail: true, want: "invalid physical column type",
		why: "PARQUET-1481: the schema's thrift holds an out-of-range physical type enum",
	},
}

// TestParquetBadData reads every file in parquet-testing/bad_data under a
// watchdog, a context deadline and an allocator that refuses to hold more
// than 256 MiB: each must give the outcome pqBadData lists, never panic,
// hang or allocate without bound.
func TestParquetBadData(t *testing.T) {
	dir := pqTestingPath(t, "bad_data")
	names := pqListParquet(t, dir)
	listed := map[string]bool{}
	for _, n := range names {
		listed[n] = true
		if _, ok := pqBadData[n]; !ok {
			t.Errorf("%s is not in pqBadData: say what it must do", n)
		}
	}
	for n := range pqBadData {
		if !listed[n] {
			t.Errorf("pqBadData names %s, which is not in %s", n, dir)
		}
	}
	const limit = 256 << 20
	p := Parquet(ParquetOptions{})
	for _, name := range names {
		want, ok := pqBadData[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			f := pqOpen(t, filepath.Join(dir, name))
			// The limit sits outside the checked allocator, which counts an
			// allocation before the allocator under it can refuse it.
			checked := pqCheckedAlloc()
			mem := &pqLimitAlloc{mem: checked, limit: limit}
			lim := mem
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			type result struct {
				meta  *FileMeta
				recs  []arrow.RecordBatch
				err   error
				panic any
			}
			done := make(chan result, 1)
			go func() {
				var res result
				defer func() {
					if r := recover(); r != nil {
						res.panic = r
					}
					done <- res
				}()
				for _, batch := range []int{0, 7} {
					pqRelease(res.recs)
					res.meta, res.recs, res.err = pqInspectRead(ctx, p, f, mem, batch)
				}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("still reading after 30 s: hung")
			}
			defer pqRelease(res.recs)
			if res.panic != nil {
				t.Fatalf("panic escaped: %v", res.panic)
			}
			if errors.Is(res.err, context.DeadlineExceeded) {
				t.Fatalf("hit the deadline: %v", res.err)
			}
			if lim.peak.Load() > limit {
				t.Errorf("peak allocation %d over the limit", lim.peak.Load())
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > 1<<30 {
				t.Errorf("heap holds %d MiB after the read", ms.HeapAlloc>>20)
			}
			t.Logf("peak %d KiB allocated; outcome: rows %d, err %v", lim.peak.Load()>>10, pqRows(res.recs), res.err)

			if want.fail {
				if res.err == nil {
					t.Fatalf("read %d rows without error; want an error containing %q (%s)", pqRows(res.recs), want.want, want.why)
				}
				if !strings.Contains(res.err.Error(), f.Name()) || !strings.Contains(res.err.Error(), want.want) {
					t.Errorf("error %q: want one naming the file and containing %q (%s)", res.err, want.want, want.why)
				}
			} else {
				if res.err != nil {
					t.Fatalf("error %v; want the values accepted (%s)", res.err, want.why)
				}
				want.check(t, res.meta, res.recs)
			}
			pqRelease(res.recs)
			res.recs = nil
			checked.AssertSize(t, 0)
		})
	}
}

// TestParquetAllocationLimit checks that an allocator refusing memory
// mid-read ends the read with an error naming the file, in every column
// kind (the struct column's readers are built on other goroutines).
func TestParquetAllocationLimit(t *testing.T) {
	src := pqCheckedAlloc()
	in := pqSampleRecs(t, src, 3000)
	data := pqEncode(t, ParquetOptions{RowGroupRows: 1000}, in)
	pqRelease(in)
	src.AssertSize(t, 0)
	p := Parquet(ParquetOptions{})
	f := pqFile("mem://limited.parquet", data)
	meta, err := p.Inspect(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, cols := range [][]string{nil, {"st"}, {"l"}, {"s"}} {
		for _, limit := range []int64{64, 1 << 10, 8 << 10, 32 << 10} {
			checked := pqCheckedAlloc()
			mem := &pqLimitAlloc{mem: checked, limit: limit}
			var recs []arrow.RecordBatch
			err := p.Read(context.Background(), f, meta, ReadRequest{Alloc: mem, Columns: cols, Limit: -1}, func(r arrow.RecordBatch) error {
				recs = append(recs, r)
				return nil
			})
			pqRelease(recs)
			checked.AssertSize(t, 0)
			if err == nil {
				t.Errorf("columns %v, limit %d: no error", cols, limit)
			} else if !strings.Contains(err.Error(), f.Name()) || !strings.Contains(err.Error(), "exceed the limit") {
				t.Errorf("columns %v, limit %d: error %v", cols, limit, err)
			}
		}
	}
}
