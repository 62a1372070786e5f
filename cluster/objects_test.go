package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/exec"
)

const objToken = "obj-s3cret"

// objNode is a store served over loopback.
type objNode struct {
	store *exec.Store
	svc   *ObjectService
	addr  string
	stop  func()
}

// objStartNode serves a store on mem at 127.0.0.1:0; cleanup stops the
// server and closes the store.
func objStartNode(t testing.TB, mem memory.Allocator, budget int64, spillDir string) *objNode {
	t.Helper()
	if spillDir == "" {
		spillDir = t.TempDir()
	}
	store := exec.NewStore(mem, budget, spillDir)
	svc := NewObjectService(store)
	svc.Alloc = mem
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &objNode{store: store, svc: svc, addr: lis.Addr().String(), stop: ServeObjects(lis, svc, objToken)}
	t.Cleanup(func() {
		n.stop()
		store.Close()
	})
	return n
}

func objDial(t testing.TB, addr string) *ObjectClient {
	t.Helper()
	c, err := DialObjects(addr, objToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// objRawFlight is a plain Flight client with the given token and version.
func objRawFlight(t testing.TB, addr, token, version string) flight.FlightServiceClient {
	t.Helper()
	conn, err := dial(addr, token, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return flight.NewFlightServiceClient(conn)
}

// objCheckLeaks fails t if goroutines started during the test outlive it,
// or if mem still holds bytes. Register it first so that it runs last.
//
// gRPC drops the buffers of a cancelled stream without freeing them, and the
// batches they came from are released when the garbage collector finds them
// gone: the check collects garbage a few times before it counts bytes.
func objCheckLeaks(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, opt)
		for i := 0; i < 20 && mem.CurrentAlloc() != 0; i++ {
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
		mem.AssertSize(t, 0)
	})
	return mem
}

// objTestBlocks are blocks of several types, built with mem.
func objTestBlocks(mem memory.Allocator) map[string]arrow.RecordBatch {
	out := map[string]arrow.RecordBatch{}

	ints := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil))
	for i := range 1000 {
		ints.Field(0).(*array.Int64Builder).Append(int64(i) * 1e9)
		if i%7 == 0 {
			ints.Field(1).AppendNull()
		} else {
			ints.Field(1).(*array.Int32Builder).Append(int32(-i))
		}
		ints.Field(2).(*array.Uint8Builder).Append(uint8(i))
		ints.Field(3).(*array.BooleanBuilder).Append(i%3 == 0)
	}
	out["ints"] = ints.NewRecordBatch()
	ints.Release()

	floats := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
	}, nil))
	for i := range 777 {
		if i%5 == 0 {
			floats.Field(0).AppendNull()
		} else {
			floats.Field(0).(*array.Float64Builder).Append(float64(i) / 3)
		}
		floats.Field(1).(*array.Float32Builder).Append(float32(i) * 1.5)
	}
	out["floats"] = floats.NewRecordBatch()
	floats.Release()

	nested := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "pt", Type: arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64},
			arrow.Field{Name: "tag", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "xs", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "cat", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	}, nil))
	sb := nested.Field(0).(*array.StringBuilder)
	pb := nested.Field(1).(*array.StructBuilder)
	lb := nested.Field(2).(*array.ListBuilder)
	db := nested.Field(3).(*array.BinaryDictionaryBuilder)
	for i := range 500 {
		if i%9 == 4 {
			db.AppendNull()
		} else if err := db.AppendString([]string{"red", "green", "blue"}[i%3]); err != nil {
			panic(err)
		}
		if i%4 == 1 {
			sb.AppendNull()
		} else {
			sb.Append(strings.Repeat("ab", i%9) + fmt.Sprint(i))
		}
		if i%6 == 2 {
			pb.AppendNull()
		} else {
			pb.Append(true)
			pb.FieldBuilder(0).(*array.Float64Builder).Append(float64(i))
			if i%3 == 0 {
				pb.FieldBuilder(1).AppendNull()
			} else {
				pb.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("t%d", i))
			}
		}
		if i%10 == 3 {
			lb.AppendNull()
		} else {
			lb.Append(true)
			for j := range i % 5 {
				lb.ValueBuilder().(*array.Int64Builder).Append(int64(i * j))
			}
		}
	}
	out["nested"] = nested.NewRecordBatch()
	nested.Release()

	misc := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 20, Scale: 3}},
		{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "nulls", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "yes", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil))
	for i := range 301 {
		if i%11 == 0 {
			misc.Field(0).AppendNull()
			misc.Field(2).AppendNull()
			misc.Field(3).AppendNull()
		} else {
			misc.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1e6))
			misc.Field(2).(*array.FixedSizeBinaryBuilder).Append([]byte{byte(i), byte(i >> 8), 7})
			misc.Field(3).(*array.LargeStringBuilder).Append(strings.Repeat("é", i%13))
		}
		misc.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 1001))
		misc.Field(4).(*array.BinaryBuilder).Append(bytes.Repeat([]byte{byte(i)}, i%4))
		misc.Field(5).(*array.Date32Builder).Append(arrow.Date32(i))
		misc.Field(6).AppendNull()
		if i%17 == 0 {
			misc.Field(7).AppendNull()
		} else {
			misc.Field(7).(*array.BooleanBuilder).Append(true)
		}
	}
	out["misc"] = misc.NewRecordBatch()
	misc.Release()

	empty := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "e", Type: arrow.BinaryTypes.String}}, nil))
	out["empty"] = empty.NewRecordBatch()
	empty.Release()
	return out
}

