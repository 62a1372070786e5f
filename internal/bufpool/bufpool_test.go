package bufpool

import (
	"runtime"
	"testing"
)

// TestGetIsZeroedAndSized: whatever a recycled buffer held, Get hands it
// out zeroed, at the length asked for, with its class's capacity.
func TestGetIsZeroedAndSized(t *testing.T) {
	for _, size := range []int{MinSize, MinSize + 1, 3 << 20} {
		for range 8 {
			b := Get(size)
			if len(b) != size {
				t.Fatalf("Get(%d) has len %d", size, len(b))
			}
			if c := cap(b); c < size || c&(c-1) != 0 {
				t.Fatalf("Get(%d) has cap %d, want a power of two at least the size", size, c)
			}
			for i, x := range b {
				if x != 0 {
					t.Fatalf("Get(%d)[%d] = %d: a recycled buffer was not cleared", size, i, x)
				}
			}
			full := b[:cap(b)]
			for i := range full {
				full[i] = 0xAB
			}
			Put(b)
		}
	}
}

// TestOutsideTheClasses: small, huge and odd-capacity buffers are made
// fresh and never pooled.
func TestOutsideTheClasses(t *testing.T) {
	small := Get(MinSize - 1)
	if len(small) != MinSize-1 || cap(small) != MinSize-1 {
		t.Errorf("small buffer: len %d cap %d", len(small), cap(small))
	}
	odd := make([]byte, MinSize+10)
	for i := range odd {
		odd[i] = 1
	}
	Put(odd) // not a class size: dropped
	Put(small)
	for range 10 {
		b := Get(MinSize + 10)
		if cap(b) == MinSize+10 {
			t.Fatalf("an odd-sized buffer came back from the pool")
		}
		Put(b)
	}
	runtime.GC()
}

func BenchmarkGetPut(b *testing.B) {
	for b.Loop() {
		Put(Get(512 << 10))
	}
}
