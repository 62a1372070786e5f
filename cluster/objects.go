package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	grpcmem "google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// maxBatchBytes bounds the record batches a block is cut into on the wire:
// one batch is one gRPC message, well under MaxMessageBytes.
const maxBatchBytes = 16 << 20

// Object service action types.
const (
	// ActionRelease drops one reference to an object: body {"id": n}.
	ActionRelease = "release"
	// ActionStats reports the store's counters as JSON (see ObjectService).
	ActionStats = "stats"
)

// ObjectService serves a node's store over Flight: DoGet streams a block,
// DoPut stores blocks.
//
// DoGet's ticket is the object id in decimal ("42"); the block comes back as
// one Flight stream, its schema then record batches of at most about 16 MiB
// (slices of the stored block). The schema message's AppMetadata is JSON
// {"rows": n, "data": [bytes...]}: the block's rows and the bytes of values
// of each binary or string column (0 for others), which lets a receiver
// place the batches in the block's buffers as they arrive. Any Flight
// client can read the stream; a DoPut may carry the same AppMetadata.
//
// DoPut takes one block: a FlightDescriptor whose Cmd is JSON
// {"producer": "..."}, the schema, then record batches, concatenated into one
// block if there are several. The reply is one PutResult whose AppMetadata is
// JSON {"id": n, "rows": r, "bytes": b}.
//
// DoAction "release" with body JSON {"id": n} drops one reference to an
// object; DoAction "stats" answers one Result with the store's
// exec.StoreStats as JSON (LastSpillError as its message). Other action
// types are codes.Unimplemented, so that a server embedding ObjectService can
// handle its own actions and pass the rest on.
//
// Served by ServeObjects, blocks are sent from their own buffers and
// received with one copy, from gRPC's buffers to the block's (see
// flightCodec). Registered on another gRPC server, the service speaks the
// same protocol through gRPC's protobuf codec, which copies each block
// twice more on each side.
type ObjectService struct {
	flight.BaseFlightServer

	// Alloc allocates the blocks DoPut receives (memory.DefaultAllocator
	// when nil). Set it before serving.
	Alloc memory.Allocator

	store *exec.Store

	// owners names the job each object was made for, so that a job that
	// ends (its driver gone, perhaps killed) can have its objects freed.
	mu     sync.Mutex
	owners map[exec.ObjectID]string
}

// Own records that id was made for job ("" for none).
func (s *ObjectService) Own(id exec.ObjectID, job string) {
	if job == "" {
		return
	}
	s.mu.Lock()
	if s.owners == nil {
		s.owners = make(map[exec.ObjectID]string)
	}
	s.owners[id] = job
	s.mu.Unlock()
}

func (s *ObjectService) disown(id exec.ObjectID) {
	s.mu.Lock()
	delete(s.owners, id)
	s.mu.Unlock()
}

// ReleaseJob frees every object made for job (its driver has gone, so no
// one will release them) and reports how many. An empty job frees the
// objects of every job (their drivers gave this store up).
func (s *ObjectService) ReleaseJob(job string) int {
	s.mu.Lock()
	var ids []exec.ObjectID
	for id, j := range s.owners {
		if j == job || job == "" {
			ids = append(ids, id)
			delete(s.owners, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.store.Release(exec.ObjectRef{ID: id})
	}
	return len(ids)
}

// NewObjectService returns a service serving store. The store stays the
// caller's: the service never closes it.
func NewObjectService(store *exec.Store) *ObjectService {
	return &ObjectService{store: store}
}

func (s *ObjectService) alloc() memory.Allocator {
	if s.Alloc != nil {
		return s.Alloc
	}
	return memory.DefaultAllocator
}

// putCmd is the FlightDescriptor Cmd of a DoPut: Job, when set, owns the
// object (ReleaseJob).
type putCmd struct {
	Producer string `json:"producer"`
	Job      string `json:"job,omitempty"`
}

// putResult is the AppMetadata of DoPut's PutResult.
type putResult struct {
	ID    exec.ObjectID `json:"id"`
	Rows  int64         `json:"rows"`
	Bytes int64         `json:"bytes"`
}

// releaseBody is the body of a "release" action.
type releaseBody struct {
	ID  *exec.ObjectID  `json:"id,omitempty"`
	IDs []exec.ObjectID `json:"ids,omitempty"` // several at once
}

// wireStats is exec.StoreStats on the wire: an error does not survive JSON,
// so LastSpillError travels as its message.
type wireStats struct {
	exec.StoreStats
	LastSpillError string `json:"LastSpillError,omitempty"`
}

// toWireStats is st as the stats action answers it.
func toWireStats(st exec.StoreStats) wireStats {
	w := wireStats{StoreStats: st}
	if st.LastSpillError != nil {
		w.LastSpillError = st.LastSpillError.Error()
	}
	return w
}

// stats is w as exec.StoreStats, LastSpillError an error again.
func (w wireStats) stats() exec.StoreStats {
	st := w.StoreStats
	if w.LastSpillError != "" {
		st.LastSpillError = errors.New(w.LastSpillError)
	}
	return st
}

// DoGet streams the block the ticket names. An unknown id is
// codes.NotFound, a ticket that is not a decimal id codes.InvalidArgument.
func (s *ObjectService) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	id, err := parseTicket(t.GetTicket())
	if err != nil {
		return err
	}
	b, err := s.store.Get(stream.Context(), exec.ObjectRef{ID: id})
	if err != nil {
		return storeError(id, err)
	}
	defer b.Release()
	return writeBlock(serverSender(stream), b, nil)
}

func parseTicket(t []byte) (exec.ObjectID, error) {
	id, err := strconv.ParseUint(string(t), 10, 64)
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "shoal: ticket %.40q is not an object id", t)
	}
	return exec.ObjectID(id), nil
}

