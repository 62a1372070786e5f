package exec

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// ErrClosed is returned by a store or runtime used after Close.
var ErrClosed = errors.New("shoal: runtime closed")

// Store is an object store: blocks by ID, reference counted, held in memory
// up to a byte budget and spilled to local disk as Arrow IPC files above it,
// least recently used first. A spilled block is read back on access.
//
// Disk I/O runs outside the store's lock: a block being spilled stays
// readable from memory until its file is complete.
type Store struct {
	alloc     memory.Allocator
	budget    int64
	hardLimit int64  // memory the store may hold while it cannot spill to a full disk
	spillDir  string // parent for the store's own directory, made on first spill

	mu      sync.Mutex
	nextID  ObjectID
	objects map[ObjectID]*object
	lru     *list.List // of *object in memory and not being spilled; front is oldest
	dir     string     // the store's spill directory, "" until first spill
	closed  bool
	stats   StoreStats
	// spillingBytes is the memory that spills in progress will free.
	spillingBytes int64
	// spills counts victims being written outside the lock; Close waits for
	// them before removing the directory they write into.
	spills sync.WaitGroup
	// health pauses spilling after a failure (see store_spill.go).
	health spillHealth
}

type object struct {
	id       ObjectID
	producer string
	block    blocks.Block // nil while on disk only
	bytes    int64
	refs     int
	path     string // spill file, "" if never spilled
	spilling bool
	elem     *list.Element
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// StoreHardLimit sets the memory in bytes the store may hold while its
// spill directory is full (default DefaultHardLimit(budget)). Below it, a
// full disk only slows the store down; above it, Put fails with a
// *SpillError naming the directory and the space needed.
func StoreHardLimit(bytes int64) StoreOption { return func(s *Store) { s.hardLimit = bytes } }

// DefaultHardLimit is the hard limit of a store with the given budget:
// twice the budget, but never more than half the memory the budget leaves
// (SystemMemory less the budget) above it, so that a full disk cannot push
// the process into the kernel's out-of-memory killer. With the default
// budget (30% of memory) that is 60% of memory, leaving 40% to tasks.
func DefaultHardLimit(budget int64) int64 {
	return budget + min(budget, max(SystemMemory()-budget, 0)/2)
}

// NewStore returns a store with the given memory budget in bytes, spilling
// under spillDir (os.TempDir() when empty).
func NewStore(alloc memory.Allocator, budget int64, spillDir string, opts ...StoreOption) *Store {
	if spillDir == "" {
		spillDir = os.TempDir()
	}
	s := &Store{
		alloc:    alloc,
		budget:   budget,
		spillDir: spillDir,
		objects:  make(map[ObjectID]*object),
		lru:      list.New(),
	}
	for _, o := range opts {
		o(s)
	}
	if s.hardLimit <= 0 {
		s.hardLimit = DefaultHardLimit(budget)
	}
	s.hardLimit = max(s.hardLimit, budget)
	s.stats = StoreStats{Budget: budget, HardLimit: s.hardLimit}
	return s
}

// Put stores b (taking its own reference) and returns a reference counted
// once. It fails with a *SpillError when the store is over its budget and
// cannot spill: at once when the spill directory cannot be created or
// written, and past the hard limit when its filesystem is full.
func (s *Store) Put(b blocks.Block, producer string) (ObjectRef, error) {
	blocks.Share(b) // tasks may read it concurrently from now on
	meta := blocks.MetaOf(b)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ObjectRef{}, ErrClosed
	}
	b.Retain()
	s.nextID++
	o := &object{id: s.nextID, producer: producer, block: b, bytes: meta.Bytes, refs: 1}
	s.objects[o.id] = o
	o.elem = s.lru.PushBack(o)
	s.addMemory(o.bytes)
	s.stats.Objects++
	victims := s.pickVictims()
	s.mu.Unlock()

	s.spill(victims)
	s.mu.Lock()
	err := s.refusal()
	if err != nil {
		// The block cannot stay: the caller's task fails, not the store.
		o.refs--
		s.freeIfUnused(o)
	}
	s.mu.Unlock()
	if err != nil {
		return ObjectRef{}, err
	}
	return ObjectRef{ID: o.id, Meta: meta, Producer: producer}, nil
}

// Get returns the block, reading it back from disk if it was spilled.
func (s *Store) Get(ctx context.Context, ref ObjectRef) (blocks.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	o, ok := s.objects[ref.ID]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("shoal: object %d not in store (released?)", ref.ID)
	}
	if o.block != nil {
		o.block.Retain()
		if o.elem != nil {
			s.lru.MoveToBack(o.elem)
		}
		b := o.block
		s.mu.Unlock()
		return b, nil
	}
	path := o.path
	o.refs++ // keep the file while we read it without the lock
	s.mu.Unlock()

	b, err := readSpillFile(path, s.alloc)
	if err == nil {
		blocks.Share(b) // read from IPC: its dictionaries are built lazily
	}

	s.mu.Lock()
	if err != nil && s.closed {
		err = ErrClosed
	}
	o.refs--
	if err == nil && o.block == nil && !s.closed && o.refs > 0 {
		// Back in memory: the file stays so a second spill costs no write.
		b.Retain()
		o.block = b
		o.elem = s.lru.PushBack(o)
		s.addMemory(o.bytes)
		s.stats.SpilledBytes -= o.bytes
		s.stats.RestoredTotal += o.bytes
	}
	s.freeIfUnused(o)
	victims := s.pickVictims()
	s.mu.Unlock()
	s.spill(victims)
	if err != nil {
		return nil, fmt.Errorf("shoal: restore object %d: %w", ref.ID, err)
	}
	return b, nil
}

