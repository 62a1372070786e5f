package dataset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/tmpfs"
)

// spillJob shuffles rows int64 ids (8 bytes each) through an object store
// of budget bytes that spills into dir, and sums them. The context's
// deadline turns a hang into a failure naming it.
func spillJob(t *testing.T, dir string, rows, budget, hardLimit int64) (dataset.Number, exec.StoreStats, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rt := exec.NewLocal(exec.WithAllocator(mem), exec.WithWorkers(2), exec.WithObjectStoreMemory(budget),
		exec.WithMemoryHardLimit(hardLimit), exec.WithSpillDir(dir))
	t.Cleanup(func() {
		rt.Close()
		mem.AssertSize(t, 0)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := dataset.Range(rows, dataset.WithRuntime(rt), dataset.WithParallelism(32)).RandomShuffle(1).Sum(ctx, "id")
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the job hung (still running after 2 minutes): %v; store %+v", err, rt.Stats())
	}
	return sum, rt.Stats(), err
}

func wantSum(t *testing.T, sum dataset.Number, err error, rows int64) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Int64() != rows*(rows-1)/2 {
		t.Fatalf("sum %v, want %d", sum, rows*(rows-1)/2)
	}
}

// A shuffle larger than the store's budget, its spill disk (an 8 MiB tmpfs)
// and its hard limit together fails with an error that names the
// operator, the directory, the reason and the space needed, instead of
// retrying the full disk forever.
func TestShuffleOnFullSpillDiskFails(t *testing.T) {
	dir := tmpfs.Mount(t, 8<<20)
	_, st, err := spillJob(t, dir, 4<<20, 4<<20, 8<<20) // 32 MiB
	var se *exec.SpillError
	if !errors.As(err, &se) || !se.Full || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want a full-disk *exec.SpillError", err)
	}
	msg := err.Error()
	for _, want := range []string{"operator Range(4194304)", "spill directory " + dir + " is full", "no space left on device", "more free space needed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if st.PeakMemory > 8<<20+4<<20 {
		t.Errorf("store peaked at %d bytes, past the hard limit of 8 MiB by more than a block", st.PeakMemory)
	}
}

// The same shuffle with room on disk succeeds, spilling.
func TestShuffleSpillsToTmpfs(t *testing.T) {
	dir := tmpfs.Mount(t, 128<<20)
	const rows = 4 << 20
	sum, st, err := spillJob(t, dir, rows, 4<<20, 8<<20)
	wantSum(t, sum, err, rows)
	if st.SpilledTotal == 0 || st.SpillFailures != 0 {
		t.Errorf("store %+v: want spills and no failure", st)
	}
}

// A shuffle that needs more than the disk holds, but less than the disk
// and the hard limit together, succeeds: the store holds the rest in
// memory past its budget until blocks are freed.
func TestShuffleOverDiskUnderHardLimitSucceeds(t *testing.T) {
	dir := tmpfs.Mount(t, 8<<20)
	const rows = 2 << 20 // 16 MiB
	sum, st, err := spillJob(t, dir, rows, 4<<20, 48<<20)
	wantSum(t, sum, err, rows)
	if st.SpillFailures == 0 || st.PeakMemory <= 4<<20 {
		t.Errorf("store %+v: the disk was never full, the test proves nothing", st)
	}
}

// A spill directory under a regular file fails the job at the first spill,
// naming the directory and the reason, instead of running on in memory.
func TestUnusableSpillDirFailsJob(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, st, err := spillJob(t, file, 4<<20, 4<<20, 8<<20)
	if !errors.Is(err, syscall.ENOTDIR) || !strings.Contains(err.Error(), "spill directory "+file+" cannot be used") ||
		!strings.Contains(err.Error(), "operator Range(4194304)") {
		t.Fatalf("got %v, want the spill directory's error naming the operator", err)
	}
	if st.SpillFailures != 1 {
		t.Errorf("%d spill attempts failed, want the first to end the job", st.SpillFailures)
	}
}
