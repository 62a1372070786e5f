package cluster

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/metrics"
)

// HeadConfig configures a head. The zero value of a field takes its default.
type HeadConfig struct {
	// Addr is where to listen (default 127.0.0.1:6380).
	Addr string
	// Token is the shared secret every call must carry. Required.
	Token string
	// Version is the protocol version to accept (default ProtocolVersion;
	// tests set others).
	Version string
	// HeartbeatPeriod is how often nodes report (default 1s); a node that
	// has not reported for DeadAfter (default 5 periods) is declared dead.
	HeartbeatPeriod time.Duration
	DeadAfter       time.Duration
	// Logf, when set, receives one line per event (a node joined, died).
	Logf func(format string, args ...any)
	// DashboardAddr, when set, is where the head serves its web dashboard
	// (package dashboard: the jobs and their runs, the nodes) and, at
	// /metrics, the Prometheus metrics of its nodes, jobs and the drivers'
	// operators, over HTTP, guarded by Token: a bearer token, or the cookie
	// a browser gets by signing in at /login. Port 0 picks one
	// (DashboardAddr).
	DashboardAddr string
}

// Head is the cluster's control service: the registry of nodes, kept by
// their heartbeats. Start one with StartHead.
type Head struct {
	flight.BaseFlightServer
	cfg     HeadConfig
	lis     net.Listener
	srv     *grpc.Server
	started time.Time

	mu           sync.Mutex
	nodes        map[string]*NodeStatus
	nextID       int
	shuttingDown bool
	jobs         []*JobStatus // oldest first
	nextJob      int
	// changed is closed, and replaced, whenever a node joins, dies or
	// leaves: the job streams then tell their drivers.
	changed chan struct{}

	done    chan struct{}
	stop    sync.Once
	workers sync.WaitGroup

	dashboardAddr string
	stopDashboard func()
	operators     *metrics.Operators // the drivers' runs, as they report them
}

// StartHead listens and serves until Close or a shutdown action.
func StartHead(cfg HeadConfig) (*Head, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("cluster: a head needs a token")
	}
	if err := checkTLS(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:6380"
	}
	if cfg.Version == "" {
		cfg.Version = ProtocolVersion
	}
	if cfg.HeartbeatPeriod <= 0 {
		cfg.HeartbeatPeriod = time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 5 * cfg.HeartbeatPeriod
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: head: %w", err)
	}
	h := &Head{cfg: cfg, lis: lis, started: time.Now(), nodes: map[string]*NodeStatus{}, done: make(chan struct{}), changed: make(chan struct{}),
		stopDashboard: func() {}, operators: metrics.NewOperators()}
	if cfg.DashboardAddr != "" {
		if h.dashboardAddr, h.stopDashboard, err = h.serveDashboard(cfg.DashboardAddr); err != nil {
			lis.Close()
			return nil, err
		}
	}
	h.srv = grpc.NewServer(serverOptions(cfg.Token, cfg.Version)...)
	flight.RegisterFlightServiceServer(h.srv, h)
	serveHealth(h.srv)
	h.workers.Add(2)
	go func() {
		defer h.workers.Done()
		_ = h.srv.Serve(lis) // returns when stopped
	}()
	go func() {
		defer h.workers.Done()
		h.monitor()
	}()
	cfg.Logf("head listening on %s (protocol %s)", lis.Addr(), cfg.Version)
	return h, nil
}

// Addr is the address the head listens on.
func (h *Head) Addr() string { return h.lis.Addr().String() }

// Done is closed once the head has stopped.
func (h *Head) Done() <-chan struct{} { return h.done }

// Close stops the head now and waits for its goroutines.
func (h *Head) Close() {
	h.halt()
	h.workers.Wait()
}

// halt stops serving; the goroutines then end on their own.
func (h *Head) halt() {
	h.stop.Do(func() {
		close(h.done)
		h.srv.Stop()
		h.stopDashboard()
	})
}

// DashboardAddr is where the head serves its dashboard and /metrics, ""
// if it does not.
func (h *Head) DashboardAddr() string { return h.dashboardAddr }

// monitor declares nodes dead when their heartbeats stop, and ends a
// shutdown once every node has gone (or after DeadAfter).
func (h *Head) monitor() {
	t := time.NewTicker(h.cfg.HeartbeatPeriod / 2)
	defer t.Stop()
	var shutdownAt time.Time
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			h.mu.Lock()
			alive := 0
			for _, n := range h.nodes {
				if n.Alive && now.Sub(n.LastSeen) > h.cfg.DeadAfter {
					n.Alive, n.DeadSince = false, now
					h.nodesChanged()
					h.cfg.Logf("node %s (%s) missed heartbeats for %v: dead", n.ID, n.Info.Addr, h.cfg.DeadAfter)
				}
				if n.Alive {
					alive++
				}
			}
			stopping := h.shuttingDown
			h.mu.Unlock()
			if stopping {
				if shutdownAt.IsZero() {
					shutdownAt = now
				}
				if alive == 0 || now.Sub(shutdownAt) > h.cfg.DeadAfter {
					h.cfg.Logf("cluster shut down")
					h.halt()
					return
				}
			}
		}
	}
}

