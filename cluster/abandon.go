package cluster

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Giving a server up.
//
// A driver that learns a node is gone (the head declared it dead, or a
// call to it missed its deadline) must not wait on the calls it has open
// there: a frozen process keeps its sockets, so they would wait until
// keepalive notices, and a task call has no total deadline. An
// ObjectClient's calls therefore all pass through abandonGate, which cuts
// every call in flight once the client is abandoned and refuses new ones,
// each with codes.Unavailable and the reason: what the rest of the
// cluster code already reads as "the node is gone".

// abandonGate cuts the calls of one connection once abandoned.
type abandonGate struct {
	gone    context.Context // ends, with the reason as its cause, at abandon
	abandon context.CancelCauseFunc
}

func newAbandonGate() *abandonGate {
	g := &abandonGate{}
	g.gone, g.abandon = context.WithCancelCause(context.Background())
	return g
}

// dialOptions install the gate on a connection.
func (g *abandonGate) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainStreamInterceptor(g.stream), grpc.WithChainUnaryInterceptor(g.unary)}
}

// err is the error of a call cut or refused by the gate, nil while the
// server is not abandoned.
func (g *abandonGate) err() error {
	if g.gone.Err() == nil {
		return nil
	}
	return status.Error(codes.Unavailable, context.Cause(g.gone).Error())
}

// translate is a call's error as its caller sees it: the gate's reason
// where the gate cut the call.
func (g *abandonGate) translate(err error) error {
	if err == nil || errors.Is(err, io.EOF) || g.gone.Err() == nil || status.Code(err) != codes.Canceled {
		return err
	}
	return g.err()
}

// bind returns ctx cut when the gate closes, and what ends that: the call
// is over. Both are bounded by ctx.
func (g *abandonGate) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.gone, cancel)
	context.AfterFunc(ctx, func() { stop() }) // the call is over: forget it
	return ctx, cancel
}

func (g *abandonGate) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if err := g.err(); err != nil {
		return err
	}
	ctx, cancel := g.bind(ctx)
	defer cancel()
	return g.translate(invoker(ctx, method, req, reply, cc, opts...))
}

func (g *abandonGate) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if err := g.err(); err != nil {
		return nil, err
	}
	ctx, cancel := g.bind(ctx)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, g.translate(err)
	}
	return &gatedStream{ClientStream: cs, g: g, end: cancel}, nil
}

// gatedStream is a call through the gate. It ends, as gRPC's streams do,
// when RecvMsg fails (io.EOF included) or the caller's context ends.
type gatedStream struct {
	grpc.ClientStream
	g   *abandonGate
	end context.CancelFunc
}

func (s *gatedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.end()
	}
	return s.g.translate(err)
}

func (s *gatedStream) SendMsg(m any) error {
	return s.g.translate(s.ClientStream.SendMsg(m))
}