// storeError turns a store's error into a status.
func storeError(id exec.ObjectID, err error) error {
	switch {
	case errors.Is(err, exec.ErrClosed):
		return status.Errorf(codes.Unavailable, "shoal: object %d: %v", id, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case isNotFound(err):
		return status.Errorf(codes.NotFound, "shoal: object %d not found", id)
	}
	return status.Errorf(codes.Internal, "shoal: object %d: %v", id, err)
}

// isNotFound reports whether a store's Get failed for an unknown id. The
// store has no sentinel for it: the message is all there is.
func isNotFound(err error) bool {
	return strings.Contains(err.Error(), "not in store")
}

// blockSender sends one message of a Flight data stream: an *outData where the
// stream runs flightCodec, a *flight.FlightData elsewhere.
type blockSender func(*outData) error

// serverSender sends on a server stream, through flightCodec where
// ServeObjects installed it.
func serverSender(stream grpc.ServerStream) blockSender {
	if stream.Context().Value(flightCodecKey{}) != nil {
		return func(d *outData) error { return stream.SendMsg(d) }
	}
	return func(d *outData) error { return stream.SendMsg(d.flightData()) }
}

// writeBlock streams b as one Flight stream: the schema (carrying descr if
// set), then slices of at most about maxBatchBytes.
func writeBlock(send blockSender, b arrow.RecordBatch, descr *flight.FlightDescriptor) error {
	pw := &payloadSender{send: send, descr: descr, appMeta: planOf(b)}
	// The encoder's own buffers (bitmaps and offsets of slices) come from a
	// Go allocator: they may still be on their way to the socket when the
	// encoder releases them, and the garbage collector keeps them alive.
	w := ipc.NewWriterWithPayloadWriter(pw, ipc.WithSchema(b.Schema()), ipc.WithAllocator(memory.NewGoAllocator()))
	rows := batchRows(b)
	for i := int64(0); i < b.NumRows(); i += rows {
		s := b.NewSlice(i, min(i+rows, b.NumRows()))
		pw.hold = s
		err := w.Write(s)
		pw.hold = nil
		s.Release()
		if err != nil {
			w.Close()
			return err
		}
	}
	return w.Close() // writes the schema if no batch did
}

// batchRows is how many rows of b make a batch of about maxBatchBytes.
func batchRows(b arrow.RecordBatch) int64 {
	rows, size := b.NumRows(), blocks.Size(b)
	if rows == 0 || size <= maxBatchBytes {
		return max(rows, 1)
	}
	n := (size + maxBatchBytes - 1) / maxBatchBytes
	per := (rows + n - 1) / n
	// A multiple of 64 rows keeps the slices' validity bitmaps byte aligned.
	if per > 64 {
		per = per / 64 * 64
	}
	return per
}

// payloadSender is the ipc writer's sink: it turns each IPC payload into one
// message, whose body refers to the batch's buffers rather than a copy.
type payloadSender struct {
	send    blockSender
	descr   *flight.FlightDescriptor // for the first message only
	appMeta []byte                   // for the first message only
	hold    arrow.RecordBatch        // the batch being written
}

func (p *payloadSender) Start() error { return nil }
func (p *payloadSender) Close() error { return nil }

func (p *payloadSender) WritePayload(payload ipc.Payload) error {
	meta := payload.Meta()
	d := &outData{descr: p.descr, appMeta: p.appMeta, header: append([]byte(nil), meta.Bytes()...)}
	meta.Release()
	p.descr, p.appMeta = nil, nil
	if err := payload.SerializeBody((*gatherWriter)(&d.body)); err != nil {
		return err
	}
	if p.hold != nil {
		p.hold.Retain()
		d.hold = p.hold
	}
	err := p.send(d)
	if !d.taken && d.hold != nil {
		d.hold.Release() // the message was copied, or never encoded
	}
	return err
}

// gatherWriter is an io.Writer that keeps the slices written to it.
type gatherWriter [][]byte

func (g *gatherWriter) Write(p []byte) (int, error) {
	*g = append(*g, p)
	return len(p), nil
}

// readBlock reads one Flight stream into one block: the batches,
// concatenated with mem if several. check, if set, vets the stream's
// FlightDescriptor before the batches are read. Errors are statuses: a
// stream that is not Arrow IPC is codes.InvalidArgument; the stream's own
// failures keep their code.
func readBlock(recv blockReceiver, mem memory.Allocator, check func(*flight.FlightDescriptor) error) (b arrow.RecordBatch, err error) {
	var batches []arrow.RecordBatch
	defer func() {
		for _, r := range batches {
			r.Release()
		}
		if v := recover(); v != nil {
			if b != nil {
				b.Release()
			}
			b, err = nil, status.Errorf(codes.InvalidArgument, "shoal: malformed Arrow stream: %v", v)
		}
	}()
	mr := &messageReader{recv: recv}
	mr.refs.Add(1)
	rdr, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(mem))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, status.Error(codes.InvalidArgument, "shoal: empty stream: no schema")
		}
		return nil, streamError(err)
	}
	defer rdr.Release()
	if check != nil {
		if err := check(mr.descr); err != nil {
			return nil, err
		}
	}
	if asm := newAssembler(rdr.Schema(), mr.meta, mem); asm != nil {
		defer asm.release()
		for {
			d, err := recv(asm)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, streamError(err)
			}
			d.release()
			if len(d.header) > 0 && !d.assembled {
				return nil, status.Error(codes.InvalidArgument, "shoal: unexpected IPC message")
			}
		}
		b, err := asm.finish()
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "%v", err)
		}
		return b, nil
	}
	for rdr.Next() {
		r := rdr.RecordBatch()
		r.Retain()
		batches = append(batches, r)
	}
	if err := rdr.Err(); err != nil {
		return nil, streamError(err)
	}
	if len(batches) == 0 {
		return blocks.Empty(mem, rdr.Schema()), nil
	}
	b, err = blocks.Concat(mem, batches)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "shoal: %v", err)
	}
	return b, nil
}

// streamError keeps the status of a failed stream (a cancelled call, a
// refused message) and makes anything else, a decoding error, InvalidArgument.
func streamError(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}
	return status.Errorf(codes.InvalidArgument, "shoal: malformed Arrow stream: %v", err)
}

