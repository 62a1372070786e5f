package ops

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
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

// MarshalBlocks encodes blocks of one schema as an Arrow IPC stream, for
// data small enough to travel inside a spec (a broadcast join's side).
func MarshalBlocks(s *arrow.Schema, recs []arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(memory.NewGoAllocator()))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			w.Close()
			return nil, fmt.Errorf("ops: encoding blocks {%s}: %w", SchemaString(s), err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("ops: encoding blocks {%s}: %w", SchemaString(s), err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBlocks decodes what MarshalBlocks encoded into blocks on Go's
// heap (released or not, the garbage collector frees them), and the schema.
func UnmarshalBlocks(data []byte) (*arrow.Schema, []arrow.RecordBatch, error) {
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		return nil, nil, fmt.Errorf("ops: decoding blocks: %w", err)
	}
	defer r.Release()
	var out []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		out = append(out, rec)
	}
	if err := r.Err(); err != nil {
		return nil, nil, fmt.Errorf("ops: decoding blocks: %w", err)
	}
	return r.Schema(), out, nil
}
