// Package bufpool recycles large byte buffers by size class, so that a
// stream of blocks of the same shapes (a read decoding one 64K-row batch
// after another) reuses the memory of the blocks it has finished with
// instead of asking the Go heap for fresh, zeroed memory each time, which
// costs the zeroing, page faults and the garbage collector's work.
//
// Buffers live in one sync.Pool per power-of-two class, so the runtime
// drops them when they stay unused across garbage collections: the pool
// never holds memory a program has stopped asking for.
//
// A buffer handed to Put must not be used again by anyone: no slice, no
// string made from its bytes (arrow-go's String.Value aliases the buffer).
// Callers put back only buffers whose every reader they know has finished.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

const (
	minShift = 16 // 64 KiB: smaller buffers are cheap to allocate
	maxShift = 27 // 128 MiB
)

// MinSize is the smallest size Get recycles; smaller requests are made fresh.
const MinSize = 1 << minShift

var classes [maxShift - minShift + 1]sync.Pool

var gets, reused atomic.Uint64

// Stats counts, since the process started, the buffers Get handed out
// from the recycled range and how many of them were recycled.
type Stats struct{ Gets, Reused uint64 }

// ReadStats returns the counts so far.
func ReadStats() Stats { return Stats{Gets: gets.Load(), Reused: reused.Load()} }

// class is the index of the smallest class that holds size bytes, or -1.
func class(size int) int {
	if size < MinSize || size > 1<<maxShift {
		return -1
	}
	return bits.Len(uint(size-1)) - minShift
}

// Get returns a zeroed buffer of len size. Its capacity is its class's
// size when size is in the recycled range, and Put takes it back.
func Get(size int) []byte {
	c := class(size)
	if c < 0 {
		return make([]byte, size)
	}
	gets.Add(1)
	if p, ok := classes[c].Get().(*byte); ok {
		reused.Add(1)
		b := unsafe.Slice(p, 1<<(c+minShift))[:size]
		clear(b)
		return b
	}
	return make([]byte, size, 1<<(c+minShift))
}

// Put hands b back for reuse. Buffers Get did not make for a class (their
// capacity is not a class size) are left to the garbage collector.
func Put(b []byte) {
	n := cap(b)
	c := class(n)
	if c < 0 || n != 1<<(c+minShift) {
		return
	}
	classes[c].Put(unsafe.SliceData(b[:1]))
}