// objBigBlock is a block of about mb megabytes: int64 with nulls, float64 and
// strings with nulls.
func objBigBlock(mem memory.Allocator, mb int) arrow.RecordBatch {
	rows := mb << 20 / 24
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil))
	defer b.Release()
	ib := b.Field(0).(*array.Int64Builder)
	fb := b.Field(1).(*array.Float64Builder)
	sb := b.Field(2).(*array.StringBuilder)
	ib.Reserve(rows)
	fb.Reserve(rows)
	sb.Reserve(rows)
	sb.ReserveData(rows * 4)
	for i := range rows {
		if i%1001 == 0 {
			ib.AppendNull()
			sb.AppendNull()
		} else {
			ib.UnsafeAppend(int64(i))
			sb.Append("r" + fmt.Sprint(i%100))
		}
		fb.UnsafeAppend(float64(i) * 0.5)
	}
	return b.NewRecordBatch()
}

func TestObjectRoundTrip(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	ctx := context.Background()
	for name, b := range objTestBlocks(mem) {
		t.Run(name, func(t *testing.T) {
			defer b.Release()
			ref, err := c.Put(ctx, b, "op-"+name)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Rows != b.NumRows() || ref.Producer != "op-"+name || !ref.Schema.Equal(b.Schema()) || ref.ID == 0 {
				t.Fatalf("ref = %+v", ref)
			}
			got, err := c.Get(ctx, ref.ID, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if !array.RecordEqual(got, b) {
				t.Fatalf("got\n%v\nwant\n%v", got, b)
			}
			// The store holds what was sent.
			stored, err := n.store.Get(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			defer stored.Release()
			if !array.RecordEqual(stored, b) {
				t.Fatal("stored block differs")
			}
			if err := c.Release(ctx, ref.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 0 || st.MemoryBytes != 0 {
		t.Fatalf("stats after release: %v", st)
	}
}

// A block put straight into the node's store (as its tasks do) is served too.
func TestObjectGetLocal(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	bs := objTestBlocks(mem)
	defer func() {
		for _, x := range bs {
			x.Release()
		}
	}()
	b := bs["nested"]
	ref, err := n.store.Put(b, "local")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(context.Background(), ref.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(got, b) {
		t.Fatal("block differs")
	}
	n.store.Release(ref)
}

func TestObjectLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB")
	}
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	ctx := context.Background()
	b := objBigBlock(mem, 100)
	defer b.Release()
	ref, err := c.Put(ctx, b, "big")
	if err != nil {
		t.Fatal(err)
	}
	if ref.Bytes < 100e6 {
		t.Fatalf("block is %d bytes", ref.Bytes)
	}
	got, err := c.Get(ctx, ref.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(got, b) {
		t.Fatal("100 MB block differs after the round trip")
	}
	if err := c.Release(ctx, ref.ID); err != nil {
		t.Fatal(err)
	}

	// Batches of nested columns are concatenated on arrival.
	nb := objNestedBig(mem, 2<<20)
	defer nb.Release()
	ref, err = c.Put(ctx, nb, "nested")
	if err != nil {
		t.Fatal(err)
	}
	got2, err := c.Get(ctx, ref.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got2.Release()
	if !array.RecordEqual(got2, nb) {
		t.Fatal("nested block differs after the round trip")
	}
	if err := c.Release(ctx, ref.ID); err != nil {
		t.Fatal(err)
	}
}

// objNestedBig is a block of rows rows of a list and a struct column, 36
// bytes a row.
func objNestedBig(mem memory.Allocator, rows int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "xs", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "pt", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64})},
	}, nil))
	defer b.Release()
	lb := b.Field(0).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Int64Builder)
	sb := b.Field(1).(*array.StructBuilder)
	xb := sb.FieldBuilder(0).(*array.Float64Builder)
	for i := range rows {
		if i%997 == 0 {
			lb.AppendNull()
		} else {
			lb.Append(true)
			vb.Append(int64(i))
			vb.Append(int64(-i))
		}
		sb.Append(true)
		xb.Append(float64(i))
	}
	return b.NewRecordBatch()
}