// DoPut stores the block the client streams and answers its id, rows and
// bytes. Nothing is stored when the stream is malformed.
func (s *ObjectService) DoPut(stream flight.FlightService_DoPutServer) error {
	var cmd putCmd
	b, err := readBlock(serverReceiver(stream, s.alloc()), s.alloc(), func(d *flight.FlightDescriptor) error {
		if d == nil || d.GetType() != flight.DescriptorCMD {
			return status.Error(codes.InvalidArgument, `shoal: DoPut needs a CMD descriptor {"producer": "..."}`)
		}
		if err := json.Unmarshal(d.GetCmd(), &cmd); err != nil {
			return status.Errorf(codes.InvalidArgument, "shoal: DoPut descriptor: %v", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Release()
	ref, err := s.store.Put(b, cmd.Producer)
	if errors.Is(err, exec.ErrClosed) {
		return status.Errorf(codes.Unavailable, "shoal: put: %v", err)
	} else if err != nil {
		return status.Errorf(codes.Internal, "shoal: put: %v", err)
	}
	meta, _ := json.Marshal(putResult{ID: ref.ID, Rows: ref.Rows, Bytes: ref.Bytes})
	if err := stream.Send(&flight.PutResult{AppMetadata: meta}); err != nil {
		s.store.Release(ref) // the client cannot know the id: nothing is stored
		return err
	}
	s.Own(ref.ID, cmd.Job)
	return nil
}

// DoAction runs "release" and "stats"; other types are
// codes.Unimplemented.
func (s *ObjectService) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	switch a.GetType() {
	case ActionRelease:
		var body releaseBody
		if err := json.Unmarshal(a.GetBody(), &body); err != nil || (body.ID == nil && len(body.IDs) == 0) {
			return status.Errorf(codes.InvalidArgument, `shoal: release wants {"id": n} or {"ids": [n, ...]}, got %.60q`, a.GetBody())
		}
		if body.ID != nil {
			return s.release(stream.Context(), *body.ID)
		}
		// A batch frees what it can: an id already gone stops nothing.
		var first error
		for _, id := range body.IDs {
			if err := s.release(stream.Context(), id); err != nil && first == nil && status.Code(err) != codes.NotFound {
				first = err
			}
		}
		return first
	case actionJobEnded:
		var body jobEndedBody
		if err := decodeBody(a.GetType(), a.GetBody(), &body); err != nil {
			return err
		}
		s.ReleaseJob(body.Job)
		return stream.Send(&flight.Result{Body: []byte("{}")})
	case ActionStats:
		body, err := json.Marshal(toWireStats(s.store.Stats()))
		if err != nil {
			return status.Errorf(codes.Internal, "shoal: stats: %v", err)
		}
		return stream.Send(&flight.Result{Body: body})
	}
	return status.Errorf(codes.Unimplemented, "shoal: unknown action type %q", a.GetType())
}

// release drops one reference to id. The store's Release ignores unknown
// ids, so the object is looked up first (which reads a spilled block back).
func (s *ObjectService) release(ctx context.Context, id exec.ObjectID) error {
	ref := exec.ObjectRef{ID: id}
	b, err := s.store.Get(ctx, ref)
	if err != nil {
		return storeError(id, err)
	}
	b.Release()
	s.store.Release(ref)
	s.disown(id)
	return nil
}

// ObjectClient talks to one node's ObjectService. It is safe for concurrent
// use.
type ObjectClient struct {
	addr string
	conn *grpc.ClientConn
	fc   flight.FlightServiceClient

	// ensure serializes EnsureBinary (a lock a context can give up on);
	// binaries holds the hashes the node is known to have.
	ensure   chan struct{}
	binaries sync.Map

	// job owns the blocks this client puts (SetJob).
	job string

	// gate cuts every call once the server is given up (Abandon).
	gate *abandonGate
}

// SetJob makes the blocks this client puts, and the tasks and actors it
// starts, belong to job: when the job ends (its driver closes or dies),
// the nodes free what is left of them. Call it before the first use.
func (c *ObjectClient) SetJob(job string) { c.job = job }

// DialObjects connects to the object service at addr with the cluster's
// token. The connection is made lazily, on the first call.
func DialObjects(addr, token string) (*ObjectClient, error) {
	gate := newAbandonGate()
	conn, err := dial(addr, token, ProtocolVersion, gate.dialOptions()...)
	if err != nil {
		return nil, err
	}
	return &ObjectClient{addr: addr, conn: conn, fc: flight.NewFlightServiceClient(conn), ensure: make(chan struct{}, 1), gate: gate}, nil
}

// Abandon gives the server up (its node was declared dead, or stopped
// answering): every call in flight on this client ends now, and every
// later one fails at once, with codes.Unavailable and why. Abandoning
// twice keeps the first reason.
func (c *ObjectClient) Abandon(why error) { c.gate.abandon(why) }

// Put stores b on the node under producer and returns a reference counted
// once there. b stays the caller's.
func (c *ObjectClient) Put(ctx context.Context, b arrow.RecordBatch, producer string) (exec.ObjectRef, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd, err := json.Marshal(putCmd{Producer: producer, Job: c.job})
	if err != nil {
		return exec.ObjectRef{}, err
	}
	stream, err := c.fc.DoPut(ctx, grpc.ForceCodecV2(flightCodec{}))
	if err != nil {
		return exec.ObjectRef{}, c.errorf(err, "put")
	}
	err = writeBlock(func(d *outData) error { return stream.SendMsg(d) }, b, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: cmd})
	if err == nil || errors.Is(err, io.EOF) {
		// io.EOF: the server ended the call; Recv says why.
		err = stream.CloseSend()
	}
	if err != nil {
		return exec.ObjectRef{}, c.errorf(err, "put")
	}
	res, err := stream.Recv()
	if err != nil {
		return exec.ObjectRef{}, c.errorf(err, "put")
	}
	var pr putResult
	if err := json.Unmarshal(res.GetAppMetadata(), &pr); err != nil {
		return exec.ObjectRef{}, fmt.Errorf("cluster: put to %s: bad reply: %w", c.addr, err)
	}
	ref := exec.ObjectRef{ID: pr.ID, Meta: blocks.Meta{Rows: pr.Rows, Bytes: pr.Bytes, Schema: b.Schema()}, Producer: producer}
	for {
		if _, err := stream.Recv(); err != nil {
			if !errors.Is(err, io.EOF) {
				return ref, c.errorf(err, "put")
			}
			return ref, nil
		}
	}
}

// Get fetches the block id names, its buffers allocated with mem. The
// caller owns the result and must Release it.
func (c *ObjectClient) Get(ctx context.Context, id exec.ObjectID, mem memory.Allocator) (arrow.RecordBatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.fc.DoGet(ctx, &flight.Ticket{Ticket: []byte(strconv.FormatUint(uint64(id), 10))}, grpc.ForceCodecV2(flightCodec{}))
	if err != nil {
		return nil, c.errorf(err, "get object %d", id)
	}
	b, err := readBlock(codecReceiver(stream, mem), mem, nil)
	if err != nil {
		return nil, c.errorf(err, "get object %d", id)
	}
	return b, nil
}

// ReleaseMany drops one reference to each of ids on the node, in one call.
func (c *ObjectClient) ReleaseMany(ctx context.Context, ids []exec.ObjectID) error {
	if len(ids) == 1 {
		return c.Release(ctx, ids[0])
	}
	body, _ := json.Marshal(releaseBody{IDs: ids})
	if _, err := c.action(ctx, ActionRelease, body); err != nil {
		return c.errorf(err, "release %d objects", len(ids))
	}
	return nil
}

// Release drops one reference to id on the node.
func (c *ObjectClient) Release(ctx context.Context, id exec.ObjectID) error {
	body, _ := json.Marshal(releaseBody{ID: &id})
	if _, err := c.action(ctx, ActionRelease, body); err != nil {
		return c.errorf(err, "release object %d", id)
	}
	return nil
}

// Stats reports the node's store counters.
func (c *ObjectClient) Stats(ctx context.Context) (exec.StoreStats, error) {
	res, err := c.action(ctx, ActionStats, nil)
	if err != nil {
		return exec.StoreStats{}, c.errorf(err, "stats")
	}
	if len(res) != 1 {
		return exec.StoreStats{}, fmt.Errorf("cluster: stats from %s: %d results, want 1", c.addr, len(res))
	}
	var w wireStats
	if err := json.Unmarshal(res[0], &w); err != nil {
		return exec.StoreStats{}, fmt.Errorf("cluster: stats from %s: %w", c.addr, err)
	}
	return w.stats(), nil
}

// action runs one DoAction and returns the bodies of its results.
func (c *ObjectClient) action(ctx context.Context, typ string, body []byte) ([][]byte, error) {
	return doAction(ctx, c.fc, typ, body)
}

// doAction runs one DoAction on fc and returns the bodies of its results,
// all of them read (the stream ends with the call).
func doAction(ctx context.Context, fc flight.FlightServiceClient, typ string, body []byte) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := fc.DoAction(ctx, &flight.Action{Type: typ, Body: body})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.GetBody())
	}
}

