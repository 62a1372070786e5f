package dashboard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/metrics"
	"github.com/shoal-data/shoal/pipeline"
)

func init() {
	exec.RegisterDashboard(func(rt exec.Runtime, addr string) (string, error) {
		s, err := Start(addr, Options{Runtime: rt, Token: os.Getenv("SHOAL_DASHBOARD_TOKEN")})
		if err != nil {
			return "", err
		}
		return s.URL(), nil // it serves as long as the process lives
	})
}

// Local is the dashboard's source for a program that runs its own
// pipelines: one job, this process, with the runs on one runtime from the
// moment Local is made, and one node, this machine.
type Local struct {
	rt   exec.Runtime
	job  Job
	stop func()
}

// NewLocal follows the runs on rt (exec.Default() when nil) until Close.
func NewLocal(rt exec.Runtime) *Local {
	if rt == nil {
		rt = exec.Default()
	}
	host, _ := os.Hostname()
	l := &Local{rt: rt, job: Job{ID: "local", Name: filepath.Base(os.Args[0]), Host: host, PID: os.Getpid(), Started: time.Now(), Runs: &Runs{}}}
	l.stop = pipeline.Watch(l)
	return l
}

// WatchRun implements pipeline.Watcher.
func (l *Local) WatchRun(rt exec.Runtime, s *pipeline.RunSnapshot) {
	if rt == l.rt {
		l.job.Runs.Add(s)
	}
}

// Close stops following runs.
func (l *Local) Close() { l.stop() }

// Mode implements Source.
func (l *Local) Mode() string { return "embedded" }

// Jobs implements Source: this process, running.
func (l *Local) Jobs() []Job { return []Job{l.job} }

// Nodes implements Source: this machine, as the runtime sees it.
func (l *Local) Nodes() []Node {
	res, st := l.rt.Resources(), l.rt.Stats()
	return []Node{{ID: "local", Address: l.job.Host, Alive: true, State: "alive", CPUs: res.CPUs, GPUs: res.GPUs, MemoryBytes: res.Memory,
		StoreBudget: st.Budget, StoreMemory: st.MemoryBytes, StoreSpilled: st.SpilledBytes, Objects: st.Objects, LastHeartbeat: time.Now()}}
}

// Options configure Start. The zero value serves exec.Default()'s runs
// without a token, which Start allows on the loopback only.
type Options struct {
	Runtime exec.Runtime
	// Token guards the dashboard as HandlerOptions.Token does.
	Token string
}

// Server is an embedded program's dashboard, from Start.
type Server struct {
	local *Local
	lis   net.Listener
	srv   *http.Server
	done  chan struct{}
}

// Start serves the dashboard of this program's runs at addr
// ("127.0.0.1:8265"; port 0 picks a free one), with their Prometheus
// metrics at /metrics, until Close. An address beyond the loopback needs a
// token.
func Start(addr string, opts Options) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); opts.Token == "" && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("dashboard: %s is reachable from other machines: give a token (SHOAL_DASHBOARD_TOKEN) or serve on 127.0.0.1", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	local := NewLocal(opts.Runtime)
	s := &Server{local: local, lis: lis, done: make(chan struct{})}
	s.srv = &http.Server{Handler: Handler(local, HandlerOptions{Token: opts.Token, Metrics: metrics.Handler(local.rt, "")}),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "shoal: dashboard: %v\n", err)
		}
	}()
	return s, nil
}

// URL is where the dashboard is served.
func (s *Server) URL() string { return "http://" + s.lis.Addr().String() + "/" }

// Addr is the address the dashboard listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops serving and following runs.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	s.local.Close()
	return err
}
