package ops

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// literal normalizes a Go constant to int64, uint64, float64, string or bool.
func literal(v any) (any, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case string, bool:
		return x, true
	case time.Time:
		return x, true
	}
	return nil, false
}

// timeScalar is t as a scalar of a timestamp or date column's type.
func timeScalar(t time.Time, colType arrow.DataType) (scalar.Scalar, error) {
	switch ct := colType.(type) {
	case *arrow.TimestampType:
		v, err := arrow.TimestampFromTime(t, ct.Unit)
		if err != nil {
			return nil, err
		}
		return scalar.NewTimestampScalar(v, ct), nil
	case *arrow.Date32Type:
		return scalar.NewDate32Scalar(arrow.Date32FromTime(t)), nil
	case *arrow.Date64Type:
		return scalar.NewDate64Scalar(arrow.Date64FromTime(t)), nil
	}
	return nil, fmt.Errorf("%s is not a time type", colType)
}

// compareValues orders a statistic against a constant: -1, 0 or +1, and
// false when the two are not comparable.
func compareValues(stat, lit any) (int, bool) {
	switch s := stat.(type) {
	case time.Time:
		l, ok := lit.(time.Time)
		if !ok {
			return 0, false
		}
		return s.Compare(l), true
	case string:
		l, ok := lit.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, l), true
	case bool:
		l, ok := lit.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case s == l:
			return 0, true
		case !s:
			return -1, true
		}
		return 1, true
	}
	if a, ok := stat.(int64); ok {
		if b, ok := lit.(int64); ok {
			return cmp3(a, b), true
		}
	}
	if a, ok := stat.(uint64); ok {
		if b, ok := lit.(uint64); ok {
			return cmp3(a, b), true
		}
	}
	a, okA := asFloat(stat)
	b, okB := asFloat(lit)
	if !okA || !okB || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return cmp3(a, b), true
}

func cmp3[T int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func isNumericValue(v any) bool { _, ok := asFloat(v); return ok }
func isString(v any) bool       { _, ok := v.(string); return ok }
func isBool(v any) bool         { _, ok := v.(bool); return ok }

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isFloatType(t arrow.DataType) bool {
	return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64
}

func isStringType(t arrow.DataType) bool {
	return t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING
}

func isTime(v any) bool { _, ok := v.(time.Time); return ok }

func isTimeType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return true
	}
	return false
}
