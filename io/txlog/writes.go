package txlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shoal-data/shoal/io/storage"
)

const (
	writesDir = "writes"
	// DefaultStaleAfter is how old a write's heartbeat may grow before
	// Clean takes the write for dead, when its process cannot be asked
	// (another host). Heartbeats come every StaleAfter/10, at most 30 s.
	DefaultStaleAfter = 5 * time.Minute
	maxHeartbeat      = 30 * time.Second
)

// marker is _shoal/writes/<write ID>.json: who runs a write, and when it
// last said it was alive.
type marker struct {
	WriteID string `json:"write_id"`
	process
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}

func markerPath(fs storage.FileSystem, dir, writeID string) string {
	return fs.Join(dir, LogDir, writesDir, writeID+".json")
}

// running counts the writes in flight in this process by write ID: Begin
// adds one, End takes it away (even when removing the marker fails), so
// this process knows its own writes' fate exactly. By ID alone, a write
// with the ID of one running here, in any directory, counts as live: when
// unsure, keep.
var running = struct {
	sync.Mutex
	ids map[string]int
}{ids: map[string]int{}}

func setRunning(id string, delta int) {
	running.Lock()
	defer running.Unlock()
	if running.ids[id] += delta; running.ids[id] <= 0 {
		delete(running.ids, id)
	}
}

func isRunning(id string) bool {
	running.Lock()
	defer running.Unlock()
	return running.ids[id] > 0
}

// deadReason says why the write m marks is dead; "" when it may live.
func (m *marker) deadReason(here process, now time.Time, staleAfter time.Duration) string {
	if m.process == here {
		if !isRunning(m.WriteID) {
			return "its write ended in this process"
		}
		return ""
	}
	if why := m.gone(here); why != "" {
		return why
	}
	if age := now.Sub(m.Heartbeat); age > staleAfter {
		return fmt.Sprintf("no heartbeat for %s (stale after %s)", age.Round(time.Second), staleAfter)
	}
	return ""
}

func (m *marker) String() string {
	return fmt.Sprintf("write %s (host %s, pid %d, heartbeat %s)", m.WriteID, m.Host, m.PID, m.Heartbeat.UTC().Format(time.RFC3339))
}

// InFlight is a running write's marker and the heartbeat that keeps it
// fresh. Begin starts both; End stops the heartbeat and removes the marker.
type InFlight struct {
	fs       storage.FileSystem
	path     string
	marker   marker
	interval time.Duration
	stale    time.Duration
	stop     chan struct{}
	done     chan struct{}

	mu     sync.Mutex
	lastOK time.Time
	lost   error // set when the marker was found removed
}

// Begin records that the write writeID runs in this process, before it
// writes any data file into dir: Clean leaves the files of a write whose
// marker is fresh alone. The marker is created with PutIfAbsent, so two
// writes with one ID into one directory cannot both run. A goroutine
// refreshes it every staleAfter/10 (at most 30 s) until End.
func Begin(ctx context.Context, fs storage.FileSystem, dir, writeID string, staleAfter time.Duration) (*InFlight, error) {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	now := time.Now()
	w := &InFlight{
		fs: fs, path: markerPath(fs, dir, writeID),
		marker:   marker{WriteID: writeID, process: self(), Started: now, Heartbeat: now},
		interval: min(staleAfter/10, maxHeartbeat),
		stale:    staleAfter,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		lastOK:   now,
	}
	data, _ := json.MarshalIndent(w.marker, "", "  ")
	// Counted before the marker exists: a cleanup in this process must
	// never see the marker without the count.
	setRunning(writeID, 1)
	if err := fs.PutIfAbsent(ctx, w.path, data); err != nil {
		setRunning(writeID, -1)
		if errors.Is(err, storage.ErrExist) {
			other := "another write"
			if m, rerr := readMarker(ctx, fs, w.path); rerr == nil {
				other = m.String()
			}
			return nil, fmt.Errorf("write %s: the write ID %q is already in use there by %s; choose another ID",
				fs.URL(dir), writeID, other)
		}
		return nil, fmt.Errorf("write %s: recording the write in flight: %w", fs.URL(dir), err)
	}
	go w.beat()
	return w, nil
}

func readMarker(ctx context.Context, fs storage.FileSystem, p string) (*marker, error) {
	data, err := readFile(ctx, fs, p)
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: not a write marker: %w", fs.URL(p), err)
	}
	return &m, nil
}

// beat refreshes the marker until End. It never recreates a marker that
// is gone: a cleanup that judged this write dead removed it, and Alive
// reports that.
func (w *InFlight) beat() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if err := w.refresh(); err != nil {
			w.mu.Lock()
			if errors.Is(err, storage.ErrNotExist) {
				w.lost = err
			}
			w.mu.Unlock()
			if errors.Is(err, storage.ErrNotExist) {
				return
			}
		}
	}
}

// refresh rewrites the marker with a new heartbeat, if it is still there.
func (w *InFlight) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), w.interval)
	defer cancel()
	if _, err := w.fs.Stat(ctx, w.path); err != nil {
		return err
	}
	m := w.marker
	m.Heartbeat = time.Now()
	data, _ := json.MarshalIndent(m, "", "  ")
	fw, err := w.fs.Create(ctx, w.path)
	if err != nil {
		return err
	}
	if _, err := fw.Write(data); err != nil {
		_ = fw.Abort()
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	w.mu.Lock()
	w.lastOK = m.Heartbeat
	w.mu.Unlock()
	return nil
}

// Alive checks, just before the commit, that no cleanup can have taken
// this write for dead: its marker is still there and its last heartbeat
// is well within the staleness bound.
func (w *InFlight) Alive(ctx context.Context) error {
	w.mu.Lock()
	lost, lastOK := w.lost, w.lastOK
	w.mu.Unlock()
	if lost == nil {
		if _, err := w.fs.Stat(ctx, w.path); errors.Is(err, storage.ErrNotExist) {
			lost = err
		} else if err != nil {
			return fmt.Errorf("checking the write's marker: %w", err)
		}
	}
	if lost != nil {
		return fmt.Errorf("the write's marker %s was removed by a cleanup that took the write for dead; its files may be gone",
			w.fs.URL(w.path))
	}
	if age := time.Since(lastOK); age > w.stale/2 {
		return fmt.Errorf("the write's heartbeat could not be refreshed for %s (a cleanup takes it for dead after %s)",
			age.Round(time.Second), w.stale)
	}
	return nil
}

// End stops the heartbeat and removes the marker. It runs once the
// write's outcome is settled: its manifest committed, or its files removed.
func (w *InFlight) End(ctx context.Context) error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	setRunning(w.marker.WriteID, -1)
	if err := w.fs.RemoveAll(ctx, w.path); err != nil {
		return fmt.Errorf("removing the write's marker: %w", err)
	}
	return nil
}

// writeIDOfMarker is the write ID a marker's file name holds.
func writeIDOfMarker(base string) (string, bool) {
	return strings.CutSuffix(base, ".json")
}
