package suite

import (
	"context"
	"os"
	"testing"

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
	for b.Loop() {
		if _, _, err := RunShoal(context.Background(), rt, d, w, b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}
