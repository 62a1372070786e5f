package exec

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestGoMemoryLimitFollowsRuntimes: each local runtime adds twice its
// store budget (or its WithGoMemoryLimit share) to the Go soft memory
// limit while it is open, the limit returns to what it was once the last
// closes, and a limit the program set itself is left alone.
func TestGoMemoryLimitFollowsRuntimes(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	if before != math.MaxInt64 {
		t.Fatalf("the test process already has a memory limit (%d): GOMEMLIMIT set?", before)
	}
	a := NewLocal(WithObjectStoreMemory(100<<20), WithSpillDir(t.TempDir()))
	if got, want := debug.SetMemoryLimit(-1), int64(200<<20+MemoryLimitFixed); got != want {
		t.Errorf("one runtime: limit %d MiB, want %d MiB", got>>20, want>>20)
	}
	b := NewLocal(WithObjectStoreMemory(50<<20), WithGoMemoryLimit(300<<20), WithSpillDir(t.TempDir()))
	c := NewLocal(WithObjectStoreMemory(50<<20), WithGoMemoryLimit(-1), WithSpillDir(t.TempDir()))
	if got, want := debug.SetMemoryLimit(-1), int64(500<<20+MemoryLimitFixed); got != want {
		t.Errorf("three runtimes (one out): limit %d MiB, want %d MiB", got>>20, want>>20)
	}
	a.Close()
	a.Close() // a second Close takes nothing off twice
	if got, want := debug.SetMemoryLimit(-1), int64(300<<20+MemoryLimitFixed); got != want {
		t.Errorf("after one closed: limit %d MiB, want %d MiB", got>>20, want>>20)
	}
	b.Close()
	c.Close()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after all closed: limit %d, want it back at %d", got, before)
	}

	debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(before)
	d := NewLocal(WithObjectStoreMemory(100<<20), WithSpillDir(t.TempDir()))
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("the program's own limit was changed to %d", got)
	}
	d.Close()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("after close the program's own limit is %d", got)
	}
}
