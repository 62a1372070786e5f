package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/io/storage"
)

// The I/O benchmarks and tests use IOSizeTest (256K rows, 16 row groups, a
// few MB) generated into a temporary directory per top-level test or
// benchmark, so `go test -bench . -benchtime 1x ./bench/...` stays short.
// `go run ./bench/cmd/iobench -size L` gives the real figures. For profiles
// at a real size, SHOAL_IOBENCH_SIZE=S|M|L makes the benchmarks use that
// size, cached where iobench caches it (SHOAL_IOBENCH_DIR, default
// $TMPDIR/shoal-iobench).

func ioTestData(tb testing.TB) *IOData {
	tb.Helper()
	size, dir := IOSizeTest, ""
	if raceEnabled {
		// Still 16 row groups and 4 CSV files, a quarter of the rows:
		// scripts/test runs the tests under -race, where decoding is slow.
		size = IOSize{Name: "race", Rows: 64 << 10, RowGroupRows: 4 << 10, CSVRows: 16 << 10, CSVFiles: 4}
	}
	if name := os.Getenv("SHOAL_IOBENCH_SIZE"); name != "" {
		var err error
		if size, err = IOSizeByName(name); err != nil {
			tb.Fatal(err)
		}
		if dir = os.Getenv("SHOAL_IOBENCH_DIR"); dir == "" {
			dir = filepath.Join(os.TempDir(), "shoal-iobench")
		}
	} else {
		dir = tb.TempDir()
	}
	d, err := PrepareIOData(dir, size, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// generatorChecksum is Checksum over rows [0, n) as the generator makes
// them, projected to cols (nil: all).
func generatorChecksum(tb testing.TB, n int64, cols []string) int64 {
	tb.Helper()
	var sum int64
	err := genRange(0, n, func(b arrow.RecordBatch) error {
		if cols != nil {
			idx := make([]int, len(cols))
			for i, c := range cols {
				idx[i] = b.Schema().FieldIndices(c)[0]
			}
			fields := make([]arrow.Field, len(cols))
			arrs := make([]arrow.Array, len(cols))
			for i, j := range idx {
				fields[i], arrs[i] = b.Schema().Field(j), b.Column(j)
			}
			rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, b.NumRows())
			sum += Checksum(rec)
			rec.Release()
			return nil
		}
		sum += Checksum(b)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

// TestIOWorkloadsAgree checks, untimed, that Shoal and its baseline read
// the same rows and values in every I/O workload: the row count and the
// order-independent Checksum of every value, on 1 and 2 cores, and that both
// match what the generator wrote.
func TestIOWorkloadsAgree(t *testing.T) {
	ctx := context.Background()
	d := ioTestData(t)
	n := d.Size.Rows
	wantAll := generatorChecksum(t, n, nil)
	wantProj := generatorChecksum(t, n, ProjectedColumns)
	wantCSV := generatorChecksum(t, d.Size.CSVRows, nil)
	for _, w := range workerCounts {
		rt := exec.NewLocal(exec.WithWorkers(w))
		for _, tc := range []struct {
			name      string
			rows, sum int64
			baseline  func(Probe) (ScanResult, error)
			shoal     func(Probe) (int64, error)
		}{
			{"parquet-full", n, wantAll,
				func(p Probe) (ScanResult, error) { return PqarrowScan(ctx, d.Parquet, nil, w, p) },
				func(p Probe) (int64, error) { return ShoalParquetScan(ctx, rt, d.Parquet, nil, p) }},
			{"parquet-proj", n, wantProj,
				func(p Probe) (ScanResult, error) { return PqarrowScan(ctx, d.Parquet, ProjectedColumns, w, p) },
				func(p Probe) (int64, error) { return ShoalParquetScan(ctx, rt, d.Parquet, ProjectedColumns, p) }},
			{"csv", d.Size.CSVRows, wantCSV,
				func(p Probe) (ScanResult, error) { return ArrowCSVScan(d.CSVFiles, w, p) },
				func(p Probe) (int64, error) { return ShoalCSVScan(ctx, rt, d.CSVDir, p) }},
		} {
			name := fmt.Sprintf("%s/cores=%d", tc.name, w)
			b, err := tc.baseline(CountRows)
			if err != nil {
				t.Fatalf("%s baseline: %v", name, err)
			}
			if b.Rows != tc.rows || b.Probe != tc.rows {
				t.Errorf("%s baseline: %d rows (probe %d), want %d", name, b.Rows, b.Probe, tc.rows)
			}
			s, err := tc.shoal(CountRows)
			if err != nil {
				t.Fatalf("%s shoal: %v", name, err)
			}
			if s != tc.rows {
				t.Errorf("%s shoal: %d rows, want %d", name, s, tc.rows)
			}
			b, err = tc.baseline(Checksum)
			if err != nil {
				t.Fatalf("%s baseline: %v", name, err)
			}
			if b.Probe != tc.sum {
				t.Errorf("%s baseline: checksum %d, generator's %d", name, b.Probe, tc.sum)
			}
			s, err = tc.shoal(Checksum)
			if err != nil {
				t.Fatalf("%s shoal: %v", name, err)
			}
			if s != tc.sum {
				t.Errorf("%s shoal: checksum %d, generator's %d", name, s, tc.sum)
			}
		}
		rt.Close()
	}
}

// TestIOSumAgrees checks one plain column sum both ways: Shoal's own Sum of
// the nullable column "code" against a loop over pqarrow's batches.
func TestIOSumAgrees(t *testing.T) {
	ctx := context.Background()
	d := ioTestData(t)
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	got, err := ShoalParquet(ctx, rt, d.Parquet, nil).Sum(ctx, "code")
	if err != nil {
		t.Fatal(err)
	}
	want, err := PqarrowScan(ctx, d.Parquet, []string{"code"}, 1, sumInt64Col)
	if err != nil {
		t.Fatal(err)
	}
	if got.Int64() != want.Probe || want.Probe == 0 {
		t.Errorf("Sum(code): shoal %d, pqarrow %d", got.Int64(), want.Probe)
	}
}

// TestIOPlans pins down what the Shoal side measures: the full scan reads
// every column (MapBatches is opaque, nothing is pruned) and the projected
// read pushes its two columns into the Parquet reader.
func TestIOPlans(t *testing.T) {
	ctx := context.Background()
	d := ioTestData(t)
	rt := exec.NewLocal(exec.WithWorkers(1))
	defer rt.Close()
	full := ShoalParquet(ctx, rt, d.Parquet, nil).MapBatches(probeBatch(CountRows)).Explain()
	if strings.Contains(full, "columns=") || !strings.Contains(full, "Read[ReadParquet[") {
		t.Errorf("full scan plan prunes columns or is not fused:\n%s", full)
	}
	proj := ShoalParquet(ctx, rt, d.Parquet, ProjectedColumns).MapBatches(probeBatch(CountRows)).Explain()
	if !strings.Contains(proj, "columns=[x name]") {
		t.Errorf("projected plan does not push the columns into the read:\n%s", proj)
	}
	// The row groups are the read tasks: 16 of them, for 2 workers to share.
	if g := d.Size.RowGroups(); g < 16 {
		t.Errorf("test data has %d row groups", g)
	}
}

// TestIOS3Agrees reads the Parquet file from the S3 test server and checks
// Shoal sees what it sees locally. Skipped without SHOAL_TEST_S3_ENDPOINT.
func TestIOS3Agrees(t *testing.T) {
	o, ok := S3FromEnv()
	if !ok {
		t.Skip("SKIPPED: " + EnvS3Endpoint + " is not set; run scripts/test (it starts versitygw)")
	}
	ctx := context.Background()
	d := ioTestData(t)
	bucket := s3BenchBucket(t.Name())
	fs, cleanup, err := S3Upload(ctx, o, bucket, "data.parquet", d.Parquet)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	want := generatorChecksum(t, d.Size.Rows, nil)
	for _, w := range workerCounts {
		rt := exec.NewLocal(exec.WithWorkers(w))
		got, err := ShoalParquetScan(ctx, rt, "s3://"+bucket+"/data.parquet", nil, Checksum, dataset.Storage(storage.Config{S3: o}))
		rt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("shoal s3 cores=%d: checksum %d, want %d", w, got, want)
		}
		r, err := PqarrowScanFile(ctx, func() (storage.File, error) { return fs.Open(ctx, bucket+"/data.parquet") }, nil, w, Checksum)
		if err != nil {
			t.Fatal(err)
		}
		if r.Probe != want {
			t.Errorf("pqarrow s3 cores=%d: checksum %d, want %d", w, r.Probe, want)
		}
	}
}

func s3BenchBucket(name string) string {
	name = strings.ToLower(strings.NewReplacer("/", "-", "_", "-", "=", "-").Replace(name))
	return fmt.Sprintf("shoal-%s-%d", name, os.Getpid())
}

// sumInt64Col sums the valid values of column 0, an int64 column.
func sumInt64Col(b arrow.RecordBatch) int64 {
	col := b.Column(0).(*array.Int64)
	var s int64
	for i := range col.Len() {
		if col.IsValid(i) {
			s += col.Value(i)
		}
	}
	return s
}

func reportIO(b *testing.B, rows, bytes int64) {
	b.SetBytes(bytes)
	reportRows(b, rows)
}

// BenchmarkParquetScan reads every column of the Parquet file: pqarrow on 1
// goroutine or with row groups shared by 2, against
// ReadParquet.MapBatches(rows).Sum on 1 or 2 workers.
func BenchmarkParquetScan(b *testing.B) {
	benchParquet(b, nil)
}

// BenchmarkParquetProjected reads columns x and name only.
func BenchmarkParquetProjected(b *testing.B) {
	benchParquet(b, ProjectedColumns)
}

func benchParquet(b *testing.B, cols []string) {
	ctx := context.Background()
	d := ioTestData(b)
	n := d.Size.Rows
	bytes := d.ParquetBytes
	if cols != nil {
		var err error
		if bytes, err = ParquetColumnBytes(d.Parquet, cols); err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("pqarrow/cores=%d", w), func(b *testing.B) {
			for b.Loop() {
				r, err := PqarrowScan(ctx, d.Parquet, cols, w, CountRows)
				if err != nil || r.Rows != n {
					b.Fatalf("%d rows, %v", r.Rows, err)
				}
			}
			reportIO(b, n, bytes)
		})
		b.Run(fmt.Sprintf("shoal/cores=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			for b.Loop() {
				got, err := ShoalParquetScan(ctx, rt, d.Parquet, cols, CountRows)
				if err != nil || got != n {
					b.Fatalf("%d rows, %v", got, err)
				}
			}
			reportIO(b, n, bytes)
		})
	}
}

// BenchmarkCSVRead reads the CSV files: arrow/csv with the schema given
// (files shared by the goroutines) against ReadCSV with the schema given.
func BenchmarkCSVRead(b *testing.B) {
	ctx := context.Background()
	d := ioTestData(b)
	n := d.Size.CSVRows
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("arrow-csv/cores=%d", w), func(b *testing.B) {
			for b.Loop() {
				r, err := ArrowCSVScan(d.CSVFiles, w, CountRows)
				if err != nil || r.Rows != n {
					b.Fatalf("%d rows, %v", r.Rows, err)
				}
			}
			reportIO(b, n, d.CSVBytes)
		})
		b.Run(fmt.Sprintf("shoal/cores=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			for b.Loop() {
				got, err := ShoalCSVScan(ctx, rt, d.CSVDir, CountRows)
				if err != nil || got != n {
					b.Fatalf("%d rows, %v", got, err)
				}
			}
			reportIO(b, n, d.CSVBytes)
		})
	}
}

