package exec_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/internal/tmpfs"
)

// TestMain fails the package if any test, benchmark or example leaves a
// goroutine behind (a worker the runtime did not stop, a stuck task).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// makeBlock builds rows [start, start+n): id = i, name = "row-%08d" with a
// null every fifth row. Blocks with the same n have the same byte size.
func makeBlock(mem memory.Allocator, start, n int) arrow.RecordBatch {
	bld := array.NewRecordBuilder(mem, testSchema)
	defer bld.Release()
	ids := bld.Field(0).(*array.Int64Builder)
	names := bld.Field(1).(*array.StringBuilder)
	for i := start; i < start+n; i++ {
		ids.Append(int64(i))
		if i%5 == 0 {
			names.AppendNull()
		} else {
			names.Append(fmt.Sprintf("row-%08d", i))
		}
	}
	return bld.NewRecordBatch()
}

// blockErr reports how b differs from makeBlock(_, start, n), or nil.
func blockErr(b arrow.RecordBatch, start, n int) error {
	if !b.Schema().Equal(testSchema) {
		return fmt.Errorf("schema %v, want %v", b.Schema(), testSchema)
	}
	if b.NumRows() != int64(n) {
		return fmt.Errorf("rows %d, want %d", b.NumRows(), n)
	}
	ids := b.Column(0).(*array.Int64)
	names := b.Column(1).(*array.String)
	for r := 0; r < n; r++ {
		i := start + r
		if ids.Value(r) != int64(i) {
			return fmt.Errorf("row %d: id %d, want %d", r, ids.Value(r), i)
		}
		if i%5 == 0 {
			if !names.IsNull(r) {
				return fmt.Errorf("row %d: name %q, want null", r, names.Value(r))
			}
		} else if names.IsNull(r) || names.Value(r) != fmt.Sprintf("row-%08d", i) {
			return fmt.Errorf("row %d: name %q (null=%t), want row-%08d", r, names.Value(r), names.IsNull(r), i)
		}
	}
	return nil
}

// assertEqualBlock compares got with makeBlock(start, n) using array.RecordEqual.
func assertEqualBlock(t *testing.T, mem memory.Allocator, got arrow.RecordBatch, start, n int) {
	t.Helper()
	want := makeBlock(mem, start, n)
	defer want.Release()
	if !array.RecordEqual(got, want) {
		t.Errorf("block differs from rows [%d,%d):\n got: %v\nwant: %v", start, start+n, got, want)
	}
}

// files lists the regular files under dir, recursively.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

type statsWant struct {
	objects                                 int
	memory, spilled, spilledTotal, restored int64
}

func checkStats(t *testing.T, step string, got exec.StoreStats, want statsWant) {
	t.Helper()
	if got.Objects != want.objects || got.MemoryBytes != want.memory || got.SpilledBytes != want.spilled ||
		got.SpilledTotal != want.spilledTotal || got.RestoredTotal != want.restored {
		t.Errorf("%s: stats %+v, want objects=%d memory=%d spilled=%d spilledTotal=%d restored=%d",
			step, got, want.objects, want.memory, want.spilled, want.spilledTotal, want.restored)
	}
}

func newStore(t *testing.T, budget int64) (*exec.Store, *memory.CheckedAllocator, string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	dir := t.TempDir()
	return exec.NewStore(mem, budget, dir), mem, dir
}

