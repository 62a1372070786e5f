package txlog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-data/shoal/io/storage"
)

// DataFileName names block's file of the write writeID:
// part-<writeID>-<block, 6 digits><ext>.
func DataFileName(writeID string, block int, ext string) string {
	return fmt.Sprintf("part-%s-%06d%s", writeID, block, ext)
}

// DataPieceName names piece k of block's file of the write writeID, for
// a block written as several files: "part-<writeID>-000003-1.parquet".
func DataPieceName(writeID string, block, piece int, ext string) string {
	return fmt.Sprintf("part-%s-%06d-%d%s", writeID, block, piece, ext)
}

// dataFileRE matches the names DataFileName makes (and a "-<n>" suffix
// for a block split into several files).
var dataFileRE = regexp.MustCompile(`^part-.+-[0-9]{6}(-[0-9]+)?(\.[A-Za-z0-9.]+)?$`)

// isDataFile reports whether a file name is a Shoal data file's.
func isDataFile(base string) bool { return dataFileRE.MatchString(base) }

// isTempDataFile reports whether a file name is the hidden temp file of a
// data file being written locally (storage.Local's ".<name>.tmp-<random>").
func isTempDataFile(base string) bool {
	return strings.HasPrefix(base, ".part-") && strings.Contains(base, ".tmp-")
}

// ownedBy reports whether a data file, or its temp file, belongs to the
// write writeID.
func ownedBy(base, writeID string) bool {
	return strings.HasPrefix(strings.TrimPrefix(base, "."), "part-"+writeID+"-")
}

// oldStagingPrefix names the staging directories of Shoal's former commit
// protocol, which renamed staged files into place one by one.
const oldStagingPrefix = "_shoal_staging_"

// CleanOptions says what Clean may remove.
type CleanOptions struct {
	// StaleAfter is how old a heartbeat makes a write dead (default
	// DefaultStaleAfter); it also ages temp files and old staging
	// directories that name no write.
	StaleAfter time.Duration
	// AssumeDead takes every write in flight for dead: for a directory
	// nothing writes to any more, when a dead write's host cannot be asked.
	AssumeDead bool
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Keep is a write ID whose files are never removed: the caller's own.
	Keep string
	// Unlogged also removes visible files that are neither Shoal data
	// files nor in the latest snapshot: other tools' files and those from
	// before the log, which an Overwrite replaces.
	Unlogged bool
}

// CleanReport says what Clean did.
type CleanReport struct {
	// Removed lists the URLs removed (would be, in a dry run), sorted.
	Removed []string
	// Live lists the writes in flight that were left alone.
	Live []string
	// Errors are the removals that failed, each naming its file.
	Errors []error
}

// Err joins the report's errors; nil when every removal succeeded.
func (r *CleanReport) Err() error { return errors.Join(r.Errors...) }