// BenchmarkS3ParquetScan reads the Parquet file from the S3 test server
// (skipped without SHOAL_TEST_S3_ENDPOINT); compare with
// BenchmarkParquetScan/shoal.
func BenchmarkS3ParquetScan(b *testing.B) {
	o, ok := S3FromEnv()
	if !ok {
		b.Skip("SKIPPED: " + EnvS3Endpoint + " is not set; run scripts/test (it starts versitygw)")
	}
	ctx := context.Background()
	d := ioTestData(b)
	bucket := s3BenchBucket(b.Name())
	_, cleanup, err := S3Upload(ctx, o, bucket, "data.parquet", d.Parquet)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	url := "s3://" + bucket + "/data.parquet"
	n := d.Size.Rows
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("shoal/cores=%d", w), func(b *testing.B) {
			rt := exec.NewLocal(exec.WithWorkers(w))
			defer rt.Close()
			for b.Loop() {
				got, err := ShoalParquetScan(ctx, rt, url, nil, CountRows, dataset.Storage(storage.Config{S3: o}))
				if err != nil || got != n {
					b.Fatalf("%d rows, %v", got, err)
				}
			}
			reportIO(b, n, d.ParquetBytes)
		})
	}
}

// BenchmarkMemCopy copies 256 MiB with 1 and 2 goroutines: the memory
// bandwidth the I/O figures can be set against.
func BenchmarkMemCopy(b *testing.B) {
	const n = 256 << 20
	src, dst := make([]byte, n), make([]byte, n)
	copy(dst, src)
	for _, w := range workerCounts {
		b.Run(fmt.Sprintf("goroutines=%d", w), func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				MemCopy(dst, src, w)
			}
		})
	}
}