// errorf wraps err (a status, whose code stays readable with status.Code)
// with the call and the node's address.
func (c *ObjectClient) errorf(err error, format string, args ...any) error {
	return fmt.Errorf("cluster: %s on %s: %w", fmt.Sprintf(format, args...), c.addr, err)
}

// Close closes the connection.
func (c *ObjectClient) Close() error {
	return c.conn.Close()
}

// ServeObjects serves svc with gRPC on lis, with the cluster's token and
// this build's protocol version, until the returned stop is called. stop
// stops the server gracefully (calls in flight finish) and waits for it;
// it closes lis and may be called more than once.
//
// The server runs flightCodec, and writes to the socket in 512 KiB rather
// than gRPC's 32 KiB: fewer system calls for the blocks it streams.
func ServeObjects(lis net.Listener, svc *ObjectService, token string) (stop func()) {
	return serveFlight(lis, svc, token)
}

// serveFlight is ServeObjects for any Flight service whose DoGet and DoPut
// are an ObjectService's (a node's, which adds actions).
func serveFlight(lis net.Listener, svc flight.FlightServer, token string) (stop func()) {
	srv := newFlightServer(svc, token)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis) // returns nil after GracefulStop; otherwise lis failed
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			srv.GracefulStop()
			<-done
		})
	}
}

// newFlightServer is the gRPC server of a Flight service whose DoGet and
// DoPut are an ObjectService's (a node's, a worker's), not yet serving:
// the cluster's token and version checked, flightCodec, large writes and
// the health service.
func newFlightServer(svc flight.FlightServer, token string) *grpc.Server {
	opts := append(serverOptions(token, ProtocolVersion),
		grpc.ForceServerCodecV2(flightCodec{}),
		grpc.WriteBufferSize(512<<10),
		grpc.ChainStreamInterceptor(markFlightCodec))
	srv := grpc.NewServer(opts...)
	flight.RegisterFlightServiceServer(srv, svc)
	serveHealth(srv)
	return srv
}

// The data plane's codec.
//
// gRPC's protobuf codec copies a FlightData body twice on each side: into
// the encoded message and out of it. flightCodec encodes a message (an
// *outData) as the protobuf header fields followed by the batch's own
// buffers, which gRPC writes to the socket before releasing the batch, and
// decodes one (into an *inData) by copying the body once, from gRPC's
// receive buffers into memory from the reader's allocator. The bytes on the
// wire are those of FlightData: either side may run the stock codec. Other
// messages go through the protobuf codec.

// flightCodec is the gRPC codec of the object service.
type flightCodec struct{}

// Name is "proto": the messages are protobuf, and peers pick their codec by
// this name.
func (flightCodec) Name() string { return "proto" }

var protoCodec = encoding.GetCodecV2(protoenc.Name)

// Marshal encodes an *outData without copying its body's large buffers, and
// anything else with the protobuf codec.
func (flightCodec) Marshal(v any) (grpcmem.BufferSlice, error) {
	d, ok := v.(*outData)
	if !ok {
		return protoCodec.Marshal(v)
	}
	return d.marshal()
}

// Unmarshal decodes into an *inData, and anything else with the protobuf
// codec. A malformed *inData is d.err, not an error: gRPC would end the call
// with codes.Internal for it, and the receiver makes it InvalidArgument.
func (flightCodec) Unmarshal(data grpcmem.BufferSlice, v any) error {
	d, ok := v.(*inData)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	if err := d.unmarshal(data); err != nil {
		d.release()
		d.err = err
	}
	return nil
}

// FlightData's fields (Flight.proto).
const (
	fieldDescriptor  protowire.Number = 1
	fieldDataHeader  protowire.Number = 2
	fieldAppMetadata protowire.Number = 3
	fieldDataBody    protowire.Number = 1000
)

// inlineBytes: body buffers up to this size are copied into the message
// rather than referred to.
const inlineBytes = 64 << 10

// outData is a FlightData to send: the IPC header and the body as the
// slices the IPC encoder wrote, which refer to hold's buffers (or to the
// encoder's own, which the garbage collector keeps).
type outData struct {
	descr   *flight.FlightDescriptor
	header  []byte
	appMeta []byte
	body    [][]byte
	// hold is the batch the body refers to, retained until gRPC has written
	// the body out: the codec takes it over (taken) when it encodes the
	// message.
	hold  arrow.RecordBatch
	taken bool
}