func TestStorePutGetRefcounts(t *testing.T) {
	s, mem, _ := newStore(t, 1<<30)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()

	b := makeBlock(mem, 0, 100)
	ref, err := s.Put(b, "source")
	if err != nil {
		t.Fatal(err)
	}
	if ref.ID == 0 {
		t.Errorf("ref.ID = 0, want a non-zero id")
	}
	if ref.Rows != 100 || ref.Bytes != blocks.Size(b) || ref.Bytes <= 0 || !ref.Schema.Equal(testSchema) || ref.Producer != "source" {
		t.Errorf("ref = %+v, want rows=100 bytes=%d schema=%v producer=source", ref, blocks.Size(b), testSchema)
	}
	b.Release() // the store holds its own reference
	checkStats(t, "after put", s.Stats(), statsWant{objects: 1, memory: ref.Bytes})

	other := makeBlock(mem, 1000, 10)
	ref2, err := s.Put(other, "other")
	other.Release()
	if err != nil {
		t.Fatal(err)
	}
	if ref2.ID == ref.ID {
		t.Fatalf("two puts returned the same id %d", ref.ID)
	}

	got, err := s.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualBlock(t, mem, got, 0, 100)

	// Two counted references: the block survives one Release.
	s.Retain(ref)
	s.Release(ref)
	if st := s.Stats(); st.Objects != 2 {
		t.Fatalf("after retain+release: %d objects, want 2", st.Objects)
	}
	again, err := s.Get(ctx, ref)
	if err != nil {
		t.Fatalf("get after retain+release: %v", err)
	}
	again.Release()

	// Last reference: the store drops the block.
	s.Release(ref)
	checkStats(t, "after last release", s.Stats(), statsWant{objects: 1, memory: ref2.Bytes})
	_, err = s.Get(ctx, ref)
	if err == nil {
		t.Fatalf("get after release succeeded")
	}
	if !strings.Contains(err.Error(), "not in store") || !strings.Contains(err.Error(), fmt.Sprint(ref.ID)) {
		t.Errorf("get after release: error %q should say object %d is not in store", err, ref.ID)
	}
	if errors.Is(err, exec.ErrClosed) {
		t.Errorf("get after release: %v should not be ErrClosed", err)
	}
	// Releasing again, or retaining a freed ref, is a no-op.
	s.Release(ref)
	s.Retain(ref)
	if st := s.Stats(); st.Objects != 1 {
		t.Errorf("after extra release/retain: %d objects, want 1", st.Objects)
	}

	// The block Get returned is the caller's: it outlives the store's reference.
	if err := blockErr(got, 0, 100); err != nil {
		t.Errorf("block from Get after its ref was released: %v", err)
	}
	got.Release()

	s.Release(ref2)
	checkStats(t, "after releasing all", s.Stats(), statsWant{})
	// Freed at zero, without Close.
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after every ref was released", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSpillLRUAndRestore(t *testing.T) {
	const rows = 200
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, rows)
	B := blocks.Size(probe)
	probe.Release()

	budget := 2*B + B/2 // two blocks fit, three do not
	dir := t.TempDir()
	s := exec.NewStore(mem, budget, dir)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	ctx := context.Background()

	put := func(start int) exec.ObjectRef {
		t.Helper()
		b := makeBlock(mem, start, rows)
		defer b.Release()
		if sz := blocks.Size(b); sz != B {
			t.Fatalf("block size %d, want %d (test blocks must be equal in size)", sz, B)
		}
		ref, err := s.Put(b, "p")
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.MemoryBytes > budget {
			t.Errorf("after put: memory %d over budget %d", st.MemoryBytes, budget)
		}
		return ref
	}
	get := func(ref exec.ObjectRef, start int) {
		t.Helper()
		b, err := s.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		assertEqualBlock(t, mem, b, start, rows)
		b.Release()
	}

	r1 := put(0)
	r2 := put(1000)
	checkStats(t, "two blocks", s.Stats(), statsWant{objects: 2, memory: 2 * B})
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("spill files %v under budget", f)
	}

	get(r1, 0) // r1 is now more recently used than r2
	r3 := put(2000)
	// Over budget: the least recently used block (r2) went to disk.
	checkStats(t, "third block", s.Stats(), statsWant{objects: 3, memory: 2 * B, spilled: B, spilledTotal: B})
	spilled := files(t, dir)
	if len(spilled) != 1 {
		t.Fatalf("spill files %v, want exactly one", spilled)
	}
	if !strings.HasPrefix(spilled[0], dir+string(filepath.Separator)) {
		t.Errorf("spill file %s is not under the spill dir %s", spilled[0], dir)
	}
	// The file is an Arrow IPC file holding r2's rows.
	func() {
		f, err := os.Open(spilled[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
		if err != nil {
			t.Fatalf("spill file is not Arrow IPC: %v", err)
		}
		defer r.Close()
		rec, err := r.RecordBatchAt(0)
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		assertEqualBlock(t, mem, rec, 1000, rows)
	}()

	// r1 and r3 are in memory: reading them restores nothing.
	get(r1, 0)
	get(r3, 2000)
	checkStats(t, "reading in-memory blocks", s.Stats(), statsWant{objects: 3, memory: 2 * B, spilled: B, spilledTotal: B})

	// r2 comes back from disk, identical; r1 (now least recently used) spills.
	get(r2, 1000)
	checkStats(t, "restoring r2", s.Stats(), statsWant{objects: 3, memory: 2 * B, spilled: B, spilledTotal: 2 * B, restored: B})
	if f := files(t, dir); len(f) != 2 {
		t.Errorf("spill files %v, want r1's and r2's (kept after restore)", f)
	}
	get(r1, 0) // r1 restored, r3 spills
	checkStats(t, "restoring r1", s.Stats(), statsWant{objects: 3, memory: 2 * B, spilled: B, spilledTotal: 3 * B, restored: 2 * B})
	if st := s.Stats(); st.PeakMemory > budget+B || st.PeakMemory < 2*B {
		t.Errorf("peak memory %d, want within [%d, budget+one block=%d]", st.PeakMemory, 2*B, budget+B)
	}
	if f := files(t, dir); len(f) != 3 {
		t.Fatalf("spill files %v, want 3", f)
	}

	// Releasing the spilled block (r3) removes its file.
	s.Release(r3)
	checkStats(t, "releasing spilled r3", s.Stats(), statsWant{objects: 2, memory: 2 * B, spilledTotal: 3 * B, restored: 2 * B})
	if f := files(t, dir); len(f) != 2 {
		t.Errorf("after releasing the spilled block: files %v, want 2", f)
	}
	// Releasing restored blocks removes the files they kept.
	s.Release(r2)
	s.Release(r1)
	checkStats(t, "releasing all", s.Stats(), statsWant{spilledTotal: 3 * B, restored: 2 * B})
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("after releasing everything: files %v remain", f)
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after every ref was released", n)
	}
}