// Retain adds a counted reference.
func (s *Store) Retain(ref ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.objects[ref.ID]; ok {
		o.refs++
	}
}

// Release drops a counted reference, freeing the block and its file at zero.
func (s *Store) Release(ref ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[ref.ID]
	if !ok {
		return
	}
	o.refs--
	s.freeIfUnused(o)
}

// freeIfUnused drops an object with no references left. Called with s.mu held.
func (s *Store) freeIfUnused(o *object) {
	if o.refs > 0 || o.spilling {
		return // a spill in progress frees it when it finishes
	}
	delete(s.objects, o.id)
	s.stats.Objects--
	if o.block != nil {
		o.block.Release()
		o.block = nil
		s.stats.MemoryBytes -= o.bytes
		if o.elem != nil {
			s.lru.Remove(o.elem)
			o.elem = nil
		}
	} else if o.path != "" {
		s.stats.SpilledBytes -= o.bytes
	}
	if o.path != "" {
		os.Remove(o.path)
		s.health.freed(o.bytes)
	}
}

func (s *Store) addMemory(n int64) {
	s.stats.MemoryBytes += n
	s.stats.PeakMemory = max(s.stats.PeakMemory, s.stats.MemoryBytes)
}

// pickVictims chooses the least recently used blocks to spill until memory is
// back under budget, and marks them. While spilling is paused after a
// failure, only blocks whose file is still on disk (restored, not changed)
// are chosen: dropping them writes nothing. Called with s.mu held.
func (s *Store) pickVictims() []*object {
	if s.closed {
		return nil
	}
	over := s.stats.MemoryBytes - s.spillingBytes - s.budget
	onlyWritten := s.health.paused(time.Now())
	var victims []*object
	for e := s.lru.Front(); e != nil && over > 0; {
		o := e.Value.(*object)
		next := e.Next()
		if onlyWritten && o.path == "" {
			e = next
			continue
		}
		s.lru.Remove(e)
		o.elem = nil
		o.spilling = true
		s.spillingBytes += o.bytes
		s.spills.Add(1)
		victims = append(victims, o)
		over -= o.bytes
		e = next
	}
	return victims
}

// spill writes victims to disk outside the lock, then drops their memory. A
// victim that cannot be written stays in memory, and so do the victims after
// it: the failure pauses spilling (see spillHealth) and Put decides whether
// the store may still take blocks.
func (s *Store) spill(victims []*object) {
	failed := false
	for _, o := range victims {
		path, err := o.path, error(nil)
		fresh := path == ""
		switch {
		case fresh && failed:
			err = errSpillSkipped
		case fresh:
			path, err = s.writeSpillFile(o)
			failed = err != nil
		}
		s.mu.Lock()
		o.spilling = false
		s.spillingBytes -= o.bytes
		switch {
		case s.closed:
			o.block.Release()
			o.block = nil
			delete(s.objects, o.id)
			if fresh && err == nil {
				os.Remove(path)
			}
		case err != nil:
			if err != errSpillSkipped {
				s.stats.SpillFailures++
				s.stats.LastSpillError = s.health.failed(s.spillError(err), o.bytes, time.Now())
			}
			o.elem = s.lru.PushBack(o)
			s.freeIfUnused(o)
		default:
			o.path = path
			o.block.Release()
			o.block = nil
			s.stats.MemoryBytes -= o.bytes
			s.stats.SpilledBytes += o.bytes
			if fresh {
				s.health.succeeded()
				s.stats.SpilledTotal += o.bytes
				if s.stats.SpilledByProducer == nil {
					s.stats.SpilledByProducer = make(map[string]int64)
				}
				s.stats.SpilledByProducer[o.producer] += o.bytes
			}
			s.freeIfUnused(o)
		}
		s.mu.Unlock()
		s.spills.Done()
	}
}

// Stats reports the store's counters.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.SpilledByProducer = maps.Clone(s.stats.SpilledByProducer)
	return st
}

// Close frees every block and removes the spill directory.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for id, o := range s.objects {
		if o.block != nil && !o.spilling {
			o.block.Release()
			o.block = nil
		}
		if !o.spilling {
			delete(s.objects, id)
		}
	}
	s.lru.Init()
	s.mu.Unlock()
	// Spills in flight finish (and free their blocks) before the directory goes.
	s.spills.Wait()
	s.mu.Lock()
	dir := s.dir
	s.mu.Unlock()
	if dir != "" {
		return os.RemoveAll(dir)
	}
	return nil
}