// flightData is d as a plain FlightData, its body copied.
func (d *outData) flightData() *flight.FlightData {
	var body []byte
	for _, p := range d.body {
		body = append(body, p...)
	}
	return &flight.FlightData{FlightDescriptor: d.descr, DataHeader: d.header, AppMetadata: d.appMeta, DataBody: body}
}

func (d *outData) marshal() (grpcmem.BufferSlice, error) {
	var prefix []byte
	if d.descr != nil {
		b, err := proto.Marshal(d.descr)
		if err != nil {
			return nil, err
		}
		prefix = protowire.AppendTag(prefix, fieldDescriptor, protowire.BytesType)
		prefix = protowire.AppendBytes(prefix, b)
	}
	if len(d.header) > 0 {
		prefix = protowire.AppendTag(prefix, fieldDataHeader, protowire.BytesType)
		prefix = protowire.AppendBytes(prefix, d.header)
	}
	if len(d.appMeta) > 0 {
		prefix = protowire.AppendTag(prefix, fieldAppMetadata, protowire.BytesType)
		prefix = protowire.AppendBytes(prefix, d.appMeta)
	}
	n := 0
	for _, p := range d.body {
		n += len(p)
	}
	if n > 0 {
		prefix = protowire.AppendTag(prefix, fieldDataBody, protowire.BytesType)
		prefix = protowire.AppendVarint(prefix, uint64(n))
	}
	// Small buffers (and all of them when nothing holds their memory) are
	// copied after the prefix; large ones are sent from where they are.
	var pool *holdPool
	if d.hold != nil {
		pool = newHoldPool(d.hold)
		d.taken = true
	}
	var out grpcmem.BufferSlice
	cur := prefix
	for _, p := range d.body {
		if len(p) <= inlineBytes || pool == nil {
			cur = append(cur, p...)
			continue
		}
		if len(cur) > 0 {
			out = append(out, grpcmem.SliceBuffer(cur))
			cur = nil
		}
		pool.h.refs.Add(1)
		out = append(out, grpcmem.NewBuffer(&p, pool))
	}
	if len(cur) > 0 || len(out) == 0 {
		out = append(out, grpcmem.SliceBuffer(cur))
	}
	if pool != nil {
		pool.Put(nil) // the encoder's own reference
	}
	return out, nil
}

// holdPool is the "pool" of the large body buffers of one message: gRPC
// frees (Puts) each once it is written, and the last releases the batch
// they belong to. gRPC drops the buffers of a cancelled stream without
// freeing them all; the batch is then released once the garbage collector
// finds the pool unreachable, which it is when no buffer refers to it.
type holdPool struct{ h *batchHold }

type batchHold struct {
	refs atomic.Int32
	rec  arrow.RecordBatch
	once sync.Once
}

func (h *batchHold) release() { h.once.Do(h.rec.Release) }

// newHoldPool returns a pool holding rec (one reference, the caller's), with
// one reference of its own for the encoder.
func newHoldPool(rec arrow.RecordBatch) *holdPool {
	h := &batchHold{rec: rec}
	h.refs.Store(1)
	p := &holdPool{h}
	runtime.AddCleanup(p, (*batchHold).release, h)
	return p
}

// Get is never called: the buffers are not pooled.
func (p *holdPool) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

// Put drops one buffer's reference.
func (p *holdPool) Put(*[]byte) {
	if p.h.refs.Add(-1) == 0 {
		p.h.release()
	}
}

// inData is a received FlightData, its body allocated with mem, or copied
// into the block asm assembles.
type inData struct {
	mem       memory.Allocator
	asm       *assembler
	descr     *flight.FlightDescriptor
	header    []byte
	appMeta   []byte
	body      *memory.Buffer // nil when empty or assembled; the receiver releases it
	assembled bool           // the batch went to asm
	err       error          // why decoding failed (then nothing else is set)
}

func (d *inData) unmarshal(data grpcmem.BufferSlice) error {
	r := data.Reader()
	defer r.Close()
	bytesField := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Remaining()) {
			return nil, errors.New("shoal: truncated FlightData field")
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for r.Remaining() > 0 {
		tag, err := binary.ReadUvarint(r)
		if err != nil {
			return errors.New("shoal: malformed FlightData tag")
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		switch {
		case typ == protowire.BytesType && num == fieldDataBody:
			n, err := binary.ReadUvarint(r)
			if err != nil || n > uint64(r.Remaining()) {
				return errors.New("shoal: truncated FlightData body")
			}
			if d.asm != nil && len(d.header) > 0 {
				if err := d.asm.batch(d.header, r, int64(n)); err != nil {
					return err
				}
				d.assembled = true
				continue
			}
			buf := memory.NewResizableBuffer(d.mem)
			buf.Resize(int(n))
			if _, err := io.ReadFull(r, buf.Bytes()); err != nil {
				buf.Release()
				return err
			}
			if d.body != nil {
				d.body.Release()
			}
			d.body = buf
		case typ == protowire.BytesType:
			b, err := bytesField()
			if err != nil {
				return err
			}
			switch num {
			case fieldDescriptor:
				d.descr = new(flight.FlightDescriptor)
				if err := proto.Unmarshal(b, d.descr); err != nil {
					return fmt.Errorf("shoal: FlightDescriptor: %w", err)
				}
			case fieldDataHeader:
				d.header = b
			case fieldAppMetadata:
				d.appMeta = b
			}
		case typ == protowire.VarintType:
			if _, err := binary.ReadUvarint(r); err != nil {
				return errors.New("shoal: truncated FlightData field")
			}
		case typ == protowire.Fixed64Type, typ == protowire.Fixed32Type:
			n := 8
			if typ == protowire.Fixed32Type {
				n = 4
			}
			if k, _ := r.Discard(n); k != n {
				return errors.New("shoal: truncated FlightData field")
			}
		default:
			return fmt.Errorf("shoal: FlightData field %d has wire type %d", num, typ)
		}
	}
	if d.asm != nil && len(d.header) > 0 && !d.assembled {
		if d.body != nil {
			return errors.New("shoal: FlightData body before its header")
		}
		if err := d.asm.batch(d.header, &bytesSource{}, 0); err != nil {
			return err
		}
		d.assembled = true
	}
	return nil
}

// release frees the body of a message that was dropped or failed.
func (d *inData) release() {
	if d.body != nil {
		d.body.Release()
		d.body = nil
	}
}

// blockReceiver returns the next message of a Flight data stream, io.EOF at its
// end. The caller owns the message's body. With asm, a record batch goes
// into the block asm assembles.
type blockReceiver func(asm *assembler) (*inData, error)

// recvStream is the receiving side of a gRPC stream.
type recvStream interface{ RecvMsg(any) error }

// codecReceiver receives through flightCodec, with mem.
func codecReceiver(stream recvStream, mem memory.Allocator) blockReceiver {
	return func(asm *assembler) (*inData, error) {
		d := &inData{mem: mem, asm: asm}
		if err := stream.RecvMsg(d); err != nil {
			return nil, err
		}
		if d.err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "shoal: %v", d.err)
		}
		return d, nil
	}
}

