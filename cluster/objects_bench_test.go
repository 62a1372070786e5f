package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// objBenchBytes is the size of the block the transfer benchmarks move.
const objBenchBytes = 256 << 20

// objBenchBlock is a 256 MiB block: two int64 and two float64 columns.
func objBenchBlock(mem memory.Allocator) arrow.RecordBatch {
	rows := objBenchBytes / 32
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for c := range 4 {
		switch f := bld.Field(c).(type) {
		case *array.Int64Builder:
			f.Reserve(rows)
			for i := range rows {
				f.UnsafeAppend(int64(i * (c + 1)))
			}
		case *array.Float64Builder:
			f.Reserve(rows)
			for i := range rows {
				f.UnsafeAppend(float64(i) / float64(c))
			}
		}
	}
	return bld.NewRecordBatch()
}

// BenchmarkFlightTransfer gets a 256 MiB block from a node over loopback.
// Besides MB/s it reports GB/s and the ratio to this machine's memory copy
// bandwidth (BenchmarkMemCopy's figure, measured once).
func BenchmarkFlightTransfer(b *testing.B) {
	mem := memory.NewGoAllocator()
	n := objStartNode(b, mem, 1<<40, "")
	c := objDial(b, n.addr)
	blk := objBenchBlock(mem)
	defer blk.Release()
	ref, err := n.store.Put(blk, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer n.store.Release(ref)
	ctx := context.Background()
	// Warm the connection.
	if got, err := c.Get(ctx, ref.ID, mem); err != nil {
		b.Fatal(err)
	} else {
		got.Release()
	}
	b.SetBytes(objBenchBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		got, err := c.Get(ctx, ref.ID, mem)
		if err != nil {
			b.Fatal(err)
		}
		if got.NumRows() != blk.NumRows() {
			b.Fatalf("got %d rows", got.NumRows())
		}
		got.Release()
	}
	gbs := float64(objBenchBytes) * float64(b.N) / time.Since(start).Seconds() / 1e9
	b.StopTimer()
	b.ReportMetric(gbs, "GB/s")
	b.ReportMetric(gbs/objMemCopyGBs(), "x-memcopy")
}

// BenchmarkFlightTransferStock is BenchmarkFlightTransfer the way stock
// arrow-go Flight does it: a server with gRPC's protobuf codec, a client
// reading with flight.NewRecordReader and concatenating the batches. It is
// the baseline flightCodec and the assembler improve on.
func BenchmarkFlightTransferStock(b *testing.B) {
	mem := memory.NewGoAllocator()
	store := exec.NewStore(mem, 1<<40, b.TempDir())
	defer store.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(serverOptions(objToken, ProtocolVersion)...)
	flight.RegisterFlightServiceServer(srv, NewObjectService(store))
	go srv.Serve(lis)
	defer srv.GracefulStop()
	conn, err := dial(lis.Addr().String(), objToken, ProtocolVersion)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	fc := flight.NewFlightServiceClient(conn)
	blk := objBenchBlock(mem)
	defer blk.Release()
	ref, err := store.Put(blk, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Release(ref)
	get := func() {
		stream, err := fc.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(fmt.Sprint(ref.ID))})
		if err != nil {
			b.Fatal(err)
		}
		rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(mem))
		if err != nil {
			b.Fatal(err)
		}
		defer rdr.Release()
		var parts []arrow.RecordBatch
		for rdr.Next() {
			rdr.RecordBatch().Retain()
			parts = append(parts, rdr.RecordBatch())
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		got, err := blocks.Concat(mem, parts)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range parts {
			p.Release()
		}
		if got.NumRows() != blk.NumRows() {
			b.Fatalf("got %d rows", got.NumRows())
		}
		got.Release()
	}
	get()
	b.SetBytes(objBenchBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		get()
	}
	gbs := float64(objBenchBytes) * float64(b.N) / time.Since(start).Seconds() / 1e9
	b.StopTimer()
	b.ReportMetric(gbs, "GB/s")
	b.ReportMetric(gbs/objMemCopyGBs(), "x-memcopy")
}

// BenchmarkFlightPut puts a 256 MiB block on a node over loopback.
func BenchmarkFlightPut(b *testing.B) {
	mem := memory.NewGoAllocator()
	n := objStartNode(b, mem, 1<<40, "")
	c := objDial(b, n.addr)
	blk := objBenchBlock(mem)
	defer blk.Release()
	ctx := context.Background()
	b.SetBytes(objBenchBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		ref, err := c.Put(ctx, blk, "bench")
		if err != nil {
			b.Fatal(err)
		}
		n.store.Release(ref)
	}
	gbs := float64(objBenchBytes) * float64(b.N) / time.Since(start).Seconds() / 1e9
	b.StopTimer()
	b.ReportMetric(gbs, "GB/s")
	b.ReportMetric(gbs/objMemCopyGBs(), "x-memcopy")
}

// BenchmarkMemCopy copies 256 MiB between two buffers: the bound a
// transfer that copies the block once could reach.
func BenchmarkMemCopy(b *testing.B) {
	src, dst := make([]byte, objBenchBytes), make([]byte, objBenchBytes)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in
	b.SetBytes(objBenchBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		copy(dst, src)
	}
	b.ReportMetric(float64(objBenchBytes)*float64(b.N)/time.Since(start).Seconds()/1e9, "GB/s")
}

// BenchmarkLoopbackTCP moves 256 MiB through a bare TCP socket over
// loopback: the ceiling of any transfer between two processes by TCP.
func BenchmarkLoopbackTCP(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	src, dst := make([]byte, objBenchBytes), make([]byte, objBenchBytes)
	sent := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err == nil {
			for i := 0; i <= b.N && err == nil; i++ {
				_, err = c.Write(src)
			}
			c.Close()
		}
		sent <- err
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, dst); err != nil { // warm up
		b.Fatal(err)
	}
	b.SetBytes(objBenchBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := io.ReadFull(c, dst); err != nil {
			b.Fatal(err)
		}
	}
	gbs := float64(objBenchBytes) * float64(b.N) / time.Since(start).Seconds() / 1e9
	b.StopTimer()
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(gbs, "GB/s")
	b.ReportMetric(gbs/objMemCopyGBs(), "x-memcopy")
}

var objMemCopy struct {
	once sync.Once
	gbs  float64
}

// objMemCopyGBs measures the memory copy bandwidth in GB/s once: the best of
// five copies of 256 MiB.
func objMemCopyGBs() float64 {
	objMemCopy.once.Do(func() {
		src, dst := make([]byte, objBenchBytes), make([]byte, objBenchBytes)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src)
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			copy(dst, src)
			best = min(best, time.Since(start))
		}
		objMemCopy.gbs = float64(objBenchBytes) / best.Seconds() / 1e9
	})
	return objMemCopy.gbs
}