// DoAction implements the control actions.
func (h *Head) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	reply := func(v any) error {
		var body []byte
		if v != nil {
			body = encodeBody(v)
		}
		return stream.Send(&flight.Result{Body: body})
	}
	switch a.Type {
	case actionRegister:
		var info NodeInfo
		if err := decodeBody(a.Type, a.Body, &info); err != nil {
			return err
		}
		if err := checkNodeInfo(info); err != nil {
			return err
		}
		id := h.register(info)
		return reply(RegisterReply{ID: id, HeartbeatPeriod: h.cfg.HeartbeatPeriod})
	case actionHeartbeat:
		var hb Heartbeat
		if err := decodeBody(a.Type, a.Body, &hb); err != nil {
			return err
		}
		r, err := h.heartbeat(hb)
		if err != nil {
			return err
		}
		r.EndedJobs = h.endedJobs()
		return reply(r)
	case actionLeave:
		var hb Heartbeat
		if err := decodeBody(a.Type, a.Body, &hb); err != nil {
			return err
		}
		h.mu.Lock()
		n, ok := h.nodes[hb.ID]
		if ok && n.Alive {
			n.Alive, n.Left, n.DeadSince = false, true, time.Now()
			h.nodesChanged()
			h.cfg.Logf("node %s (%s) left", n.ID, n.Info.Addr)
		}
		h.mu.Unlock()
		if !ok {
			return status.Errorf(codes.NotFound, "shoal: leave from unknown node %q", hb.ID)
		}
		return reply(nil)
	case actionStatus:
		return reply(h.Status())
	case actionJob:
		var info JobInfo
		if err := decodeBody(a.Type, a.Body, &info); err != nil {
			return err
		}
		return h.serveJob(info, stream)
	case actionJobReport:
		var rep jobReport
		if err := decodeBody(a.Type, a.Body, &rep); err != nil {
			return err
		}
		if err := h.jobReport(rep); err != nil {
			return err
		}
		return reply(nil)
	case actionShutdown:
		h.mu.Lock()
		h.shuttingDown = true
		h.mu.Unlock()
		h.cfg.Logf("shutdown asked: nodes stop at their next heartbeat")
		return reply(nil)
	}
	return status.Errorf(codes.Unimplemented, "shoal: head: unknown action %q", a.Type)
}

func checkNodeInfo(info NodeInfo) error {
	if _, _, err := net.SplitHostPort(info.Addr); err != nil {
		return status.Errorf(codes.InvalidArgument, "shoal: register: node address %q: %v", info.Addr, err)
	}
	r := info.Resources
	if r.CPUs < 0 || r.GPUs < 0 || r.ObjectStoreMemory < 0 {
		return status.Errorf(codes.InvalidArgument, "shoal: register: negative resources %+v", r)
	}
	return nil
}

func (h *Head) register(info NodeInfo) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	id := fmt.Sprintf("node-%d", h.nextID)
	now := time.Now()
	h.nodes[id] = &NodeStatus{ID: id, Info: info, Alive: true, Joined: now, LastSeen: now}
	h.nodesChanged()
	h.cfg.Logf("node %s joined from %s: %d CPUs, %d GPUs, %d MiB object store", id, info.Addr,
		info.Resources.CPUs, info.Resources.GPUs, info.Resources.ObjectStoreMemory>>20)
	return id
}

// heartbeat records a node's report. A node declared dead is told so: its
// tasks and blocks were given up, and it must join again as a new node.
func (h *Head) heartbeat(hb Heartbeat) (HeartbeatReply, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.nodes[hb.ID]
	if !ok {
		return HeartbeatReply{}, status.Errorf(codes.NotFound, "shoal: heartbeat from unknown node %q: register again", hb.ID)
	}
	if !n.Alive {
		return HeartbeatReply{Shutdown: h.shuttingDown, DeadSince: n.DeadSince}, nil
	}
	n.LastSeen, n.Last = time.Now(), hb
	return HeartbeatReply{Shutdown: h.shuttingDown}, nil
}

// nodesChanged wakes the job streams: a node joined, died or left. h.mu
// is held.
func (h *Head) nodesChanged() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// Status reports the cluster, nodes sorted by ID number.
func (h *Head) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Status{Version: h.cfg.Version, HeadAddr: h.Addr(), Started: h.started, ShuttingDown: h.shuttingDown, Jobs: h.jobsStatus()}
	for _, n := range h.nodes {
		s.Nodes = append(s.Nodes, *n)
	}
	slices.SortFunc(s.Nodes, func(a, b NodeStatus) int {
		return compareNodeIDs(a.ID, b.ID)
	})
	return s
}

func compareNodeIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Client is a connection to a head, for status and control.
type Client struct {
	conn *grpc.ClientConn
	fc   flight.FlightServiceClient
}

// Connect dials a head at addr with the cluster's token.
func Connect(addr, token string) (*Client, error) {
	return connect(addr, token, ProtocolVersion)
}

func connect(addr, token, version string) (*Client, error) {
	conn, err := dial(addr, token, version)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, fc: flight.NewFlightServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// action runs one control action and decodes its single reply into out
// (nil: no reply expected).
func (c *Client) action(ctx context.Context, typ string, body any, out any) error {
	var raw []byte
	if body != nil {
		raw = encodeBody(body)
	}
	stream, err := c.fc.DoAction(ctx, &flight.Action{Type: typ, Body: raw})
	if err != nil {
		return err
	}
	res, err := stream.Recv()
	if err != nil {
		return err
	}
	if out != nil {
		if err := decodeBody(typ+" reply", res.Body, out); err != nil {
			return err
		}
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break // io.EOF once the server is done
		}
	}
	return nil
}

// Status asks the head for the cluster's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.action(ctx, actionStatus, nil, &s)
	return s, err
}

// Shutdown asks the head to stop the cluster: nodes stop at their next
// heartbeat and the head once they have gone.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.action(ctx, actionShutdown, nil, nil)
}

// ConnectVersion is Connect speaking another protocol version (tests of
// version refusal).
func ConnectVersion(addr, token, version string) (*Client, error) {
	return connect(addr, token, version)
}
