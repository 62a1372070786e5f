package suite

import (
	"context"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/shoal-data/shoal/exec"
)

// BenchmarkWorkload runs one Shoal workload at size M over the data cache
// of shoalbench, for profiles:
//
//	SHOALBENCH_WORKLOAD=groupby_100 go test -run X -bench Workload -benchtime 10x -cpuprofile cpu.prof ./bench/suite
//
// It skips unless SHOALBENCH_WORKLOAD names a workload. SHOALBENCH_DIR
// names the data cache (shoalbench's -dir; default its default).
func BenchmarkWorkload(b *testing.B) {
	w := os.Getenv("SHOALBENCH_WORKLOAD")
	if w == "" {
		b.Skip("set SHOALBENCH_WORKLOAD to a workload name")
	}
	size, _ := SizeByName("M")
	dir := os.Getenv("SHOALBENCH_DIR")
	if dir == "" {
		cache, _ := os.UserCacheDir()
		dir = cache + "/shoalbench"
	}
	d, err := PrepareData(dir, size, DefaultSeed, os.Stderr)
	if err != nil {
		b.Fatal(err)
	}
	rt := exec.NewLocal(exec.WithWorkers(2))
	defer rt.Close()
	gc0, all0 := gcCPU()
	for b.Loop() {
		if _, _, err := RunShoal(context.Background(), rt, d, w, b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	gc1, all1 := gcCPU()
	if all1 > all0 {
		b.ReportMetric(100*(gc1-gc0)/(all1-all0), "gc-cpu-%")
	}
}

// gcCPU reads the Go runtime's estimate of the CPU seconds its GC has used
// and of all CPU seconds available to the process so far.
func gcCPU() (gc, total float64) {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64(), s[1].Value.Float64() - s[2].Value.Float64()
}

// BenchmarkDecodeFloor measures, on one goroutine, what decoding the three
// float columns of scan_filter_sum costs arrow-go with and without fresh
// buffers for every batch: pqarrow (what Shoal reads through), and the
// column chunk reader decoding into slices reused across batches or
// allocated for each. The gap between "reused" and the others is
// allocation and zeroing, which a buffer pool would remove.
//
//	SHOALBENCH_DIR=... go test -run X -bench DecodeFloor -benchtime 5x ./bench/suite
func BenchmarkDecodeFloor(b *testing.B) {
	dir := os.Getenv("SHOALBENCH_DIR")
	if dir == "" {
		b.Skip("set SHOALBENCH_DIR to a shoalbench data cache")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "M", "trips", "part-*.parquet"))
	if len(files) == 0 {
		b.Skipf("no trips files under %s/M", dir)
	}
	cols := []string{"distance", "fare", "tip"}
	props := parquet.NewReaderProperties(nil)
	props.BufferedStreamEnabled, props.BufferSize = true, 1<<20
	open := func(path string) *file.Reader {
		rd, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
		if err != nil {
			b.Fatal(err)
		}
		return rd
	}
	b.Run("pqarrow", func(b *testing.B) {
		for b.Loop() {
			for _, path := range files {
				rd := open(path)
				fr, err := pqarrow.NewFileReader(rd, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
				if err != nil {
					b.Fatal(err)
				}
				var idx []int
				for _, c := range cols {
					idx = append(idx, rd.MetaData().Schema.ColumnIndexByName(c))
				}
				rr, err := fr.GetRecordReader(context.Background(), idx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for rr.Next() {
				}
				rr.Release()
				rd.Close()
			}
		}
	})
	columns := func(b *testing.B, fresh bool) {
		vals, defs := make([]float64, 64<<10), make([]int16, 64<<10)
		for b.Loop() {
			for _, path := range files {
				rd := open(path)
				for rg := range rd.NumRowGroups() {
					for _, c := range cols {
						cr, err := rd.RowGroup(rg).Column(rd.MetaData().Schema.ColumnIndexByName(c))
						if err != nil {
							b.Fatal(err)
						}
						fr := cr.(*file.Float64ColumnChunkReader)
						for fr.HasNext() {
							if fresh {
								vals, defs = make([]float64, 64<<10), make([]int16, 64<<10)
							}
							if _, _, err := fr.ReadBatch(64<<10, vals, defs, nil); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				rd.Close()
			}
		}
	}
	b.Run("columns-reused", func(b *testing.B) { columns(b, false) })
	b.Run("columns-fresh", func(b *testing.B) { columns(b, true) })
}