// A spilled block is served from disk, and stats report the spill.
func TestObjectSpilled(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1, "")
	c := objDial(t, n.addr)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	r1, err := c.Put(ctx, bs["ints"], "a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Put(ctx, bs["floats"], "b")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 2 || st.SpilledTotal == 0 || st.SpilledByProducer["a"] == 0 || st.LastSpillError != nil {
		t.Fatalf("stats: %+v", st)
	}
	got, err := c.Get(ctx, r1.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(got, bs["ints"]) {
		t.Fatal("spilled block differs")
	}
	for _, id := range []exec.ObjectID{r1.ID, r2.ID} {
		if err := c.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed spill's error reaches the client: the put that needed the
// spill fails with it, and stats report it as its message.
func TestObjectStatsSpillError(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1, "/nonexistent/shoal/spill")
	c := objDial(t, n.addr)
	ctx := context.Background()
	b := objTestBlocks(mem)
	defer func() {
		for _, x := range b {
			x.Release()
		}
	}()
	_, err := c.Put(ctx, b["ints"], "a")
	if err == nil || !strings.Contains(err.Error(), "spill directory /nonexistent/shoal/spill cannot be used") {
		t.Fatalf("put over budget: got %v, want the spill directory's error", err)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := n.store.Stats()
	if st.SpillFailures != 1 || st.Objects != 0 || st.LastSpillError == nil || st.LastSpillError.Error() != want.LastSpillError.Error() {
		t.Fatalf("stats: %+v, store has %+v", st, want)
	}
}

func TestObjectNotFound(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	ctx := context.Background()
	_, err := c.Get(ctx, 4242, mem)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "4242") {
		t.Fatalf("Get(unknown) = %v, want NotFound naming 4242", err)
	}
	err = c.Release(ctx, 4243)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "4243") {
		t.Fatalf("Release(unknown) = %v, want NotFound naming 4243", err)
	}
}

