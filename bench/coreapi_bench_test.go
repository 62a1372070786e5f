package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/shoal-data/shoal/cluster"
	"github.com/shoal-data/shoal/core"
	"github.com/shoal-data/shoal/exec"
)

// The core API's costs (workload 6): what a remote call and a Put/Get
// round trip cost over what Go itself needs for the same.

var noop = core.Func1("bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

// BenchmarkCoreTask is the cost of one call of a no-op remote function,
// called b.N times before any result is read (throughput, as Ray's task
// benchmarks count), and one at a time (call, then Get: latency), against
// a goroutine and a channel doing the same.
func BenchmarkCoreTask(b *testing.B) {
	b.Run("goroutine-channel/throughput", func(b *testing.B) {
		chans := make([]chan int, b.N)
		for i := range chans {
			chans[i] = make(chan int, 1)
			go func() { chans[i] <- i }()
		}
		for _, c := range chans {
			<-c
		}
	})
	b.Run("goroutine-channel/latency", func(b *testing.B) {
		for i := range b.N {
			c := make(chan int, 1)
			go func() { c <- i }()
			<-c
		}
	})
	rt := exec.NewLocal()
	defer rt.Close()
	coreCalls(b, "embedded", core.WithRuntime(context.Background(), rt))
}

// BenchmarkCoreTaskCluster is BenchmarkCoreTask on a head and two nodes in
// this process, the calls running in their worker processes.
func BenchmarkCoreTaskCluster(b *testing.B) {
	ctx, stop := benchCluster(b)
	defer stop()
	coreCalls(b, "cluster", ctx)
}

func coreCalls(b *testing.B, name string, ctx context.Context) {
	b.Run(name+"/throughput", func(b *testing.B) {
		refs := make([]core.Ref[int], b.N)
		for i := range refs {
			refs[i] = noop.Remote(ctx, core.Value(i))
		}
		if _, err := core.GetAll(ctx, refs); err != nil {
			b.Fatal(err)
		}
	})
	b.Run(name+"/latency", func(b *testing.B) {
		for i := range b.N {
			if _, err := core.Get(ctx, noop.Remote(ctx, core.Value(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchCluster starts a head and two nodes in this process (their workers
// are this test binary) and returns a context whose calls run there.
func benchCluster(b *testing.B) (context.Context, func()) {
	const token = "bench-token"
	h, err := cluster.StartHead(cluster.HeadConfig{Addr: "127.0.0.1:0", Token: token, HeartbeatPeriod: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	stops := []func(){h.Close}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	ctx := context.Background()
	for range 2 {
		n, err := cluster.StartNode(ctx, cluster.NodeConfig{Head: h.Addr(), Token: token, WorkDir: b.TempDir(), SpillDir: b.TempDir(),
			Resources: cluster.Resources{CPUs: 2, ObjectStoreMemory: 1 << 30}})
		if err != nil {
			stop()
			b.Fatal(err)
		}
		stops = append(stops, n.Close)
	}
	rt, err := cluster.NewRuntime(ctx, h.Addr(), token)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	stops = append(stops, func() { rt.Close() })
	return core.WithRuntime(ctx, rt), stop
}

// sink keeps the baseline's copies from being optimized away.
var sink []byte

// BenchmarkCorePutGet is a Put and a Get of a []byte of 1 MiB and of
// 256 MiB on the embedded runtime (each copies the value once: the store
// keeps its own, Get hands back the caller's own), against Go copying the
// same bytes twice into buffers it reuses (memcopy-x2) and into new ones
// (clone-x2: the allocations, and the garbage collections they bring, that
// Put and Get cannot avoid).
func BenchmarkCorePutGet(b *testing.B) {
	rt := exec.NewLocal(exec.WithObjectStoreMemory(2 << 30))
	defer rt.Close()
	ctx := core.WithRuntime(context.Background(), rt)
	for _, size := range putGetSizes {
		src := make([]byte, size.n)
		for i := range src {
			src[i] = byte(i)
		}
		b.Run(size.name+"/memcopy-x2", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			stored, back := make([]byte, size.n), make([]byte, size.n)
			for range b.N {
				copy(stored, src)
				copy(back, stored)
			}
		})
		b.Run(size.name+"/clone-x2", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for range b.N {
				stored := bytes.Clone(src)
				back := bytes.Clone(stored)
				sink = back
			}
		})
		b.Run(size.name+"/embedded", func(b *testing.B) {
			putGet(b, ctx, src)
		})
	}
}

// BenchmarkCorePutGetCluster is BenchmarkCorePutGet on a head and two
// nodes in this process: Put sends the value to a node's store over
// Arrow Flight, Get fetches it back.
func BenchmarkCorePutGetCluster(b *testing.B) {
	ctx, stop := benchCluster(b)
	defer stop()
	for _, size := range putGetSizes {
		src := make([]byte, size.n)
		for i := range src {
			src[i] = byte(i)
		}
		b.Run(size.name+"/cluster", func(b *testing.B) {
			putGet(b, ctx, src)
		})
	}
}

// putGetSizes are the values BenchmarkCorePutGet stores.
var putGetSizes = []struct {
	name string
	n    int
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

// putGet is b.N round trips of src through the store of ctx's runtime.
func putGet(b *testing.B, ctx context.Context, src []byte) {
	b.SetBytes(int64(len(src)))
	for range b.N {
		r, err := core.Put(ctx, src)
		if err != nil {
			b.Fatal(err)
		}
		v, err := core.Get(ctx, r)
		if err != nil || len(v) != len(src) {
			b.Fatal(err)
		}
		r.Release()
	}
}
