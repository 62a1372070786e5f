package formats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The fast parsers agree with strconv, bit for bit, on what they accept
// and what they return.
func TestParseNumbersMatchStrconv(t *testing.T) {
	cases := []string{"", "-", "+", ".", "-.", "0", "-0", "+0", "007", "-007", "1", "-1", "+1",
		"123456789012345678", "-123456789012345678", "1234567890123456789", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1_000", "12a", "a12",
		" 1", "1 ", "0x10", "1.5", "-1.5", ".5", "5.", "-.5", "+.5", "0.1", "0.3", "1e5", "1E-5", "inf",
		"-Inf", "NaN", "nan", "1.7976931348623157e308", "4.9e-324", "9007199254740993",
		"9007199254740992.5", "0.12345678901234567890", "123.456e2", "1..2", "1.2.3", "--1", "+-1",
		"3.14159265358979323846", "0.0000000000000000000001", "0.00000000000000000000001",
		"1234567890.1234567", "99999999999999999999", "-0.0", "00000000000000000000001.5"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		whole, frac := r.Uint64N(1_000_000_000_000), r.Uint64N(1_000_000)
		s := fmt.Sprintf("%d.%0*d", whole>>r.UintN(40), 1+r.IntN(6), frac%uint64(math.Pow10(r.IntN(6)+1)))
		if r.IntN(3) == 0 {
			s = "-" + s
		}
		cases = append(cases, s, fmt.Sprint(r.Int64()>>r.UintN(63)), strconv.FormatFloat(r.NormFloat64()*math.Pow10(r.IntN(12)), 'f', -1, 64))
	}
	for _, s := range cases {
		wi, werr := strconv.ParseInt(s, 10, 64)
		if gi, ok := parseInt64Text([]byte(s)); ok != (werr == nil) || ok && gi != wi {
			t.Errorf("parseInt64Text(%q) = %d, %v; strconv: %d, %v", s, gi, ok, wi, werr)
		}
		wf, ferr := strconv.ParseFloat(s, 64)
		gf, ok := parseFloat64Text([]byte(s))
		if ok != (ferr == nil) || ok && math.Float64bits(gf) != math.Float64bits(wf) && !(math.IsNaN(gf) && math.IsNaN(wf)) {
			t.Errorf("parseFloat64Text(%q) = %v, %v; strconv: %v, %v", s, gf, ok, wf, ferr)
		}
	}
}

func BenchmarkParseFloat64Text(b *testing.B) {
	in := [][]byte{[]byte("12.75"), []byte("0.5"), []byte("123.456"), []byte("-7.25"), []byte("3")}
	b.Run("fast", func(b *testing.B) {
		for i := range b.N {
			parseFloat64Text(in[i%len(in)])
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for i := range b.N {
			_, _ = strconv.ParseFloat(bytesView(in[i%len(in)]), 64)
		}
	})
}
