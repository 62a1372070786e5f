package dataset

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// sum128 must equal the exact sum for small values (fast path) and for
// values near the int64 limits (128-bit path), whatever the length.
func TestSum128MatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	gens := map[string]func() int64{
		"small": func() int64 { return r.Int64N(2000) - 1000 },
		"huge":  func() int64 { return r.Int64() - math.MaxInt64/2*int64(r.IntN(3)) },
		"edges": func() int64 { return []int64{math.MaxInt64, math.MinInt64, -1, 1}[r.IntN(4)] },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 7, 1000, 100000} {
			vals := make([]int64, n)
			want := new(big.Int)
			for i := range vals {
				vals[i] = gen()
				want.Add(want, big.NewInt(vals[i]))
			}
			lo, hi := sum128(vals)
			got := new(big.Int).Lsh(big.NewInt(hi), 64)
			got.Add(got, new(big.Int).SetUint64(lo))
			if got.Cmp(want) != 0 {
				t.Errorf("%s n=%d: sum128 = %s, want %s", name, n, got, want)
			}
		}
	}
}