// serverReceiver receives on a server stream, through flightCodec where
// ServeObjects installed it (the body then comes from mem).
func serverReceiver(stream grpc.ServerStream, mem memory.Allocator) blockReceiver {
	if stream.Context().Value(flightCodecKey{}) != nil {
		return codecReceiver(stream, mem)
	}
	return func(asm *assembler) (*inData, error) {
		var fd flight.FlightData
		if err := stream.RecvMsg(&fd); err != nil {
			return nil, err
		}
		d := &inData{descr: fd.FlightDescriptor, header: fd.DataHeader, appMeta: fd.AppMetadata}
		if asm != nil && len(fd.DataHeader) > 0 {
			if err := asm.batch(fd.DataHeader, &bytesSource{fd.DataBody}, int64(len(fd.DataBody))); err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "shoal: %v", err)
			}
			d.assembled = true
		} else if len(fd.DataBody) > 0 {
			d.body = memory.NewBufferBytes(fd.DataBody)
		}
		return d, nil
	}
}

// messageReader feeds a Flight data stream to an IPC reader.
type messageReader struct {
	recv  blockReceiver
	refs  atomic.Int64
	msg   *ipc.Message // the latest, valid until the next
	descr *flight.FlightDescriptor
	meta  []byte // AppMetadata of the first IPC message (the schema)
	seen  bool   // an IPC message came
}

// Message returns the next IPC message, skipping messages without one
// (metadata only).
func (m *messageReader) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	for {
		d, err := m.recv(nil)
		if err != nil {
			return nil, err
		}
		if m.descr == nil {
			m.descr = d.descr
		}
		if len(d.header) == 0 {
			d.release()
			continue
		}
		if !m.seen {
			m.seen, m.meta = true, d.appMeta
		}
		if len(d.header) < 8 {
			d.release()
			return nil, fmt.Errorf("shoal: IPC header of %d bytes", len(d.header))
		}
		body := d.body
		if body == nil {
			body = memory.NewBufferBytes(nil)
		}
		msg, err := newMessage(d.header, body)
		body.Release() // the message holds it
		if err != nil {
			return nil, err
		}
		m.msg = msg
		return msg, nil
	}
}

// newMessage makes an IPC message of header and body, and checks that the
// body is as long as the header says: the IPC reader panics halfway through
// a batch whose buffers lie past the body, leaking references to it.
func newMessage(header []byte, body *memory.Buffer) (_ *ipc.Message, err error) {
	msg := ipc.NewMessage(memory.NewBufferBytes(header), body)
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("shoal: malformed IPC header: %v", v)
		}
		if err != nil {
			msg.Release()
		}
	}()
	if n := msg.BodyLen(); n < 0 || n > int64(body.Len()) {
		return nil, fmt.Errorf("shoal: IPC message of %d body bytes, header says %d", body.Len(), n)
	}
	return msg, nil
}

// Retain adds a reference.
func (m *messageReader) Retain() { m.refs.Add(1) }

// Release drops a reference, and the latest message with the last.
func (m *messageReader) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// flightCodecKey marks the context of streams served with flightCodec.
type flightCodecKey struct{}

type codecMarkedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s codecMarkedStream) Context() context.Context { return s.ctx }

// markFlightCodec tells handlers that the server runs flightCodec.
func markFlightCodec(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, codecMarkedStream{ss, context.WithValue(ss.Context(), flightCodecKey{}, true)})
}

// Assembling a block as it arrives.
//
// A block larger than a batch comes as several batches, and concatenating
// them copies it once more after it has arrived. Where the sender announces
// the block's size (a blockPlan, as JSON AppMetadata of the schema message)
// and every column is flat (fixed width, boolean, binary or string), the
// receiver allocates the block's buffers up front and the codec copies each
// batch's buffers from gRPC's receive buffers straight to their place in
// them. Other streams are read batch by batch and concatenated.

// maxAssembleBytes bounds the buffers a plan makes the receiver allocate
// before any batch arrives. A larger block is read batch by batch.
const maxAssembleBytes = 4 << 30

// blockPlan is the size of the block a stream carries.
type blockPlan struct {
	Rows int64 `json:"rows"`
	// Data is the bytes of the values of each binary or string column (0
	// for other columns).
	Data []int64 `json:"data"`
}

// planOf is the plan of b, as JSON.
func planOf(b arrow.RecordBatch) []byte {
	p := blockPlan{Rows: b.NumRows(), Data: make([]int64, b.NumCols())}
	for i, c := range b.Columns() {
		switch c := c.(type) {
		case interface{ ValueOffsets() []int32 }:
			if o := c.ValueOffsets(); len(o) > 0 {
				p.Data[i] = int64(o[len(o)-1] - o[0])
			}
		case interface{ ValueOffsets() []int64 }:
			if o := c.ValueOffsets(); len(o) > 0 {
				p.Data[i] = o[len(o)-1] - o[0]
			}
		}
	}
	out, _ := json.Marshal(p)
	return out
}

// Column layouts the assembler handles.
const (
	layoutFixed = iota
	layoutBool
	layoutBinary32
	layoutBinary64
)

// columnLayout is how the assembler lays out a column of type t, false if
// it cannot.
func columnLayout(t arrow.DataType) (layout, width int, ok bool) {
	switch t.ID() {
	case arrow.BOOL:
		return layoutBool, 0, true
	case arrow.STRING, arrow.BINARY:
		return layoutBinary32, 4, true
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return layoutBinary64, 8, true
	case arrow.DICTIONARY, arrow.EXTENSION:
		return 0, 0, false
	}
	l := t.Layout()
	if len(l.Buffers) == 2 && l.VariadicSpec == nil && l.Buffers[0].Kind == arrow.KindBitmap &&
		l.Buffers[1].Kind == arrow.KindFixedWidth && l.Buffers[1].ByteWidth > 0 {
		return layoutFixed, l.Buffers[1].ByteWidth, true
	}
	return 0, 0, false
}

