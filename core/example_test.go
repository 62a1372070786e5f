package core_test

import (
	"context"
	"fmt"

	"github.com/shoal-data/shoal/core"
)

// Registered at package level, so that every copy of the binary knows it.
var double = core.Func1("example.double", func(ctx context.Context, x int) (int, error) {
	return 2 * x, nil
})

// Tally is an actor type: its state lives in one worker, and its methods
// run one call at a time.
type Tally struct{ seen map[string]int }

func (t *Tally) Add(ctx context.Context, word string) (int, error) {
	t.seen[word]++
	return t.seen[word], nil
}

var tallies = core.RegisterActor("example.tally", func(ctx context.Context, _ struct{}) (*Tally, error) {
	return &Tally{seen: map[string]int{}}, nil
})

func Example() {
	ctx := context.Background()

	// Futures: each call starts at once, Get waits for its result.
	refs := make([]core.Ref[int], 4)
	for i := range refs {
		refs[i] = double.Remote(ctx, core.Value(i))
	}
	doubled, err := core.GetAll(ctx, refs)
	if err != nil {
		panic(err)
	}
	fmt.Println(doubled)

	// A Ref passed to another call: it waits for the value, which does
	// not pass through this goroutine.
	quadrupled, err := core.Get(ctx, double.Remote(ctx, refs[3]))
	if err != nil {
		panic(err)
	}
	fmt.Println(quadrupled)

	// An actor keeps its state between calls.
	t, err := tallies.New(ctx, struct{}{})
	if err != nil {
		panic(err)
	}
	defer t.Stop(ctx)
	for _, w := range []string{"tea", "milk", "tea"} {
		core.Call1(ctx, t, (*Tally).Add, core.Value(w))
	}
	n, err := core.Get(ctx, core.Call1(ctx, t, (*Tally).Add, core.Value("tea")))
	if err != nil {
		panic(err)
	}
	fmt.Println("tea:", n)
	// Output:
	// [0 2 4 6]
	// 12
	// tea: 3
}
