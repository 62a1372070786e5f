package exec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// A local runtime: put a block in its object store, submit a task that reads
// it and writes a new block, and read the task's output back.
func ExampleNewLocal() {
	rt := exec.NewLocal(exec.WithWorkers(2), exec.WithObjectStoreMemory(64<<20))
	defer rt.Close() // stops the workers, frees every block, removes spill files
	ctx := context.Background()

	// Put a block. The store takes its own reference; release ours.
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bld := array.NewRecordBuilder(rt.Allocator(), schema)
	bld.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	in := bld.NewRecordBatch()
	bld.Release()
	ref, err := rt.Put(in, "source")
	in.Release()
	if err != nil {
		fmt.Println("put:", err)
		return
	}
	defer rt.Release(ref)
	fmt.Printf("stored %d rows from %s\n", ref.Rows, ref.Producer)

	// Submit a task that doubles x. done is called once, from a worker.
	results := make(chan exec.TaskResult, 1)
	rt.Submit(ctx, exec.Task{
		Operator: "double",
		Index:    0,
		Inputs:   []exec.ObjectRef{ref},
		Run: func(tc *exec.TaskContext, inputs []blocks.Block) ([]blocks.Block, error) {
			xs := inputs[0].Column(0).(*array.Int64)
			b := array.NewInt64Builder(tc.Alloc)
			defer b.Release()
			for _, v := range xs.Int64Values() {
				b.Append(2 * v)
			}
			col := b.NewArray()
			defer col.Release()
			out := array.NewRecordBatch(inputs[0].Schema(), []arrow.Array{col}, int64(col.Len()))
			return []blocks.Block{out}, nil // the runtime takes over out's reference
		},
	}, func(res exec.TaskResult) { results <- res })

	res := <-results
	if res.Err != nil {
		fmt.Println("task:", res.Err)
		return
	}
	out := res.Outputs[0]
	defer rt.Release(out)
	fmt.Printf("task made %d rows as %s after %d attempt(s)\n", out.Rows, out.Producer, res.Attempts)

	// Get the output; we own one reference to it.
	b, err := rt.Get(ctx, out)
	if err != nil {
		fmt.Println("get:", err)
		return
	}
	defer b.Release()
	fmt.Println(b.Column(0))
	fmt.Println("objects in store:", rt.Stats().Objects)

	// Output:
	// stored 3 rows from source
	// task made 3 rows as double after 1 attempt(s)
	// [2 4 6]
	// objects in store: 2
}

// A spill directory that cannot be used is an error at the first block
// that needs a spill, naming the directory and the system's reason: here
// the directory lies under a regular file.
func ExampleSpillError() {
	dir, _ := os.MkdirTemp("", "spill-example")
	defer os.RemoveAll(dir)
	notADir := filepath.Join(dir, "file")
	_ = os.WriteFile(notADir, nil, 0o644)

	store := exec.NewStore(memory.DefaultAllocator, 1<<10, filepath.Join(notADir, "spill")) // a 1 KiB budget
	defer store.Close()
	for i := range 4 {
		col := blocks.NumericArray(make([]int64, 256)) // 2 KiB each
		b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: col.DataType()}}, nil), []arrow.Array{col}, 256)
		ref, err := store.Put(b, "example")
		b.Release()
		col.Release()
		var se *exec.SpillError
		if errors.As(err, &se) {
			fmt.Printf("block %d: spill directory %s: not a directory: %v\n",
				i, filepath.Base(filepath.Dir(se.Dir)), errors.Is(err, syscall.ENOTDIR))
			return
		}
		defer store.Release(ref)
	}
	// Output:
	// block 0: spill directory file: not a directory: true
}
