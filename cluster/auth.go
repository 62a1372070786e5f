// Package cluster runs Shoal on several machines: a head (node registry
// with heartbeats, the job table, the control service), nodes (an object
// store served over Arrow Flight, and worker processes running a driver's
// own shipped binary, which run its tasks and actors and keep the blocks
// they make), and, in the driver, a RemoteStore and a TaskRunner that
// exec.Local uses to place blocks, tasks and actors on the nodes
// (NewRuntime puts them together). Importing the package registers it as
// the program's cluster support (exec.RegisterCluster), which dataset's
// Init, JoinCluster, ConnectCluster and SHOAL_ADDRESS use: a program
// without the import links none of it. Everything is spoken over
// gRPC, optionally TLS; every call carries the cluster's shared token and
// the caller's protocol version, and a wrong token or another version is
// refused before any handler runs.
package cluster

import (
	"context"
	"crypto/subtle"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ProtocolVersion names the wire protocol of this build. A head refuses
// nodes and clients of another version: the processes of a cluster must
// run the same Shoal.
const ProtocolVersion = "shoal-1"

// Metadata keys every call carries.
const (
	tokenKey   = "authorization"
	versionKey = "shoal-version"
)

// MaxMessageBytes bounds one gRPC message: a control message or one Arrow
// record batch of a block transfer. Larger messages are refused by gRPC
// without reaching a handler.
const MaxMessageBytes = 256 << 20

// Liveness of connections. A call may rightly last minutes (a task, an
// actor's life), so it has no total deadline; instead each side pings the
// other over an idle connection and drops it when a ping goes unanswered:
// a peer that stopped (SIGSTOP, a frozen machine, a cut network) ends the
// calls on it with codes.Unavailable within keepaliveTime+keepaliveTimeout,
// while a peer that is busy but alive answers pings from gRPC's own
// goroutines and keeps its calls. 10 s is the least gRPC lets a client
// ping at; the head's verdict (5 missed heartbeats) is usually faster.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// serverOptions are the gRPC options of every Shoal server: the message
// bound, keepalive (pings to idle clients, and clients allowed to ping as
// often as they do), and interceptors that check the token and version and
// turn a handler's panic into an Internal error instead of a crash.
func serverOptions(token, version string) []grpc.ServerOption {
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		got := ""
		if v := md.Get(tokenKey); len(v) == 1 {
			got = v[0]
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
			return status.Error(codes.Unauthenticated, "shoal: wrong or missing cluster token")
		}
		if v := md.Get(versionKey); len(v) != 1 || v[0] != version {
			theirs := "none"
			if len(v) == 1 {
				theirs = v[0]
			}
			return status.Errorf(codes.FailedPrecondition, "shoal: protocol version %s, this cluster runs %s: run the same Shoal build on every machine", theirs, version)
		}
		return nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		// Health checks (Kubernetes probes) need no token: they reveal
		// nothing but that the process serves.
		if !strings.HasPrefix(info.FullMethod, "/grpc.health.v1.Health/") {
			if err := check(ctx); err != nil {
				return nil, err
			}
		}
		defer recoverInto(&err, info.FullMethod)
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		if !strings.HasPrefix(info.FullMethod, "/grpc.health.v1.Health/") {
			if err := check(ss.Context()); err != nil {
				return err
			}
		}
		defer recoverInto(&err, info.FullMethod)
		return h(srv, ss)
	}
	return append(serverCreds(),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime / 2, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(stream),
	)
}

func recoverInto(err *error, method string) {
	if v := recover(); v != nil {
		*err = status.Errorf(codes.Internal, "shoal: %s panicked: %v\n%s", method, v, debug.Stack())
	}
}

// callCreds attach the token and version to every call.
type callCreds struct{ token, version string }

func (c callCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{tokenKey: "Bearer " + c.token, versionKey: c.version}, nil
}

// RequireTransportSecurity is false: a cluster may run without TLS on a
// trusted network (see tls.go to turn it on).
func (callCreds) RequireTransportSecurity() bool { return false }

// dial connects to a Shoal server, pinging it while calls are open
// (keepaliveTime); opts add to the options.
func dial(addr, token, version string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds, err := clientCreds()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(callCreds{token: token, version: version}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cluster: dial %s: %w", addr, err)
	}
	return conn, nil
}

// serveHealth registers the standard gRPC health service on srv, serving:
// what Kubernetes' grpc probes ask.
func serveHealth(srv *grpc.Server) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
}
