// Package storagetest holds checks that every storage.FileSystem must
// pass, shared by the tests of its implementations.
package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shoal-data/shoal/io/storage"
)

// PutRace has n goroutines put different data ("writer <i>") at one path
// at once and returns which one succeeded; the others must fail with an
// error matching storage.ErrExist that names the path.
func PutRace(t testing.TB, fs storage.FileSystem, p string, n int) (winner int) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fs.PutIfAbsent(t.Context(), p, []byte(fmt.Sprintf("writer %d", i)))
		})
	}
	close(start)
	wg.Wait()
	winner = -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created %s", winner, i, p)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExist) || !strings.Contains(err.Error(), fs.URL(p)):
			t.Fatalf("writer %d: %v, want ErrExist naming %s", i, err, fs.URL(p))
		}
	}
	if winner < 0 {
		t.Fatalf("no writer created %s: %v", p, errs)
	}
	return winner
}
