package formats

import "strconv"

// Numbers in text files are mostly short decimals, for which strconv's
// general parsers (bases, underscores, exponents, special values, error
// values allocated on failure) were a seventh of a CSV → Parquet
// conversion. These parse the common shapes in one pass and hand anything
// else to strconv, so results and accepted inputs are strconv's.

// parseInt64Text is strconv.ParseInt(s, 10, 64) == nil, with the value.
func parseInt64Text(s []byte) (int64, bool) {
	d, neg := s, false
	if len(d) > 0 && (d[0] == '-' || d[0] == '+') {
		neg, d = d[0] == '-', d[1:]
	}
	if len(d) == 0 || len(d) > 18 { // 18 digits cannot overflow
		x, err := strconv.ParseInt(bytesView(s), 10, 64)
		return x, err == nil
	}
	var v int64
	for _, c := range d {
		c -= '0'
		if c > 9 {
			return 0, false // base 10 allows no underscores or letters
		}
		v = v*10 + int64(c)
	}
	if neg {
		v = -v
	}
	return v, true
}

// pow10Exact holds the powers of ten a float64 represents exactly.
var pow10Exact = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat64Text is strconv.ParseFloat(s, 64) == nil, with the value. A
// plain decimal whose digits fit 53 bits and whose fraction has at most
// 22 digits is one exact division (both operands are exact, and IEEE
// division rounds correctly: Clinger's fast path); the rest goes to
// strconv.
func parseFloat64Text(s []byte) (float64, bool) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, i = s[0] == '-', 1
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 19 {
				return parseFloat64Slow(s)
			}
			m = m*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return parseFloat64Slow(s) // exponents, inf, nan, and what strconv refuses
		}
	}
	if digits == 0 || m > 1<<53 || frac >= len(pow10Exact) {
		return parseFloat64Slow(s)
	}
	f := float64(m) / pow10Exact[frac]
	if neg {
		f = -f
	}
	return f, true
}

func parseFloat64Slow(s []byte) (float64, bool) {
	x, err := strconv.ParseFloat(bytesView(s), 64)
	return x, err == nil
}
