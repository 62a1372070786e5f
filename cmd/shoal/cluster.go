package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-data/shoal/cluster"
)

// clusterFlags are the flags shared by the cluster commands.
type clusterFlags struct {
	address string // head address, or SHOAL_ADDRESS
	token   string // cluster token, or SHOAL_TOKEN, or the token file
	version string // protocol version (hidden; tests)
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.address, "address", "", "the head's host:port (default $SHOAL_ADDRESS)")
	cmd.Flags().StringVar(&f.token, "token", "", "the cluster's shared token (default $SHOAL_TOKEN, else ~/.shoal/cluster-token)")
	cmd.Flags().StringVar(&f.version, "protocol-version", cluster.ProtocolVersion, "protocol version to speak")
	_ = cmd.Flags().MarkHidden("protocol-version")
}

func (f *clusterFlags) headAddress() (string, error) {
	if f.address == "" {
		f.address = os.Getenv("SHOAL_ADDRESS")
	}
	if f.address == "" {
		return "", errors.New("no head address: give --address host:port or set SHOAL_ADDRESS")
	}
	return f.address, nil
}

// resolveToken finds the token: the flag, $SHOAL_TOKEN, then the token
// file; create makes a new random one in the file when there is none.
func (f *clusterFlags) resolveToken(create bool) (string, error) {
	if f.token != "" {
		return f.token, nil
	}
	if t := cluster.FindToken(); t != "" {
		return t, nil
	}
	path := cluster.TokenFile()
	if !create {
		return "", fmt.Errorf("no cluster token: give --token, set SHOAL_TOKEN, or run beside the head (%s)", path)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

func startCommand() *cobra.Command {
	var (
		f             clusterFlags
		head          bool
		dashboardPort int
		host          string
		port          int
		advertise     string
		cpus, gpus    int
		storeMem      string
		actorMemory   string
		labels        []string
		spillDir      string
		workDir       string
		heartbeat     time.Duration
		deadAfter     time.Duration
		headLostAt    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "start (--head [--port 6380] | --address HEAD:PORT [--num-cpus N] [--num-gpus N] [--object-store-memory 4GiB])",
		Short: "run a head, or a node that joins one, in the foreground",
		Long: `start runs a cluster process in the foreground until it is stopped
(Ctrl-C, SIGTERM, or "shoal stop" for the whole cluster).

  shoal start --head --port 6380
  shoal start --address head:6380 --num-cpus 8 --num-gpus 1 --object-store-memory 4GiB

The head prints its address; every process of the cluster must give the
same token (--token or $SHOAL_TOKEN; a head without one makes one and keeps
it in ~/.shoal/cluster-token, which processes on the same machine read).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := log.New(cmd.ErrOrStderr(), "shoal: ", log.LstdFlags|log.Lmicroseconds)
			if head {
				tok, err := f.resolveToken(true)
				if err != nil {
					return err
				}
				dashboardAddr := ""
				if dashboardPort > 0 {
					// Loopback only: reaching it from elsewhere takes a
					// tunnel or a proxy, as the head's data is the
					// cluster's. A port in use (another head on this
					// machine) leaves the head without it, not down.
					dashboardAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(dashboardPort))
					if lis, err := net.Listen("tcp", dashboardAddr); err != nil {
						logger.Printf("not serving the dashboard: %v", err)
						dashboardAddr = ""
					} else {
						lis.Close()
					}
				}
				h, err := cluster.StartHead(cluster.HeadConfig{
					Addr: net.JoinHostPort(host, strconv.Itoa(port)), Token: tok, Version: f.version,
					HeartbeatPeriod: heartbeat, DeadAfter: deadAfter, Logf: logger.Printf, DashboardAddr: dashboardAddr,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "head at %s\n", h.Addr())
				if a := h.DashboardAddr(); a != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "dashboard at http://%s/ (sign in with the cluster token), metrics at http://%s/metrics\n", a, a)
				}
				return waitOrSignal(cmd.Context(), h.Done(), h.Close, func() error { return nil })
			}
			addr, err := f.headAddress()
			if err != nil {
				return err
			}
			tok, err := f.resolveToken(false)
			if err != nil {
				return err
			}
			mem, err := parseBytes(storeMem)
			if err != nil {
				return fmt.Errorf("--object-store-memory: %w", err)
			}
			actorMem, err := parseBytes(actorMemory)
			if err != nil {
				return fmt.Errorf("--memory: %w", err)
			}
			labelMap, err := parseLabels(labels)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			n, err := cluster.StartNode(ctx, cluster.NodeConfig{
				Head: addr, Token: tok, Version: f.version,
				Addr: net.JoinHostPort(host, strconv.Itoa(port)), Advertise: advertise,
				Resources: cluster.Resources{CPUs: cpus, GPUs: gpus, ObjectStoreMemory: mem, Memory: actorMem, Labels: labelMap},
				SpillDir:  spillDir, WorkDir: workDir, HeadLostAfter: headLostAt, Logf: logger.Printf,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s at %s\n", n.ID(), n.Addr())
			return waitOrSignal(cmd.Context(), n.Done(), n.Close, n.Err)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&head, "head", false, "run the head (the control service)")
	cmd.Flags().IntVar(&dashboardPort, "dashboard-port", 8265, "head: serve the web dashboard and Prometheus /metrics on this loopback port (0: not at all)")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "interface to listen on (0.0.0.0 for every one)")
	cmd.Flags().IntVar(&port, "port", 0, "port to listen on (head default 6380; node default any free port)")
	cmd.Flags().StringVar(&advertise, "advertise", "", "address other processes reach this node at (default the listener's)")
	cmd.Flags().IntVar(&cpus, "num-cpus", 0, "CPUs the node offers (default all)")
	cmd.Flags().IntVar(&gpus, "num-gpus", -1, "GPUs the node offers (default: detected with nvidia-smi)")
	cmd.Flags().StringVar(&storeMem, "object-store-memory", "", "object store memory, e.g. 4GiB (default 30% of memory)")
	cmd.Flags().StringVar(&actorMemory, "memory", "", "memory actors on the node may reserve, e.g. 16GiB (default: not counted)")
	cmd.Flags().StringSliceVar(&labels, "labels", nil, "custom resources or labels of the node, key=value, e.g. zone=a,accel=a100")
	cmd.Flags().StringVar(&spillDir, "spill-dir", "", "where the object store spills (default the temp directory)")
	cmd.Flags().StringVar(&workDir, "work-dir", "", "where the node keeps the binaries drivers ship for its task workers, kept across restarts (default a new temp directory, removed at stop)")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", time.Second, "how often nodes report to the head")
	cmd.Flags().DurationVar(&headLostAt, "head-timeout", 30*time.Second, "a node stops when its head is unreachable this long")
	cmd.Flags().DurationVar(&deadAfter, "dead-after", 0, "a head declares a node dead when it has not reported for this long (default 5 heartbeats)")
	_ = cmd.Flags().MarkHidden("heartbeat")
	_ = cmd.Flags().MarkHidden("dead-after")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if head && !cmd.Flags().Changed("port") {
			port = 6380
		}
		return nil
	}
	return cmd
}

// waitOrSignal blocks until the process is done, or ctx ends (Ctrl-C) or
// SIGTERM arrives, in which case it stops it with stop.
func waitOrSignal(ctx context.Context, done <-chan struct{}, stop func(), why func() error) error {
	term := make(chan os.Signal, 1)
	notifyTerm(term, syscall.SIGTERM)
	select {
	case <-done:
	case <-ctx.Done():
		stop()
	case <-term:
		stop()
	}
	return why()
}

func statusCommand() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "list the cluster's nodes, their resources and memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return fmt.Errorf("asking %s: %w", f.address, err)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func (f *clusterFlags) client() (*cluster.Client, error) {
	addr, err := f.headAddress()
	if err != nil {
		return nil, err
	}
	tok, err := f.resolveToken(false)
	if err != nil {
		return nil, err
	}
	return cluster.ConnectVersion(addr, tok, f.version)
}

func printStatus(w io.Writer, st cluster.Status) {
	alive := 0
	for _, n := range st.Nodes {
		if n.Alive {
			alive++
		}
	}
	fmt.Fprintf(w, "cluster at %s (protocol %s), up %v", st.HeadAddr, st.Version, time.Since(st.Started).Round(time.Second))
	if st.ShuttingDown {
		fmt.Fprint(w, ", shutting down")
	}
	tot := st.Total()
	fmt.Fprintf(w, "\n%d of %d nodes alive: %d CPUs, %d GPUs, %s object store\n\n", alive, len(st.Nodes), tot.CPUs, tot.GPUs, formatBytes(tot.ObjectStoreMemory))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSTATE\tCPUS\tGPUS\tTASKS\tACTORS\tSTORE\tOBJECTS\tIN MEMORY\tSPILLED\tLAST SEEN")
	for _, n := range st.Nodes {
		state := "alive"
		switch {
		case n.Left:
			state = "left at " + n.DeadSince.Format("15:04:05")
		case !n.Alive:
			state = "dead since " + n.DeadSince.Format("15:04:05")
		}
		r := n.Info.Resources
		gpus := fmt.Sprint(r.GPUs)
		if n.Last.GPUsHeld > 0 {
			gpus = fmt.Sprintf("%d (%d held)", r.GPUs, n.Last.GPUsHeld)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%v ago\n", n.ID, n.Info.Addr, state, r.CPUs, gpus,
			n.Last.Running, n.Last.Actors, formatBytes(r.ObjectStoreMemory), n.Last.Objects, formatBytes(n.Last.MemoryBytes), formatBytes(n.Last.Spilled),
			time.Since(n.LastSeen).Round(time.Millisecond))
	}
	tw.Flush()
	running := 0
	for _, j := range st.Jobs {
		if j.Running {
			running++
		}
	}
	fmt.Fprintf(w, "\n%d jobs running, %d finished\n", running, len(st.Jobs)-running)
	if len(st.Jobs) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tPROGRAM\tHOST\tPID\tSTATE\tSTARTED")
	for _, j := range st.Jobs {
		state := "running for " + time.Since(j.Started).Round(time.Second).String()
		if !j.Running {
			state = "finished at " + j.Ended.Format("15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Info.Name, j.Info.Host, j.Info.PID, state, j.Started.Format("15:04:05"))
	}
	tw.Flush()
}

func stopCommand() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "stop the whole cluster: every node, then the head",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := c.Shutdown(ctx); err != nil {
				return fmt.Errorf("asking %s to stop: %w", f.address, err)
			}
			// Wait until the head no longer answers.
			for ctx.Err() == nil {
				if _, err := c.Status(ctx); err != nil {
					fmt.Fprintln(cmd.OutOrStdout(), "cluster stopped")
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("the cluster at %s did not stop within 30s", f.address)
		},
	}
	f.add(cmd)
	return cmd
}

// parseBytes reads "4GiB", "512MiB", "1.5G", "100MB" or a plain byte count;
// "" is 0 (the default).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size such as 4GiB", s)
	}
	return int64(v * mult), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// parseLabels reads --labels key=value pairs.
func parseLabels(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}
