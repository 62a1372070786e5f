package blocks

import (
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
)

// unsafeBytes views a numeric slice as its bytes, without copying.
func unsafeBytes[T Numeric](vals []T) []byte {
	if len(vals) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), len(vals)*int(unsafe.Sizeof(zero)))
}

// castSlice reinterprets a slice of one numeric type as another of the same
// underlying type (Values has checked that they match).
func castSlice[From, To Numeric](vals []From) []To {
	if len(vals) == 0 {
		return nil
	}
	return unsafe.Slice((*To)(unsafe.Pointer(&vals[0])), len(vals))
}

func numericTypeOfKind(v any) arrow.DataType {
	switch reflect.TypeOf(v).Kind() {
	case reflect.Int8:
		return arrow.PrimitiveTypes.Int8
	case reflect.Int16:
		return arrow.PrimitiveTypes.Int16
	case reflect.Int32:
		return arrow.PrimitiveTypes.Int32
	case reflect.Int64:
		return arrow.PrimitiveTypes.Int64
	case reflect.Uint8:
		return arrow.PrimitiveTypes.Uint8
	case reflect.Uint16:
		return arrow.PrimitiveTypes.Uint16
	case reflect.Uint32:
		return arrow.PrimitiveTypes.Uint32
	case reflect.Uint64:
		return arrow.PrimitiveTypes.Uint64
	case reflect.Float32:
		return arrow.PrimitiveTypes.Float32
	default:
		return arrow.PrimitiveTypes.Float64
	}
}