// Clean removes what no snapshot of the dataset at dir needs, so that
// nothing is left of crashed or replaced writes:
//   - data files that are not in the latest snapshot and whose write is
//     not in flight, and the temp files of such writes;
//   - the markers of dead writes (dead: their process is gone from this
//     host, or their heartbeat is older than StaleAfter);
//   - manifests older than the newest KeepVersions, and the log's temp
//     files older than StaleAfter;
//   - the old protocol's _shoal_staging_* directories (untouched for
//     StaleAfter).
//
// Other files (another tool's, hidden ones) are left alone unless
// Unlogged is set. Clean lists dir first and reads the latest manifest
// after: a write removes its marker only after its manifest is in, so a
// file whose marker the listing missed is in that manifest or garbage.
// The error is for what stopped Clean from deciding anything (the listing,
// the manifest); failed removals are in the report.
func Clean(ctx context.Context, fs storage.FileSystem, dir string, o CleanOptions) (*CleanReport, error) {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	l, err := list(ctx, fs, dir)
	if err != nil {
		return nil, fmt.Errorf("clean %s: %w", fs.URL(dir), err)
	}
	now := time.Now()
	rep := &CleanReport{}
	here := self()
	var live []string // write IDs in flight
	var garbage []string
	for _, f := range l.markers {
		id, _ := writeIDOfMarker(baseName(f.Path))
		if id == o.Keep {
			continue
		}
		m, err := readMarker(ctx, fs, f.Path)
		switch {
		case errors.Is(err, storage.ErrNotExist):
			continue // its write ended meanwhile
		case err != nil && now.Sub(f.ModTime) <= o.StaleAfter && !o.AssumeDead:
			live = append(live, id) // unreadable yet: judge it by its age
			rep.Live = append(rep.Live, fmt.Sprintf("write %s (marker unreadable: %v)", id, err))
			continue
		case err == nil && !o.AssumeDead && m.deadReason(here, now, o.StaleAfter) == "":
			live = append(live, id)
			rep.Live = append(rep.Live, m.String())
			continue
		}
		garbage = append(garbage, f.Path) // after its files, below
	}
	markerGarbage := garbage
	garbage = nil

	latest, err := Latest(ctx, fs, dir)
	if err != nil {
		return nil, fmt.Errorf("clean %s: %w", fs.URL(dir), err)
	}
	committed := map[string]bool{}
	if latest != nil {
		for _, f := range latest.Files {
			committed[fs.Join(dir, f.Path)] = true
		}
	}
	liveID := func(id string) bool { return id == o.Keep || slices.Contains(live, id) }
	inFlight := func(base string) bool {
		if o.Keep != "" && ownedBy(base, o.Keep) {
			return true
		}
		for _, id := range live {
			if ownedBy(base, id) {
				return true
			}
		}
		return false
	}
	for _, f := range l.data {
		// Without a log, only a marked write's files are known to be
		// Shoal's: others (copied in, say) are data the first Append
		// adopts.
		if !committed[f.Path] && !inFlight(baseName(f.Path)) && (latest != nil || l.marked(baseName(f.Path))) {
			garbage = append(garbage, f.Path)
		}
	}
	for _, f := range l.temps {
		if !inFlight(baseName(f.Path)) {
			garbage = append(garbage, f.Path)
		}
	}
	if o.Unlogged {
		for _, f := range l.unlogged {
			if !committed[f.Path] {
				garbage = append(garbage, f.Path)
			}
		}
	}
	for _, f := range l.logTemps {
		if o.AssumeDead || now.Sub(f.ModTime) > o.StaleAfter || l.tempDone(baseName(f.Path), liveID) {
			garbage = append(garbage, f.Path)
		}
	}
	if len(l.manifests) > KeepVersions {
		for _, v := range l.manifests[:len(l.manifests)-KeepVersions] {
			garbage = append(garbage, manifestPath(fs, dir, v))
		}
	}
	for d, newest := range l.staging {
		if o.AssumeDead || now.Sub(newest) > o.StaleAfter {
			garbage = append(garbage, d)
		}
	}

	// Files first, then the markers of their dead writes: a marker left
	// by a failed removal keeps nothing alive (its write is dead), but a
	// marker gone with its files still there would be as good.
	rep.remove(ctx, fs, garbage, o.DryRun)
	rep.remove(ctx, fs, markerGarbage, o.DryRun)
	sort.Strings(rep.Removed)
	return rep, nil
}

// listing is a dataset directory's files by kind.
type listing struct {
	data      []storage.FileInfo   // Shoal data files
	temps     []storage.FileInfo   // hidden temp files of data files
	markers   []storage.FileInfo   // in-flight writes' markers
	logTemps  []storage.FileInfo   // temp files in the log
	unlogged  []storage.FileInfo   // other visible files
	manifests []int64              // versions, oldest first
	staging   map[string]time.Time // old staging directory -> newest file
}

// list lists dir and sorts its files by kind.
func list(ctx context.Context, fs storage.FileSystem, dir string) (*listing, error) {
	all, err := fs.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	sep := separator(fs)
	l := &listing{staging: map[string]time.Time{}}
	logDir := fs.Join(dir, LogDir) + sep
	for _, f := range all {
		rel := relPath(fs, dir, f.Path)
		base := baseName(rel)
		top, _, _ := strings.Cut(rel, sep)
		switch {
		case strings.HasPrefix(top, oldStagingPrefix):
			d := fs.Join(dir, top)
			if f.ModTime.After(l.staging[d]) {
				l.staging[d] = f.ModTime
			}
		case strings.HasPrefix(f.Path, logDir+writesDir+sep) && !strings.HasPrefix(base, "."):
			l.markers = append(l.markers, f)
		case strings.HasPrefix(f.Path, logDir):
			if v, ok := manifestVersion(base); ok && f.Path == logDir+base {
				l.manifests = append(l.manifests, v)
			} else if strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-") {
				l.logTemps = append(l.logTemps, f)
			}
		case isTempDataFile(base):
			l.temps = append(l.temps, f)
		case hiddenRel(rel, sep):
		case isDataFile(base):
			l.data = append(l.data, f)
		default:
			l.unlogged = append(l.unlogged, f)
		}
	}
	return l, nil
}