// assembler builds a block from the batches of a stream.
type assembler struct {
	mem    memory.Allocator
	schema *arrow.Schema
	rows   int64 // planned
	at     int64 // rows so far
	cols   []columnAsm
	tmp    []byte
}

type columnAsm struct {
	layout, width int
	validity      *memory.Buffer // made at the first batch with nulls
	values        *memory.Buffer // values, bits or offsets
	data          *memory.Buffer // binary values
	dataAt        int64
	nulls         int64
}

// newAssembler returns an assembler for a stream of schema whose schema
// message carried meta, or nil if the stream is to be read batch by batch.
func newAssembler(schema *arrow.Schema, meta []byte, mem memory.Allocator) *assembler {
	var p blockPlan
	if len(meta) == 0 || json.Unmarshal(meta, &p) != nil || p.Rows < 0 || len(p.Data) != schema.NumFields() {
		return nil
	}
	if p.Rows > maxAssembleBytes {
		return nil
	}
	a := &assembler{mem: mem, schema: schema, rows: p.Rows, cols: make([]columnAsm, schema.NumFields())}
	var planned int64
	for i, f := range schema.Fields() {
		layout, width, ok := columnLayout(f.Type)
		if !ok || p.Data[i] < 0 || p.Data[i] > maxAssembleBytes || (p.Data[i] > 0 && layout < layoutBinary32) {
			return nil
		}
		a.cols[i] = columnAsm{layout: layout, width: width}
		planned += p.Rows*int64(max(width, 1)) + p.Data[i]
	}
	if planned > maxAssembleBytes {
		return nil
	}
	// Buffers are made only once the plan is known to fit the schema.
	for i := range a.cols {
		c := &a.cols[i]
		switch c.layout {
		case layoutFixed:
			c.values = a.alloc(p.Rows * int64(c.width))
		case layoutBool:
			c.values = a.alloc(bitutil.BytesForBits(p.Rows))
		default:
			c.values = a.alloc((p.Rows + 1) * int64(c.width)) // zeroed: offset 0 is 0
			c.data = a.alloc(p.Data[i])
		}
	}
	return a
}

func (a *assembler) alloc(n int64) *memory.Buffer {
	b := memory.NewResizableBuffer(a.mem)
	b.Resize(int(n))
	return b
}

// release frees the buffers of an assembly that did not finish.
func (a *assembler) release() {
	for i := range a.cols {
		c := &a.cols[i]
		for _, b := range []*memory.Buffer{c.validity, c.values, c.data} {
			if b != nil {
				b.Release()
			}
		}
		*c = columnAsm{}
	}
}

// bodySource is a message body being read.
type bodySource interface {
	io.Reader
	Discard(n int) (int, error)
}

// bytesSource is a body already in memory.
type bytesSource struct{ b []byte }

