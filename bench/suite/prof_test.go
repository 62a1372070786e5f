package suite

import (
	"context"
	"os"
	"testing"

	"github.com/shoal-data/shoal/exec"
)

func BenchmarkProfWorkload(b *testing.B) {
	w := os.Getenv("PROF_WORKLOAD")
	if w == "" {
		b.Skip()
	}
	size, _ := SizeByName("M")
	dir, _ := os.UserCacheDir()
	d, err := PrepareData(dir+"/shoalbench", size, 24225, os.Stderr)
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
