package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/dataset"
)

// Shards in other processes
//
// A ShardServer hands the shards of a dataset.StreamingSplit to training
// workers in other processes (the same binary started by the user, or a
// core actor on a cluster node) over Arrow Flight: each DoGet is one
// iteration of one shard, that is one epoch, streamed as Arrow IPC
// batches. gRPC's flow control is the backpressure: a worker that reads
// slowly fills its stream's window, the server's send waits, and so the
// shard's queue and then every shard wait, as in one process. A worker
// that breaks out of its loop (or dies) ends its stream, which detaches
// its shard for that epoch, as breaking out does in one process.

// ShardServer serves shards to RemoteShards. Close it when the training is
// done.
type ShardServer struct {
	lis    net.Listener
	stop   func()
	cancel context.CancelFunc
}

// shardTicket is what a DoGet asks for: one epoch of one shard, in
// batches of Size rows.
type shardTicket struct {
	Shard    int  `json:"shard"`
	Size     int  `json:"size"`
	DropLast bool `json:"drop_last,omitempty"`
}

type shardService struct {
	flight.BaseFlightServer
	ctx    context.Context
	shards []*dataset.Shard
	// busy holds a token while a shard is iterated: one iteration at a
	// time. A worker that broke out of an epoch may begin the next before
	// the server has noticed it left the last; it waits for that.
	busy []chan struct{}
}

// ServeShards serves shards on addr (host:port; port 0 picks one),
// guarded by token as the cluster's gRPC ports are. RemoteShard
// (DialShard) reads them.
func ServeShards(shards []*dataset.Shard, addr, token string) (*ShardServer, error) {
	if token == "" {
		return nil, errors.New("cluster: serving shards needs a token")
	}
	if err := checkTLS(); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: serving shards: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc := &shardService{ctx: ctx, shards: shards, busy: make([]chan struct{}, len(shards))}
	for k := range svc.busy {
		svc.busy[k] = make(chan struct{}, 1)
	}
	srv := grpc.NewServer(serverOptions(token, ProtocolVersion)...)
	flight.RegisterFlightServiceServer(srv, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return &ShardServer{lis: lis, cancel: cancel, stop: func() {
		cancel() // ends the iterations in progress
		srv.Stop()
		<-done
	}}, nil
}

// Addr is the address the server listens on.
func (s *ShardServer) Addr() string { return s.lis.Addr().String() }

// Close stops serving; iterations in progress end with an error.
func (s *ShardServer) Close() { s.stop() }

// DoGet streams one epoch of the shard the ticket names.
func (s *shardService) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	var tk shardTicket
	if err := json.Unmarshal(t.GetTicket(), &tk); err != nil {
		return status.Errorf(codes.InvalidArgument, "shoal: a shard ticket: %v", err)
	}
	if tk.Shard < 0 || tk.Shard >= len(s.shards) {
		return status.Errorf(codes.NotFound, "shoal: shard %d of %d", tk.Shard, len(s.shards))
	}
	select {
	case s.busy[tk.Shard] <- struct{}{}:
		defer func() { <-s.busy[tk.Shard] }()
	case <-stream.Context().Done():
		return status.FromContextError(stream.Context().Err()).Err()
	case <-s.ctx.Done():
		return status.Error(codes.Unavailable, "shoal: the shard server is closing")
	}
	var opts []dataset.IterOption
	if tk.DropLast {
		opts = append(opts, dataset.DropLast())
	}
	// The server's context, not the stream's: a worker that goes away
	// detaches its shard for the epoch (the send fails, the loop breaks)
	// rather than cancelling the epoch of every shard.
	var w *flight.Writer
	for b, err := range s.shards[tk.Shard].IterBatches(s.ctx, tk.Size, opts...) {
		if err != nil {
			// No end-of-stream message: the worker's reader must not take
			// the epoch for complete before it sees the error.
			return status.Errorf(codes.Aborted, "shoal: shard %d: %v", tk.Shard, err)
		}
		if w == nil {
			w = flight.NewRecordWriter(stream, ipc.WithSchema(b.Schema()))
		}
		if err := w.Write(b); err != nil {
			return err // the worker went away
		}
	}
	if w != nil {
		return w.Close()
	}
	return nil
}

// RemoteShard is a shard served by a ShardServer in another process,
// iterated as dataset.Shard is: each IterBatches is one epoch.
type RemoteShard struct {
	index int
	conn  *grpc.ClientConn
	fc    flight.FlightServiceClient
	mem   memory.Allocator
}

// DialShard connects to shard index of the ShardServer at addr.
func DialShard(addr, token string, index int) (*RemoteShard, error) {
	conn, err := dial(addr, token, ProtocolVersion)
	if err != nil {
		return nil, err
	}
	return &RemoteShard{index: index, conn: conn, fc: flight.NewFlightServiceClient(conn), mem: memory.DefaultAllocator}, nil
}

// Index is the shard's index.
func (r *RemoteShard) Index() int { return r.index }

// Close closes the connection.
func (r *RemoteShard) Close() error { return r.conn.Close() }

// IterBatches yields the shard's rows of its next epoch in batches of size
// rows (the last may be smaller; with dropLast it is dropped), as
// dataset.Shard.IterBatches. A batch is valid until the next iteration.
func (r *RemoteShard) IterBatches(ctx context.Context, size int, dropLast bool) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // breaking out ends the stream: the server detaches the shard
		ticket, _ := json.Marshal(shardTicket{Shard: r.index, Size: size, DropLast: dropLast})
		stream, err := r.fc.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err != nil {
			yield(nil, fmt.Errorf("cluster: shard %d: %w", r.index, err))
			return
		}
		rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(r.mem))
		if errors.Is(err, io.EOF) {
			return // no rows this epoch
		}
		if err != nil {
			yield(nil, fmt.Errorf("cluster: shard %d: %w", r.index, err))
			return
		}
		defer rdr.Release()
		for rdr.Next() {
			if !yield(rdr.RecordBatch(), nil) {
				return
			}
		}
		if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
			yield(nil, fmt.Errorf("cluster: shard %d: %w", r.index, err))
		}
	}
}
