package storage_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/io/storage"
	"github.com/shoal-data/shoal/io/storage/storagetest"
)

func TestLocalPutIfAbsent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log", "v1.json")
	for round := range 20 {
		os.RemoveAll(filepath.Dir(p))
		w := storagetest.PutRace(t, storage.Local{}, p, 8)
		if got, _ := os.ReadFile(p); string(got) != fmt.Sprintf("writer %d", w) {
			t.Fatalf("round %d: %s holds %q, the winner was %d", round, p, got, w)
		}
		if es, err := os.ReadDir(filepath.Dir(p)); err != nil || len(es) != 1 {
			t.Fatalf("round %d: temp files left: %v (%v)", round, es, err)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	// Under a regular file: a clear error, not storage.ErrExist.
	err := storage.Local{}.PutIfAbsent(t.Context(), filepath.Join(p, "x"), nil)
	if err == nil || errors.Is(err, storage.ErrExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("put under a file: %v", err)
	}
}

// TestLocalListWhileFilesComeAndGo: files and directories created and
// removed during a listing (temp files of concurrent puts) are listed or
// not, never an error.
func TestLocalListWhileFilesComeAndGo(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sub := filepath.Join(dir, fmt.Sprintf("d%d", i%4))
			p := filepath.Join(sub, fmt.Sprintf(".tmp-%d", i))
			if err := os.MkdirAll(sub, 0o755); err == nil {
				_ = os.WriteFile(p, nil, 0o644)
				_ = os.Remove(p)
				_ = os.Remove(sub)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for range 3000 {
		if _, err := (storage.Local{}).List(t.Context(), dir); err != nil {
			t.Fatalf("a listing failed while files came and went: %v", err)
		}
	}
}
