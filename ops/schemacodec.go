package ops

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// MarshalSchema encodes a schema as an Arrow IPC stream with no batches,
// so every Arrow type, metadata included, travels in a spec. A nil schema
// encodes as nil.
func MarshalSchema(s *arrow.Schema) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("ops: encoding schema {%s}: %w", SchemaString(s), err)
	}
	return buf.Bytes(), nil
}

// UnmarshalSchema decodes what MarshalSchema encoded; nil gives nil.
func UnmarshalSchema(data []byte) (*arrow.Schema, error) {
	if len(data) == 0 {
		return nil, nil
	}
	r, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("ops: decoding a schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}
