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
		if es := dirNames(t, filepath.Dir(p)); len(es) != 1 {
			t.Fatalf("round %d: temp files left: %v", round, es)
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

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