func TestStoreSpillKeepsMemoryUnderBudget(t *testing.T) {
	const rows, n, fit = 100, 12, 3
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, rows)
	B := blocks.Size(probe)
	perBlockAlloc := mem.CurrentAlloc()
	probe.Release()

	budget := fit*B + B/2
	dir := t.TempDir()
	s := exec.NewStore(mem, budget, dir)
	ctx := context.Background()

	var refs []exec.ObjectRef
	for i := range n {
		b := makeBlock(mem, i*rows, rows)
		ref, err := s.Put(b, "p")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		st := s.Stats()
		if st.MemoryBytes > budget {
			t.Errorf("put %d: memory %d over budget %d", i, st.MemoryBytes, budget)
		}
		if st.MemoryBytes+st.SpilledBytes != int64(i+1)*B {
			t.Errorf("put %d: memory %d + spilled %d != %d blocks of %d", i, st.MemoryBytes, st.SpilledBytes, i+1, B)
		}
		if want := max(0, i+1-fit); len(files(t, dir)) != want || st.SpilledTotal != int64(want)*B {
			t.Errorf("put %d: %d spill files, spilled total %d; want %d files", i, len(files(t, dir)), st.SpilledTotal, want)
		}
	}
	// Spilled blocks no longer hold memory.
	if got, limit := mem.CurrentAlloc(), (fit+1)*perBlockAlloc; got > limit {
		t.Errorf("allocator holds %d bytes with %d blocks in memory (one block allocates %d)", got, fit, perBlockAlloc)
	}
	if st := s.Stats(); st.PeakMemory > budget+B {
		t.Errorf("peak memory %d over budget+one block %d", st.PeakMemory, budget+B)
	}

	for i, ref := range refs {
		b, err := s.Get(ctx, ref)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		assertEqualBlock(t, mem, b, i*rows, rows)
		b.Release()
		if st := s.Stats(); st.MemoryBytes > budget {
			t.Errorf("get %d: memory %d over budget %d", i, st.MemoryBytes, budget)
		}
	}
	if st := s.Stats(); st.RestoredTotal != int64(n)*B {
		// Reading in order, each block had been spilled by the time it was read.
		t.Errorf("restored total %d, want %d", st.RestoredTotal, int64(n)*B)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSpillsSlicedBlock(t *testing.T) {
	s, mem, dir := newStore(t, 1) // every block spills
	defer mem.AssertSize(t, 0)
	full := makeBlock(mem, 0, 100)
	slice := full.NewSlice(37, 81)
	full.Release()
	ref, err := s.Put(slice, "slice")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Rows != 44 {
		t.Errorf("rows %d, want 44", ref.Rows)
	}
	if st := s.Stats(); st.MemoryBytes != 0 || st.SpilledBytes != ref.Bytes || len(files(t, dir)) != 1 {
		t.Errorf("a block larger than the budget should spill at once: %+v, files %v", st, files(t, dir))
	}
	got, err := s.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(got, slice) {
		t.Errorf("restored slice differs:\n got: %v\nwant: %v", got, slice)
	}
	got.Release()
	slice.Release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCloseFreesAndRemovesSpillDir(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, 10)
	B := blocks.Size(probe)
	probe.Release()
	dir := t.TempDir()
	s := exec.NewStore(mem, B+B/2, dir) // one block fits in memory
	ctx := context.Background()

	var refs []exec.ObjectRef
	for i := range 4 {
		b := makeBlock(mem, i*10, 10)
		ref, err := s.Put(b, "p")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	// One block back in memory, the rest on disk; none released.
	b, err := s.Get(ctx, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if len(files(t, dir)) == 0 {
		t.Fatalf("nothing spilled with a 1-byte budget")
	}
	if mem.CurrentAlloc() == 0 {
		t.Fatalf("nothing held in memory before Close")
	}

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after Close", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("spill dir %s still has %v after Close", dir, entries)
	}

	// Use after Close.
	nb := makeBlock(mem, 0, 1)
	defer nb.Release()
	if _, err := s.Put(nb, "late"); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("put after close: %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, refs[0]); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
	s.Retain(refs[0]) // no panic
	s.Release(refs[0])
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestStoreCloseWithoutSpillLeavesSpillDirAlone(t *testing.T) {
	s, mem, dir := newStore(t, 1<<30)
	defer mem.AssertSize(t, 0)
	marker := filepath.Join(dir, "keep")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := makeBlock(mem, 0, 10)
	if _, err := s.Put(b, "p"); err != nil {
		t.Fatal(err)
	}
	b.Release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 1 || got[0] != marker {
		t.Errorf("files under spill dir after Close: %v, want only %s", got, marker)
	}
}

func TestStoreGetCancelledContext(t *testing.T) {
	s, mem, _ := newStore(t, 1) // the block is on disk
	defer mem.AssertSize(t, 0)
	b := makeBlock(mem, 0, 10)
	ref, err := s.Put(b, "p")
	b.Release()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := s.Get(ctx, ref); !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("get with cancelled context: %v, %v; want nil, context.Canceled", got, err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer dcancel()
	if _, err := s.Get(dctx, ref); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("get with expired context: %v, want context.DeadlineExceeded", err)
	}
	if st := s.Stats(); st.RestoredTotal != 0 {
		t.Errorf("a cancelled get restored the block: %+v", st)
	}
	// The ref is intact.
	got, err := s.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualBlock(t, mem, got, 0, 10)
	got.Release()
	s.Release(ref)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// releaseCopies checks that each of refs holds makeBlock(0, rows) and
// releases it.
func releaseCopies(t *testing.T, s *exec.Store, mem memory.Allocator, refs []exec.ObjectRef, rows int) {
	t.Helper()
	for _, ref := range refs {
		got, err := s.Get(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		assertEqualBlock(t, mem, got, 0, rows)
		got.Release()
		s.Release(ref)
	}
}

// A spill directory that cannot be made (a path under a regular file) fails
// the first Put that needs to spill, naming the directory and the system's
// reason; later Puts over budget fail at once, without trying the disk again
// each time, and blocks already stored stay readable.
func TestStoreUnusableSpillDirFailsPut(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b := makeBlock(mem, 0, 10)
	defer b.Release()
	s := exec.NewStore(mem, 2*blocks.Size(b), file) // two blocks fit

	var refs []exec.ObjectRef
	for range 2 {
		ref, err := s.Put(b, "p")
		if err != nil {
			t.Fatalf("put under budget: %v", err)
		}
		refs = append(refs, ref)
	}
	_, err := s.Put(b, "p")
	var se *exec.SpillError
	if !errors.As(err, &se) || se.Full || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("put over budget: got %v, want a *SpillError wrapping ENOTDIR", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "spill directory "+file+" cannot be used") ||
		!strings.Contains(msg, "mkdir") || !strings.Contains(msg, "not a directory") || strings.Count(msg, file) != 1 {
		t.Errorf("message %q does not name the directory once, the call and the reason", msg)
	}
	for range 5 {
		if _, err := s.Put(b, "p"); !errors.As(err, &se) {
			t.Fatalf("put after the failure: got %v, want the spill error", err)
		}
	}
	st := s.Stats()
	if st.SpillFailures != 1 {
		t.Errorf("%d spill attempts failed: a broken directory is retried on every Put", st.SpillFailures)
	}
	if st.Objects != 2 || st.MemoryBytes != 2*blocks.Size(b) || !errors.Is(st.LastSpillError, syscall.ENOTDIR) {
		t.Errorf("stats %+v: want the two blocks put before, in memory, and the error", st)
	}
	releaseCopies(t, s, mem, refs, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// On a real full filesystem (a small tmpfs) the store stops writing, holds
// blocks in memory past its budget up to its hard limit, then refuses the
// block that would cross it with an error naming the directory and the
// space needed. Once spill files are removed, spilling resumes.
func TestStoreFullDiskHoldsToHardLimit(t *testing.T) {
	const diskBytes = 1 << 20
	dir := tmpfs.Mount(t, diskBytes)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := makeBlock(mem, 0, 2000)
	defer b.Release()
	size := blocks.Size(b)
	budget, hard := 4*size, 12*size
	s := exec.NewStore(mem, budget, dir, exec.StoreHardLimit(hard))
	defer s.Close()

	var refs []exec.ObjectRef
	var err error
	for len(refs) < 200 {
		var ref exec.ObjectRef
		if ref, err = s.Put(b, "p"); err != nil {
			break
		}
		refs = append(refs, ref)
	}
	var se *exec.SpillError
	if !errors.As(err, &se) || !se.Full || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d puts: got %v, want a full-disk *SpillError", len(refs), err)
	}
	st := s.Stats()
	if st.SpilledBytes == 0 || st.SpilledBytes > diskBytes {
		t.Errorf("%d bytes on a disk of %d", st.SpilledBytes, diskBytes)
	}
	if st.MemoryBytes > hard || st.PeakMemory > hard+size || st.MemoryBytes <= budget {
		t.Errorf("memory %d (peak %d): want past the budget %d, within the hard limit %d", st.MemoryBytes, st.PeakMemory, budget, hard)
	}
	if se.Need() <= 0 || se.HardLimit != hard || se.Budget != budget {
		t.Errorf("error reports need %d, limit %d, budget %d", se.Need(), se.HardLimit, se.Budget)
	}
	if msg := err.Error(); !strings.Contains(msg, "spill directory "+dir+" is full") || !strings.Contains(msg, "no space left on device") ||
		!strings.Contains(msg, exec.FormatBytes(se.Need())+" more free space needed") {
		t.Errorf("message %q does not name the directory, the reason and the space needed", msg)
	}
	// One failed write per backoff, not one per Put and block over budget.
	if st.SpillFailures > 3 {
		t.Errorf("%d failed spill writes for %d puts: the full disk is retried on every Put", st.SpillFailures, len(refs)+1)
	}

	// Free the spilled blocks: the next Put spills again.
	var kept []exec.ObjectRef
	for _, ref := range refs {
		if st := s.Stats(); st.SpilledBytes > 0 {
			s.Release(ref) // the oldest first: those are on disk
			continue
		}
		kept = append(kept, ref)
	}
	before := s.Stats().SpilledTotal
	for range 4 {
		ref, err := s.Put(b, "p")
		if err != nil {
			t.Fatalf("put after the disk was freed: %v", err)
		}
		kept = append(kept, ref)
	}
	if st := s.Stats(); st.SpilledTotal == before || st.MemoryBytes > budget+size {
		t.Errorf("after freeing the disk: %+v, want spilling back under the budget", st)
	}
	releaseCopies(t, s, mem, kept, 2000)
}

// Many goroutines put, get, retain and release with a budget of about two
// blocks, so that blocks spill and restore all the time, some of them shared.
func TestStoreConcurrentWithSpilling(t *testing.T) {
	const (
		goroutines = 16
		iters      = 30
		rows       = 50
		shared     = 4
	)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, rows)
	B := blocks.Size(probe)
	probe.Release()
	dir := t.TempDir()
	s := exec.NewStore(mem, 2*B, dir)
	ctx := context.Background()

	sharedRefs := make([]exec.ObjectRef, shared)
	for i := range sharedRefs {
		b := makeBlock(mem, -1_000_000+i*rows, rows)
		ref, err := s.Put(b, "shared")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		sharedRefs[i] = ref
	}

	check := func(ref exec.ObjectRef, start int) error {
		b, err := s.Get(ctx, ref)
		if err != nil {
			return err
		}
		defer b.Release()
		return blockErr(b, start, rows)
	}

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			type held struct {
				ref   exec.ObjectRef
				start int
			}
			var window []held
			for i := range iters {
				start := g*100_000 + i*rows
				b := makeBlock(mem, start, rows)
				ref, err := s.Put(b, "g")
				b.Release()
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				s.Retain(ref)
				window = append(window, held{ref, start})
				if err := check(ref, start); err != nil {
					t.Errorf("goroutine %d, own block %d: %v", g, i, err)
				}
				s.Release(ref)
				// Read an older block of ours (likely on disk by now) and a shared one.
				old := window[0]
				if err := check(old.ref, old.start); err != nil {
					t.Errorf("goroutine %d, older block at %d: %v", g, old.start, err)
				}
				k := (g + i) % shared
				if err := check(sharedRefs[k], -1_000_000+k*rows); err != nil {
					t.Errorf("goroutine %d, shared block %d: %v", g, k, err)
				}
				if len(window) > 3 {
					s.Release(window[0].ref)
					window = window[1:]
				}
			}
			for _, h := range window {
				s.Release(h.ref)
			}
		})
	}
	wg.Wait()

	st := s.Stats()
	if st.Objects != shared {
		t.Errorf("objects %d, want the %d shared blocks", st.Objects, shared)
	}
	if st.SpilledTotal == 0 || st.RestoredTotal == 0 {
		t.Errorf("expected spilling and restoring under a tiny budget: %+v", st)
	}
	if st.MemoryBytes < 0 || st.SpilledBytes < 0 || st.MemoryBytes+st.SpilledBytes != shared*B {
		t.Errorf("stats %+v: memory + spilled should be the %d shared blocks of %d bytes", st, shared, B)
	}
	for i, ref := range sharedRefs {
		if err := check(ref, -1_000_000+i*rows); err != nil {
			t.Errorf("shared block %d after the storm: %v", i, err)
		}
		s.Release(ref)
	}
	if st := s.Stats(); st.Objects != 0 || st.MemoryBytes != 0 || st.SpilledBytes != 0 {
		t.Errorf("after releasing everything: %+v", st)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("spill files left after every ref was released: %d, e.g. %s", len(f), f[0])
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after every ref was released", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close while other goroutines are putting (and so spilling) and reading
// (restoring): every operation either works or reports the store closed, and
// Close removes the spill directory and, once the users have stopped, nothing
// is left in memory or on disk. Blocks are not released, so that many spill
// files exist when Close removes the directory while new ones are written.
func TestStoreCloseDuringConcurrentUse(t *testing.T) {
	const goroutines, rows, minSpilled = 8, 20, 400
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, rows)
	B := blocks.Size(probe)
	probe.Release()
	dir := t.TempDir()
	s := exec.NewStore(mem, 2*B, dir)
	ctx := context.Background()

	var closing atomic.Bool
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var refs []exec.ObjectRef
			for i := 0; ; i++ {
				start := g*1_000_000 + i*rows
				b := makeBlock(mem, start, rows)
				ref, err := s.Put(b, "g")
				b.Release()
				if err != nil {
					if !closing.Load() || !errors.Is(err, exec.ErrClosed) {
						t.Errorf("put: %v", err)
					}
					return
				}
				refs = append(refs, ref)
				if i%4 != 3 {
					continue
				}
				j := len(refs) / 2 // an older block, on disk by now
				got, err := s.Get(ctx, refs[j])
				if err != nil {
					if !closing.Load() {
						t.Errorf("get: %v", err)
					}
					return
				}
				if err := blockErr(got, g*1_000_000+j*rows, rows); err != nil {
					t.Errorf("goroutine %d block %d: %v", g, j, err)
				}
				got.Release()
			}
		})
	}
	// Let them run until many blocks are on disk and more are being written.
	deadline := time.Now().Add(waitLimit)
	for s.Stats().SpilledTotal < minSpilled*B {
		if time.Now().After(deadline) {
			closing.Store(true)
			s.Close()
			wg.Wait()
			t.Fatalf("no progress: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	closing.Store(true)
	if err := s.Close(); err != nil {
		t.Errorf("close during use: %v", err)
	}
	wg.Wait()
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after Close and all users stopped", n)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("%d spill files left after Close, e.g. %s", len(f), f[0])
	}
}

// Close must not return while a spill is still writing: one Put spills a
// thousand blocks one after another, and Close runs in the middle of that.
// Close must remove the whole spill directory (no file written after it
// listed the directory may survive) and free every block the store held.
func TestStoreCloseWaitsForSpillsInFlight(t *testing.T) {
	const small, rows = 1000, 10
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	probe := makeBlock(mem, 0, rows)
	B := blocks.Size(probe)
	probe.Release()
	dir := t.TempDir()
	s := exec.NewStore(mem, small*B, dir) // the small blocks fit exactly

	for i := range small {
		b := makeBlock(mem, i*rows, rows)
		_, err := s.Put(b, "small")
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.SpilledTotal != 0 || st.MemoryBytes != small*B {
		t.Fatalf("small blocks should all be in memory: %+v", st)
	}

	// A block as big as all the small ones: its Put spills every small block.
	before := mem.CurrentAlloc()
	big := makeBlock(mem, 0, small*rows)
	bigAlloc := mem.CurrentAlloc() - before
	putDone := make(chan error, 1)
	go func() {
		_, err := s.Put(big, "big")
		big.Release()
		putDone <- err
	}()
	deadline := time.Now().Add(waitLimit)
	for s.Stats().SpilledTotal < small/5*B {
		if time.Now().After(deadline) {
			t.Fatalf("the big Put did not start spilling: %+v", s.Stats())
		}
		time.Sleep(100 * time.Microsecond)
	}

	closeErr := s.Close()
	// Close returned: apart from the big block, which the putting goroutine
	// still holds its own reference to, nothing may be allocated.
	if held := mem.CurrentAlloc() - bigAlloc; held > 0 {
		t.Errorf("Close returned while the store still held %d bytes of blocks being spilled", held)
	}
	if closeErr != nil {
		t.Errorf("close during a spill: %v", closeErr)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("Close returned with %d spill files left, e.g. %s", len(f), f[0])
	}

	select {
	case err := <-putDone:
		if err != nil {
			t.Errorf("the big Put started before Close and should succeed: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the big Put did not return")
	}
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("allocator holds %d bytes after Close and the Put returned", n)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("%d spill files left after Close, e.g. %s", len(f), f[0])
	}
}

// TestStoreBlocksAreSafeToShare: tasks read a stored block concurrently,
// including arrow-go's lazily built dictionary arrays; -race checks it.
func TestStoreBlocksAreSafeToShare(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := exec.NewStore(mem, 1<<30, t.TempDir())
	defer s.Close()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	bld := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"a", "b", "a", "c"} {
		if err := bld.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	built := bld.NewArray()
	bld.Release()
	// Rebuilt from its data, as IPC reads and slices make arrays: the
	// dictionary array is then built on first use.
	col := array.MakeFromData(built.Data())
	built.Release()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt}}, nil), []arrow.Array{col}, 4)
	col.Release()
	ref, err := s.Put(b, "test")
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := s.Get(context.Background(), ref)
			if err != nil {
				t.Error(err)
				return
			}
			defer got.Release()
			if v := got.Column(0).(*array.Dictionary).Dictionary().(*array.String).Value(2); v != "c" {
				t.Errorf("dictionary entry %q", v)
			}
		})
	}
	wg.Wait()
	s.Release(ref)
}
