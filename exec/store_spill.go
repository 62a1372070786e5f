package exec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

// SpillError is why a store could not spill: its spill directory cannot be
// created or written (Full false), or the filesystem under it is full or
// over quota (Full true). Put returns one when the store is over its budget
// and cannot spill: at once for an unusable directory, past the hard limit
// for a full one (then Memory, Budget and HardLimit are set).
type SpillError struct {
	// Dir is the spill directory the store was given (WithSpillDir).
	Dir string
	// Err is the operating system's error (errors.Is finds syscall.ENOSPC,
	// syscall.ENOTDIR, fs.ErrPermission, ...).
	Err error
	// Full reports a full filesystem (ENOSPC) or an exceeded quota (EDQUOT).
	Full bool
	// Memory is what the store held in memory when it refused a block,
	// against its Budget and HardLimit; zero for a failure it recorded
	// without refusing one.
	Memory, Budget, HardLimit int64
}

// Need is how much more had to go to disk to bring the store back under
// its budget when it refused a block.
func (e *SpillError) Need() int64 { return max(e.Memory-e.Budget, 0) }

func (e *SpillError) Error() string {
	cause := osCause(e.Err, e.Dir)
	switch {
	case !e.Full:
		return fmt.Sprintf("shoal: spill directory %s cannot be used: %s", e.Dir, cause)
	case e.Memory == 0:
		return fmt.Sprintf("shoal: spill directory %s is full: %s", e.Dir, cause)
	}
	return fmt.Sprintf("shoal: spill directory %s is full (%s): %s more free space needed there; the object store holds %s in memory, over its hard limit of %s (budget %s)",
		e.Dir, cause, FormatBytes(e.Need()), FormatBytes(e.Memory), FormatBytes(e.HardLimit), FormatBytes(e.Budget))
}

func (e *SpillError) Unwrap() error { return e.Err }

// osCause describes err by the call that failed, the file below dir it
// was about and the system's reason ("write shoal-spill-1/7.arrow: no space
// left on device"), so a message that already names dir does not repeat it.
func osCause(err error, dir string) string {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	rel, rerr := filepath.Rel(dir, pe.Path)
	switch {
	case rerr == nil && rel == ".":
		return fmt.Sprintf("%s: %v", pe.Op, pe.Err)
	case rerr == nil && filepath.IsLocal(rel):
		return fmt.Sprintf("%s %s: %v", pe.Op, rel, pe.Err)
	}
	return fmt.Sprintf("%s %s: %v", pe.Op, pe.Path, pe.Err)
}

// isDiskFull reports an error that freed space may cure: a full filesystem
// or an exceeded quota. Every other error of a spill directory (not a
// directory, no permission, read-only, I/O error) lasts.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// spillError wraps a failed spill's error. Called with s.mu held.
func (s *Store) spillError(err error) *SpillError {
	return &SpillError{Dir: s.spillDir, Err: err, Full: isDiskFull(err)}
}

// refusal reports why Put may not keep a block now: spilling has failed and
// the store is over budget with an unusable directory, or over its hard
// limit with a full one. Called with s.mu held.
func (s *Store) refusal() error {
	e := s.health.err
	if e == nil {
		return nil
	}
	inMemory := s.stats.MemoryBytes - s.spillingBytes
	switch {
	case !e.Full && inMemory > s.budget:
		return e
	case e.Full && inMemory > s.hardLimit:
		return &SpillError{Dir: e.Dir, Err: e.Err, Full: true,
			Memory: s.stats.MemoryBytes, Budget: s.budget, HardLimit: s.hardLimit}
	}
	return nil
}

// Backoff between spill attempts after a failure, doubling while they fail.
const (
	minSpillBackoff = 50 * time.Millisecond
	maxSpillBackoff = 5 * time.Second
)

// spillHealth pauses spilling after a failure. Without it every Put over
// budget tried to write every block over budget again, and a full disk made
// each Put write (and fail) megabytes: a 4-second shuffle made no progress
// in 300 seconds. Spilling resumes after a backoff or, on a full disk, as
// soon as spill files as large as the block that failed have been removed.
// Guarded by Store.mu.
type spillHealth struct {
	err         *SpillError // the latest failure; nil once a spill succeeds
	retryAt     time.Time
	backoff     time.Duration
	failedBytes int64 // the size of the block that could not be written
	freedBytes  int64 // bytes of spill files removed since
}

// failed records a failed write of a block of the given size and returns err.
func (h *spillHealth) failed(err *SpillError, bytes int64, now time.Time) *SpillError {
	h.backoff = min(max(2*h.backoff, minSpillBackoff), maxSpillBackoff)
	h.err, h.retryAt, h.failedBytes, h.freedBytes = err, now.Add(h.backoff), bytes, 0
	return err
}

func (h *spillHealth) succeeded() { *h = spillHealth{} }

// freed counts a removed spill file.
func (h *spillHealth) freed(bytes int64) {
	if h.err != nil {
		h.freedBytes += bytes
	}
}

// paused reports that no spill file should be written now.
func (h *spillHealth) paused(now time.Time) bool {
	switch {
	case h.err == nil:
		return false
	case h.err.Full && h.freedBytes >= h.failedBytes:
		return false
	}
	return now.Before(h.retryAt)
}

// errSpillSkipped marks a victim not written because one before it failed.
var errSpillSkipped = errors.New("shoal: spill skipped")

// writeSpillFile writes o's block to a file of the store's spill directory,
// making the directory on first use.
func (s *Store) writeSpillFile(o *object) (string, error) {
	s.mu.Lock()
	dir := s.dir
	if dir == "" && !s.closed {
		d, err := os.MkdirTemp(s.spillDir, "shoal-spill-")
		if err != nil {
			s.mu.Unlock()
			return "", err
		}
		s.dir, dir = d, d
	}
	s.mu.Unlock()
	if dir == "" {
		return "", ErrClosed
	}
	path := filepath.Join(dir, fmt.Sprintf("%d.arrow", o.id))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(o.block.Schema()), ipc.WithAllocator(s.alloc))
	if err == nil {
		err = w.Write(o.block)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

func readSpillFile(path string, alloc memory.Allocator) (blocks.Block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(alloc))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.RecordBatchAt(0)
}

// FormatBytes writes n in binary units: "512 B", "1.5 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
