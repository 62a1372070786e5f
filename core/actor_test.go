package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-data/shoal/core"
	"github.com/shoal-data/shoal/exec"
)

// Counter is the test actor: a count and the log of what was added, to
// check that calls ran one at a time, in order.
type Counter struct {
	n      int
	log    []int
	inCall bool
}

func (c *Counter) Add(ctx context.Context, k int) (int, error) {
	if c.inCall {
		return 0, errors.New("two calls at once")
	}
	c.inCall = true
	defer func() { c.inCall = false }()
	time.Sleep(50 * time.Microsecond)
	c.n += k
	c.log = append(c.log, k)
	return c.n, nil
}

func (c *Counter) Count(ctx context.Context) (int, error) { return c.n, nil }

func (c *Counter) Log(ctx context.Context) ([]int, error) { return c.log, nil }

func (c *Counter) Scale(ctx context.Context, by int, label string) (string, error) {
	c.n *= by
	return fmt.Sprintf("%s=%d", label, c.n), nil
}

func (c *Counter) Explode(ctx context.Context, why string) (int, error) { panic(why) }

// helper has no context first: it cannot be called remotely.
func (c *Counter) Helper() int { return c.n }

var counters = core.RegisterActor("test.counter", func(ctx context.Context, start int) (*Counter, error) {
	if start < 0 {
		return nil, fmt.Errorf("a counter cannot start at %d", start)
	}
	return &Counter{n: start}, nil
})

func TestActor(t *testing.T) { eachRuntime(t, testActor) }

func testActor(t *testing.T, ctx context.Context) {
	c, err := counters.New(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	dir := t.TempDir()
	// A call waiting for its argument holds back the calls made after it.
	late := core.Call1(ctx, c, (*Counter).Add, strlen.Remote(ctx, gate.Remote(ctx, core.Value(dir+"/go1"))))
	next := core.Call1(ctx, c, (*Counter).Add, core.Value(1))
	if _, notReady, _ := core.Wait(ctx, []core.Ref[int]{next}, 1, 30*time.Millisecond); len(notReady) != 1 {
		t.Fatal("a call ran before the call made before it")
	}
	writeFile(t, dir+"/go1")
	if v, err := core.Get(ctx, next); err != nil || v != 10+len(dir+"/go1")+1 {
		t.Fatalf("Add = %d, %v", v, err)
	}
	if _, err := core.Get(ctx, late); err != nil {
		t.Fatal(err)
	}
	s, err := core.Get(ctx, core.Call2(ctx, c, (*Counter).Scale, core.Value(2), core.Value("n")))
	if err != nil || s != fmt.Sprintf("n=%d", 2*(11+len(dir+"/go1"))) {
		t.Fatalf("Scale = %q, %v", s, err)
	}
	if _, err := counters.New(ctx, -1); err == nil || !strings.Contains(err.Error(), "cannot start at -1") {
		t.Fatalf("a failing constructor: %v", err)
	}
}

// TestActorCalledConcurrently: calls from many goroutines run one at a
// time, each goroutine's in the order it made them.
func TestActorCalledConcurrently(t *testing.T) { eachRuntime(t, testActorCalledConcurrently) }

func testActorCalledConcurrently(t *testing.T, ctx context.Context) {
	c, err := counters.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs := make([]core.Ref[int], calls)
			for i := range refs {
				refs[i] = core.Call1(ctx, c, (*Counter).Add, core.Value(g*1000+i))
			}
			if _, err := core.GetAll(ctx, refs); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	log, err := core.Get(ctx, core.Call0(ctx, c, (*Counter).Log))
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != goroutines*calls {
		t.Fatalf("%d calls logged, want %d", len(log), goroutines*calls)
	}
	next := map[int]int{}
	for _, k := range log {
		g, i := k/1000, k%1000
		if i != next[g] {
			t.Fatalf("goroutine %d's call %d ran after its call %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, core.Call0(ctx, c, (*Counter).Count)); !errors.Is(err, core.ErrActorStopped) {
		t.Fatalf("a call after Stop: %v", err)
	}
}

// TestActorPanics: a panic kills the actor; its later calls fail saying
// so, and the panic is what the panicking call reports.
func TestActorPanics(t *testing.T) { eachRuntime(t, testActorPanics) }

func testActorPanics(t *testing.T, ctx context.Context) {
	c, err := counters.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	boom := core.Call1(ctx, c, (*Counter).Explode, core.Value("gears jammed"))
	after := core.Call0(ctx, c, (*Counter).Count)
	_, err = core.Get(ctx, boom)
	var pe *exec.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "test.counter.Explode") || !strings.Contains(err.Error(), "gears jammed") {
		t.Fatalf("the panicking call: %v", err)
	}
	_, err = core.Get(ctx, after)
	if !exec.IsActorFailure(err) || !strings.Contains(err.Error(), "test.counter.Count") {
		t.Fatalf("a call after the panic: %v", err)
	}
	_, err = core.Get(ctx, core.Call1(ctx, c, (*Counter).Add, core.Value(1)))
	if !exec.IsActorFailure(err) {
		t.Fatalf("a call made after the actor died: %v", err)
	}
	t.Log(err)
}

func TestActorMethodMustBeAMethod(t *testing.T) {
	ctx := embedded(t)
	c, err := counters.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	defer func() {
		v := recover()
		if v == nil || !strings.Contains(fmt.Sprint(v), "not a method of *core_test.Counter") {
			t.Fatalf("a closure as method: %v", v)
		}
	}()
	core.Call0(ctx, c, func(c *Counter, ctx context.Context) (int, error) { return 0, nil })
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