// tempDone reports whether a temp file in the log is past use: a
// marker's of a dead write, or a manifest's whose version exists
// (its committer linked it, or lost that version and will try the next:
// removing it cannot hurt either). A temp file lives for as long as one
// small write and sync takes.
func (l *listing) tempDone(base string, inFlight func(id string) bool) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(base, "."), ".tmp-")
	if v, ok := manifestVersion(name); ok {
		return len(l.manifests) > 0 && v <= l.manifests[len(l.manifests)-1]
	}
	// A marker's temp file without the marker may be a Begin under way.
	id, ok := writeIDOfMarker(name)
	return ok && !inFlight(id) && slices.ContainsFunc(l.markers, func(f storage.FileInfo) bool { return baseName(f.Path) == name })
}

// Unlogged lists the visible files under dir that no write in flight (or
// dead, with its marker still there) owns: another tool's, or Shoal's from
// before the log or copied in; paths relative to dir, rows unknown (-1).
// The first logged Append adopts them; ErrorIfExists refuses to write
// beside them.
func Unlogged(ctx context.Context, fs storage.FileSystem, dir string) ([]File, error) {
	l, err := list(ctx, fs, dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, f := range append(l.unlogged, l.data...) {
		if l.marked(baseName(f.Path)) {
			continue // a write in flight's, or a dead one's
		}
		rel := relPath(fs, dir, f.Path)
		if sep := separator(fs); sep != "/" {
			rel = strings.ReplaceAll(rel, sep, "/")
		}
		out = append(out, File{Path: rel, Rows: -1, Bytes: f.Size})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// marked reports whether a data file belongs to a write with a marker.
func (l *listing) marked(base string) bool {
	return slices.ContainsFunc(l.markers, func(m storage.FileInfo) bool {
		id, _ := writeIDOfMarker(baseName(m.Path))
		return ownedBy(base, id)
	})
}

// relPath is full, a path List gave under dir, relative to dir.
func relPath(fs storage.FileSystem, dir, full string) string {
	root := fs.Join(dir)
	if root == "." {
		return full // List(".") gives paths without "./"
	}
	return strings.TrimPrefix(strings.TrimPrefix(full, root), separator(fs))
}

// hiddenRel reports whether any element of rel starts with "." or "_".
func hiddenRel(rel, sep string) bool {
	for _, el := range strings.Split(rel, sep) {
		if strings.HasPrefix(el, ".") || strings.HasPrefix(el, "_") {
			return true
		}
	}
	return false
}

// removeConcurrency bounds the removals in flight at once.
const removeConcurrency = 16

// remove removes paths, 16 at a time, recording each outcome.
func (r *CleanReport) remove(ctx context.Context, fs storage.FileSystem, paths []string, dryRun bool) {
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(removeConcurrency)
	for _, p := range paths {
		if dryRun {
			r.Removed = append(r.Removed, fs.URL(p))
			continue
		}
		g.Go(func() error {
			err := fs.RemoveAll(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors = append(r.Errors, err)
			} else {
				r.Removed = append(r.Removed, fs.URL(p))
			}
			return nil
		})
	}
	_ = g.Wait() // each outcome is recorded above
}

// RemoveWrite removes every file of the write writeID under dir: its data
// files and their temp files, the rollback of an aborted write (InFlight.End
// then removes its marker). It lists dir, so it also finds files that a
// task wrote but never reported (the task failed after writing).
func RemoveWrite(ctx context.Context, fs storage.FileSystem, dir, writeID string) error {
	all, err := fs.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("rolling back write %s in %s: %w", writeID, fs.URL(dir), err)
	}
	rep := &CleanReport{}
	var paths []string
	for _, f := range all {
		if base := baseName(f.Path); ownedBy(base, writeID) && (isDataFile(base) || isTempDataFile(base)) {
			paths = append(paths, f.Path)
		}
	}
	rep.remove(ctx, fs, paths, false)
	if err := rep.Err(); err != nil {
		return fmt.Errorf("rolling back write %s in %s: %w", writeID, fs.URL(dir), err)
	}
	return nil
}