func TestObjectBadTicket(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	for _, ticket := range []string{"", "abc", "-1", "1.5", "99999999999999999999999"} {
		stream, err := fc.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(ticket)})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("ticket %q: %v, want InvalidArgument", ticket, err)
		}
	}
}

func TestObjectGetCancelled(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, 1, mem); status.Code(err) != codes.Canceled {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}

func TestObjectAuth(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	ctx := context.Background()
	b := objTestBlocks(mem)
	defer func() {
		for _, x := range b {
			x.Release()
		}
	}()

	bad, err := DialObjects(n.addr, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Put(ctx, b["ints"], "x"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Put with a wrong token: %v", err)
	}
	if _, err := bad.Get(ctx, 1, mem); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Get with a wrong token: %v", err)
	}
	if _, err := bad.Stats(ctx); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Stats with a wrong token: %v", err)
	}

	old := objRawFlight(t, n.addr, objToken, "shoal-0")
	stream, err := old.DoGet(ctx, &flight.Ticket{Ticket: []byte("1")})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "shoal-0") || !strings.Contains(err.Error(), ProtocolVersion) {
		t.Errorf("DoGet with version shoal-0: %v, want FailedPrecondition naming both versions", err)
	}
	if n.store.Stats().Objects != 0 {
		t.Fatal("a refused call stored something")
	}
}

// objPutRaw runs a DoPut of hand-made messages and returns the call's status.
func objPutRaw(ctx context.Context, fc flight.FlightServiceClient, msgs []*flight.FlightData, opts ...grpc.CallOption) error {
	stream, err := fc.DoPut(ctx, opts...)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			break // the server ended the call: Recv says why
		}
	}
	stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// objFlightMessages are the FlightData messages a flight writer makes of bs.
func objFlightMessages(t *testing.T, descr *flight.FlightDescriptor, bs ...arrow.RecordBatch) []*flight.FlightData {
	t.Helper()
	var rec objRecorder
	w := flight.NewRecordWriter(&rec, ipc.WithSchema(bs[0].Schema()))
	w.SetFlightDescriptor(descr)
	for _, b := range bs {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.msgs
}

type objRecorder struct{ msgs []*flight.FlightData }

func (r *objRecorder) Send(m *flight.FlightData) error {
	r.msgs = append(r.msgs, &flight.FlightData{
		FlightDescriptor: m.FlightDescriptor,
		DataHeader:       bytes.Clone(m.DataHeader),
		DataBody:         bytes.Clone(m.DataBody),
		AppMetadata:      bytes.Clone(m.AppMetadata),
	})
	return nil
}

func objPutDescr(producer string) *flight.FlightDescriptor {
	return &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte(`{"producer": "` + producer + `"}`)}
}

func TestObjectPutMalformed(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	c := objDial(t, n.addr)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	good := objFlightMessages(t, objPutDescr("p"), bs["ints"])
	other := objFlightMessages(t, nil, bs["floats"])

	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0x7f}, 64)
	cases := map[string][]*flight.FlightData{
		"garbage":          {{FlightDescriptor: objPutDescr("p"), DataHeader: garbage, DataBody: garbage}},
		"garbage header":   {{FlightDescriptor: objPutDescr("p"), DataHeader: garbage[:9]}},
		"garbage batch":    {good[0], {DataHeader: garbage, DataBody: garbage}},
		"truncated body":   {good[0], {DataHeader: good[1].DataHeader, DataBody: good[1].DataBody[:10]}},
		"no messages":      nil,
		"no schema":        {{FlightDescriptor: objPutDescr("p")}},
		"no descriptor":    {{DataHeader: good[0].DataHeader}, good[1]},
		"path descriptor":  {{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"x"}}, DataHeader: good[0].DataHeader}, good[1]},
		"bad command":      {{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("{producer")}, DataHeader: good[0].DataHeader}, good[1]},
		"schema changes":   {good[0], good[1], other[0], other[1]},
		"batch of another": {good[0], other[1]},
	}
	for name, msgs := range cases {
		err := objPutRaw(ctx, fc, msgs)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if st := n.store.Stats(); st.Objects != 0 {
		t.Fatalf("malformed puts stored %d objects", st.Objects)
	}
	// The server still serves, and the hand-made stream is a valid put.
	if err := objPutRaw(ctx, fc, good); err != nil {
		t.Fatal(err)
	}
	ref, err := c.Put(ctx, bs["nested"], "after")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, ref.ID, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(got, bs["nested"]) {
		t.Fatal("block differs")
	}
	if st := n.store.Stats(); st.Objects != 2 {
		t.Fatalf("store holds %d objects, want 2", st.Objects)
	}
}

func TestObjectOversizedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB message")
	}
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	good := objFlightMessages(t, objPutDescr("p"), bs["ints"])
	huge := &flight.FlightData{DataHeader: good[1].DataHeader, DataBody: make([]byte, MaxMessageBytes+1)}
	err := objPutRaw(ctx, fc, []*flight.FlightData{good[0], huge}, grpc.MaxCallSendMsgSize(1<<30))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v, want ResourceExhausted", err)
	}
	// The client refuses to send one too.
	err = objPutRaw(ctx, fc, []*flight.FlightData{good[0], huge})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message, client bound: %v, want ResourceExhausted", err)
	}
	if st := n.store.Stats(); st.Objects != 0 {
		t.Fatalf("store holds %d objects", st.Objects)
	}
	c := objDial(t, n.addr)
	ref, err := c.Put(ctx, bs["ints"], "after")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, ref.ID); err != nil {
		t.Fatal(err)
	}
}

func TestObjectActions(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	ref, err := c.Put(ctx, bs["ints"], "p")
	if err != nil {
		t.Fatal(err)
	}
	n.store.Retain(ref) // two references: two releases free it
	for want := 1; want >= 0; want-- {
		if err := c.Release(ctx, ref.ID); err != nil {
			t.Fatal(err)
		}
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Objects != want {
			t.Fatalf("after a release: %d objects, want %d", st.Objects, want)
		}
	}
	if err := c.Release(ctx, ref.ID); status.Code(err) != codes.NotFound {
		t.Fatalf("release of a freed object: %v", err)
	}

	run := func(typ, body string) error {
		stream, err := fc.DoAction(ctx, &flight.Action{Type: typ, Body: []byte(body)})
		if err != nil {
			return err
		}
		return flight.ReadUntilEOF(stream)
	}
	if err := run("frobnicate", ""); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown action: %v", err)
	}
	for _, body := range []string{"", "{}", `{"id": "x"}`, "[1]"} {
		if err := run(ActionRelease, body); status.Code(err) != codes.InvalidArgument {
			t.Errorf("release %q: %v", body, err)
		}
	}
}

