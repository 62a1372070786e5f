package exec

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {1 << 20, 100}, {32 << 20, 100}, {40 << 20, 80}, {64 << 20, 50}, {1 << 30, 50},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// waitGCPercent collects until the pacer has set GOGC to want.
func waitGCPercent(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		got, on := currentGCPercent()
		if on && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d (pacer on: %v), want %d", got, on, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGCPacerFollowsLiveHeap: with a runtime open, a large live heap
// lowers GOGC to 50 and a small one brings it back to 100; closing the
// runtime restores the GOGC from before, and a GOGC from the environment
// turns the pacer off.
func TestGCPacerFollowsLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	t.Setenv("GOGC", "")

	rt := NewLocal(WithObjectStoreMemory(64<<20), WithSpillDir(t.TempDir()))
	live := make([]byte, 256<<20)
	for i := range live {
		live[i] = byte(i)
	}
	waitGCPercent(t, 50)
	runtime.KeepAlive(live)
	live = nil
	waitGCPercent(t, 100)
	debug.SetGCPercent(70) // stands for a value the pacer set, so that the restore shows
	rt.Close()
	if _, on := currentGCPercent(); on {
		t.Error("the pacer runs after the last runtime closed")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after close GOGC is %d, want 100 back", got)
	}

	t.Setenv("GOGC", "100")
	rt = NewLocal(WithObjectStoreMemory(64<<20), WithSpillDir(t.TempDir()))
	defer rt.Close()
	if _, on := currentGCPercent(); on {
		t.Error("the pacer runs although GOGC is set in the environment")
	}
}