func (s *bytesSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func (s *bytesSource) Discard(n int) (int, error) {
	n = min(n, len(s.b))
	s.b = s.b[n:]
	return n, nil
}

var errTruncatedBody = errors.New("shoal: truncated IPC body")

// batch copies the batch of an IPC header and its body of n bytes, read
// from src, into the block. It reads the whole body.
func (a *assembler) batch(header []byte, src bodySource, n int64) error {
	rb, err := parseRecordBatch(header)
	if err != nil {
		return err
	}
	if rb.bodyLength > n {
		return fmt.Errorf("shoal: IPC message of %d body bytes, header says %d", n, rb.bodyLength)
	}
	rows := rb.length
	if rows < 0 || rows > a.rows-a.at {
		return fmt.Errorf("shoal: batch of %d rows past the block's %d", rows, a.rows)
	}
	if len(rb.nodes) != len(a.cols) {
		return fmt.Errorf("shoal: batch of %d columns, schema has %d", len(rb.nodes), len(a.cols))
	}
	bufs := rb.buffers
	var pos int64
	// next positions src at the next buffer and returns its length.
	next := func() (int64, error) {
		if len(bufs) == 0 {
			return 0, errors.New("shoal: IPC batch lacks buffers")
		}
		off, ln := bufs[0][0], bufs[0][1]
		bufs = bufs[1:]
		if off < pos || ln < 0 || off+ln > n {
			return 0, fmt.Errorf("shoal: IPC buffer [%d, +%d) out of order or past the body", off, ln)
		}
		if err := discardBody(src, off-pos); err != nil {
			return 0, err
		}
		pos = off
		return ln, nil
	}
	read := func(dst []byte) error {
		if _, err := io.ReadFull(src, dst); err != nil {
			return errTruncatedBody
		}
		pos += int64(len(dst))
		return nil
	}
	for i := range a.cols {
		c, node := &a.cols[i], rb.nodes[i]
		if node[0] != rows || node[1] < 0 || node[1] > rows {
			return fmt.Errorf("shoal: column %d: %d rows and %d nulls in a batch of %d", i, node[0], node[1], rows)
		}
		// Validity.
		ln, err := next()
		if err != nil {
			return err
		}
		switch {
		case node[1] > 0:
			if ln < bitutil.BytesForBits(rows) {
				return errTruncatedBody
			}
			if c.validity == nil {
				c.validity = a.alloc(bitutil.BytesForBits(a.rows))
				bitutil.SetBitsTo(c.validity.Bytes(), 0, a.at, true)
			}
			if err := a.readBits(c.validity.Bytes(), rows, read); err != nil {
				return err
			}
			c.nulls += node[1]
		case c.validity != nil:
			bitutil.SetBitsTo(c.validity.Bytes(), a.at, rows, true)
		}
		// Values.
		ln, err = next()
		if err != nil {
			return err
		}
		switch c.layout {
		case layoutFixed:
			w := int64(c.width)
			if ln < rows*w {
				return errTruncatedBody
			}
			if err := read(c.values.Bytes()[a.at*w : (a.at+rows)*w]); err != nil {
				return err
			}
		case layoutBool:
			if ln < bitutil.BytesForBits(rows) {
				return errTruncatedBody
			}
			if err := a.readBits(c.values.Bytes(), rows, read); err != nil {
				return err
			}
		default:
			w := int64(c.width)
			if ln < (rows+1)*w {
				return errTruncatedBody
			}
			first, last, err := a.readOffsets(c, rows, read)
			if err != nil {
				return err
			}
			ln, err = next()
			if err != nil {
				return err
			}
			if last > ln {
				return fmt.Errorf("shoal: column %d: offsets past the data", i)
			}
			if last-first > int64(c.data.Len())-c.dataAt {
				return fmt.Errorf("shoal: column %d: more data than planned", i)
			}
			if err := discardBody(src, first); err != nil {
				return err
			}
			pos += first
			if err := read(c.data.Bytes()[c.dataAt : c.dataAt+last-first]); err != nil {
				return err
			}
			c.dataAt += last - first
		}
	}
	if len(bufs) != 0 {
		return fmt.Errorf("shoal: IPC batch has %d buffers too many", len(bufs))
	}
	a.at += rows
	return discardBody(src, n-pos)
}

// readBits reads the bitmap of a batch of rows into dst at the block's row.
func (a *assembler) readBits(dst []byte, rows int64, read func([]byte) error) error {
	nb := bitutil.BytesForBits(rows)
	if a.at%8 == 0 {
		return read(dst[a.at/8 : a.at/8+nb])
	}
	tmp := a.scratch(nb)
	if err := read(tmp); err != nil {
		return err
	}
	bitutil.CopyBitmap(tmp, 0, int(rows), dst, int(a.at))
	return nil
}

// readOffsets reads the offsets of a batch of a binary column, rebased to
// where its data goes in the block, and returns the batch's first and last
// offset.
func (a *assembler) readOffsets(c *columnAsm, rows int64, read func([]byte) error) (first, last int64, err error) {
	w := int64(c.width)
	tmp := a.scratch((rows + 1) * w)
	if err := read(tmp); err != nil {
		return 0, 0, err
	}
	dst := c.values.Bytes()[(a.at+1)*w : (a.at+rows+1)*w]
	get := func(b []byte, i int64) int64 {
		if w == 4 {
			return int64(int32(binary.LittleEndian.Uint32(b[i*4:])))
		}
		return int64(binary.LittleEndian.Uint64(b[i*8:]))
	}
	first, prev := get(tmp, 0), get(tmp, 0)
	if first < 0 {
		return 0, 0, errors.New("shoal: negative offset")
	}
	for i := int64(1); i <= rows; i++ {
		o := get(tmp, i)
		if o < prev {
			return 0, 0, errors.New("shoal: offsets decrease")
		}
		prev = o
		v := c.dataAt + o - first
		if w == 4 {
			if v > math.MaxInt32 {
				return 0, 0, errors.New("shoal: offsets overflow")
			}
			binary.LittleEndian.PutUint32(dst[(i-1)*4:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(dst[(i-1)*8:], uint64(v))
		}
	}
	return first, prev, nil
}

func (a *assembler) scratch(n int64) []byte {
	if int64(cap(a.tmp)) < n {
		a.tmp = make([]byte, n)
	}
	return a.tmp[:n]
}

func discardBody(src bodySource, n int64) error {
	if n < 0 {
		return errTruncatedBody
	}
	if k, _ := src.Discard(int(n)); int64(k) != n {
		return errTruncatedBody
	}
	return nil
}

// finish returns the block, once every planned row has arrived.
func (a *assembler) finish() (arrow.RecordBatch, error) {
	if a.at != a.rows {
		return nil, fmt.Errorf("shoal: stream ended after %d of %d rows", a.at, a.rows)
	}
	cols := make([]arrow.Array, len(a.cols))
	for i := range a.cols {
		c := &a.cols[i]
		bufs := []*memory.Buffer{c.validity, c.values}
		if c.data != nil {
			c.data.Resize(int(c.dataAt))
			bufs = append(bufs, c.data)
		}
		data := array.NewData(a.schema.Field(i).Type, int(a.rows), bufs, nil, int(c.nulls), 0)
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	a.release() // the arrays hold the buffers now
	b := array.NewRecordBatch(a.schema, cols, a.rows)
	for _, c := range cols {
		c.Release()
	}
	return b, nil
}

// ipcBatchHeader is what the assembler needs of an IPC RecordBatch header.
type ipcBatchHeader struct {
	length, bodyLength int64
	nodes              [][2]int64 // length, null count
	buffers            [][2]int64 // offset, length
}

// parseRecordBatch reads an IPC message header (Message.fbs) that must be
// an uncompressed RecordBatch.
func parseRecordBatch(h []byte) (rb ipcBatchHeader, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("shoal: malformed IPC header: %v", v)
		}
	}()
	if len(h) < 8 {
		return rb, fmt.Errorf("shoal: IPC header of %d bytes", len(h))
	}
	msg := flatbuffers.Table{Bytes: h, Pos: flatbuffers.GetUOffsetT(h)}
	const recordBatchHeader = 3 // MessageHeader.RecordBatch
	if t := msg.GetByteSlot(6, 0); t != recordBatchHeader {
		return rb, fmt.Errorf("shoal: IPC message of type %d where a record batch was due", t)
	}
	rb.bodyLength = msg.GetInt64Slot(10, 0)
	o := flatbuffers.UOffsetT(msg.Offset(8))
	if o == 0 {
		return rb, errors.New("shoal: IPC message without its header")
	}
	var t flatbuffers.Table
	msg.Union(&t, o)
	rb.length = t.GetInt64Slot(4, 0)
	structs := func(slot flatbuffers.VOffsetT) [][2]int64 {
		o := flatbuffers.UOffsetT(t.Offset(slot))
		if o == 0 {
			return nil
		}
		x, n := t.Vector(o), t.VectorLen(o)
		if n < 0 || uint64(x)+uint64(n)*16 > uint64(len(h)) {
			panic("vector past the header")
		}
		out := make([][2]int64, n)
		for i := range out {
			at := x + flatbuffers.UOffsetT(i*16)
			out[i] = [2]int64{t.GetInt64(at), t.GetInt64(at + 8)}
		}
		return out
	}
	rb.nodes, rb.buffers = structs(6), structs(8)
	if t.Offset(10) != 0 {
		return rb, errors.New("shoal: compressed IPC batches are not supported")
	}
	return rb, nil
}