func TestObjectConcurrent(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	names := []string{"ints", "floats", "nested", "misc", "empty"}
	// arrow-go's Dictionary arrays build their dictionary array lazily on
	// first use, without a lock: touch every column once before the
	// goroutines share the blocks.
	for _, b := range bs {
		array.RecordEqual(b, b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				b := bs[names[(g+i)%len(names)]]
				ref, err := c.Put(ctx, b, fmt.Sprint(g))
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Get(ctx, ref.ID, mem)
				if err != nil {
					errs <- err
					return
				}
				eq := array.RecordEqual(got, b)
				got.Release()
				if !eq {
					errs <- fmt.Errorf("goroutine %d: object %d differs", g, ref.ID)
					return
				}
				if err := c.Release(ctx, ref.ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := n.store.Stats(); st.Objects != 0 {
		t.Fatalf("%d objects left", st.Objects)
	}
}

// A server embedding ObjectService can add actions and pass the rest on.
type objEmbeddingServer struct{ *ObjectService }

func (s objEmbeddingServer) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	if a.GetType() == "ping" {
		return stream.Send(&flight.Result{Body: []byte("pong")})
	}
	return s.ObjectService.DoAction(a, stream)
}

func TestObjectServiceEmbedded(t *testing.T) {
	mem := objCheckLeaks(t)
	store := exec.NewStore(mem, 1<<40, t.TempDir())
	defer store.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(serverOptions(objToken, ProtocolVersion)...)
	svc := NewObjectService(store)
	svc.Alloc = mem
	flight.RegisterFlightServiceServer(srv, objEmbeddingServer{svc})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.GracefulStop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Error(err)
		}
	}()
	c, err := DialObjects(lis.Addr().String(), objToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	res, err := c.action(ctx, "ping", nil)
	if err != nil || len(res) != 1 || string(res[0]) != "pong" {
		t.Fatalf("ping: %q, %v", res, err)
	}
	// Without ServeObjects, blocks go through gRPC's protobuf codec.
	bs := objTestBlocks(mem)
	bs["big"] = objBigBlock(mem, 40)
	for name, b := range bs {
		ref, err := c.Put(ctx, b, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := c.Get(ctx, ref.ID, mem)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !array.RecordEqual(got, b) {
			t.Errorf("%s differs", name)
		}
		got.Release()
		b.Release()
		if err := c.Release(ctx, ref.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := c.Stats(ctx); err != nil || st.Objects != 0 {
		t.Fatalf("stats: %v, %v", st, err)
	}
}

// objOddSlices cuts b into batches of row counts that are not multiples of 8,
// so that the receiver copies bitmaps at bit offsets.
func objOddSlices(b arrow.RecordBatch) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	cuts := []int64{0, 5, 18, 19, 19, 60}
	for i := 1; i < len(cuts) && cuts[i] <= b.NumRows(); i++ {
		out = append(out, b.NewSlice(cuts[i-1], cuts[i]))
	}
	out = append(out, b.NewSlice(min(cuts[len(cuts)-1], b.NumRows()), b.NumRows()))
	return out
}

func objReleaseAll(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// A stream announcing its block's size is assembled as it arrives, whatever
// the batches' sizes.
func TestObjectAssembledBatches(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	c := objDial(t, n.addr)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	for _, name := range []string{"ints", "floats", "misc"} {
		b := bs[name]
		parts := objOddSlices(b)
		msgs := objFlightMessages(t, objPutDescr(name), parts...)
		objReleaseAll(parts)
		msgs[0].AppMetadata = planOf(b)
		stream, err := fc.DoPut(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		stream.CloseSend()
		res, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var pr putResult
		if err := json.Unmarshal(res.AppMetadata, &pr); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, pr.ID, mem)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(got, b) {
			t.Errorf("%s: got\n%v\nwant\n%v", name, got, b)
		}
		got.Release()
		if err := c.Release(ctx, pr.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// Broken size announcements are refused and leak nothing.
func TestObjectAssembledMalformed(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	ctx := context.Background()
	bs := objTestBlocks(mem)
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	b := bs["misc"]
	parts := objOddSlices(b)
	defer objReleaseAll(parts)
	with := func(plan blockPlan, batches ...arrow.RecordBatch) []*flight.FlightData {
		msgs := objFlightMessages(t, objPutDescr("p"), batches...)
		msgs[0].AppMetadata, _ = json.Marshal(plan)
		return msgs
	}
	data := func(extra int64) []int64 {
		var p blockPlan
		json.Unmarshal(planOf(b), &p)
		for i := range p.Data {
			if p.Data[i] > 0 {
				p.Data[i] += extra
			}
		}
		return p.Data
	}
	other := objFlightMessages(t, nil, bs["floats"])
	good := with(blockPlan{Rows: b.NumRows(), Data: data(0)}, parts...)
	cases := map[string][]*flight.FlightData{
		"more rows planned":  with(blockPlan{Rows: b.NumRows() + 1, Data: data(0)}, parts...),
		"fewer rows planned": with(blockPlan{Rows: b.NumRows() - 1, Data: data(0)}, parts...),
		"less data planned":  with(blockPlan{Rows: b.NumRows(), Data: data(-1)}, parts...),
		"schema again":       append(append([]*flight.FlightData{}, good[:3]...), good[0]),
		"batch of another":   {good[0], good[1], other[1]},
		"truncated body":     {good[0], {DataHeader: good[1].DataHeader, DataBody: good[1].DataBody[:len(good[1].DataBody)/2]}},
		"garbage header":     {good[0], {DataHeader: bytes.Repeat([]byte{0x7f}, 40), DataBody: good[1].DataBody}},
	}
	for name, msgs := range cases {
		if err := objPutRaw(ctx, fc, msgs); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if st := n.store.Stats(); st.Objects != 0 {
		t.Fatalf("malformed puts stored %d objects", st.Objects)
	}
	// More data planned than sent is only a larger buffer.
	if err := objPutRaw(ctx, fc, with(blockPlan{Rows: b.NumRows(), Data: data(100)}, parts...)); err != nil {
		t.Fatal(err)
	}
	if err := objPutRaw(ctx, fc, good); err != nil {
		t.Fatal(err)
	}
	// A plan too large to allocate up front is ignored: the batches are
	// read one by one.
	if err := objPutRaw(ctx, fc, with(blockPlan{Rows: 1 << 40, Data: data(0)}, parts...)); err != nil {
		t.Fatal(err)
	}
	if st := n.store.Stats(); st.Objects != 3 {
		t.Fatalf("store holds %d objects, want 3", st.Objects)
	}
}

// A stock Flight reader reads what DoGet streams: the wire is plain Flight.
func TestObjectStockFlightReader(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	fc := objRawFlight(t, n.addr, objToken, ProtocolVersion)
	b := objBigBlock(mem, 40)
	defer b.Release()
	ref, err := n.store.Put(b, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer n.store.Release(ref)
	stream, err := fc.DoGet(context.Background(), &flight.Ticket{Ticket: []byte(fmt.Sprint(ref.ID))})
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var got []arrow.RecordBatch
	defer func() { objReleaseAll(got) }()
	for rdr.Next() {
		r := rdr.RecordBatch()
		r.Retain()
		got = append(got, r)
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) < 3 {
		t.Fatalf("a 40 MB block came in %d batches", len(got))
	}
	var at int64
	for _, r := range got {
		want := b.NewSlice(at, at+r.NumRows())
		eq := array.RecordEqual(r, want)
		want.Release()
		if !eq {
			t.Fatalf("batch at row %d differs", at)
		}
		at += r.NumRows()
	}
	if at != b.NumRows() {
		t.Fatalf("%d rows, want %d", at, b.NumRows())
	}
}

// Calls cancelled halfway leak no reference to the blocks they were sending.
func TestObjectCancelledTransfers(t *testing.T) {
	mem := objCheckLeaks(t)
	n := objStartNode(t, mem, 1<<40, "")
	c := objDial(t, n.addr)
	b := objBigBlock(mem, 40)
	defer b.Release()
	ref, err := n.store.Put(b, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer n.store.Release(ref)
	for _, d := range []time.Duration{time.Millisecond, 4 * time.Millisecond, 16 * time.Millisecond, 64 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		r, err := c.Put(ctx, b, "p")
		cancel()
		if err == nil {
			n.store.Release(r)
		} else if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Canceled {
			t.Errorf("put cut after %v: %v", d, err)
		}
		t.Logf("put cut after %v: %v", d, status.Code(err))
		ctx, cancel = context.WithTimeout(context.Background(), d)
		got, err := c.Get(ctx, ref.ID, mem)
		cancel()
		if err == nil {
			got.Release()
		} else if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Canceled {
			t.Errorf("get cut after %v: %v", d, err)
		}
		t.Logf("get cut after %v: %v", d, status.Code(err))
	}
}
