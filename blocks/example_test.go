package blocks_test

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

func Example() {
	mem := memory.NewGoAllocator()

	// Per-row UDF output: Go maps, possibly with missing keys and mixed numbers.
	items := []blocks.Item{
		{"id": "abc", "value": 1},
		{"id": "def", "value": 2.5, "tags": []string{"x", "y"}},
		{"id": "ghi"},
	}
	rec, err := blocks.FromItems(mem, items)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer rec.Release()

	for _, f := range rec.Schema().Fields() {
		fmt.Printf("%s: %s\n", f.Name, f.Type)
	}
	for i := range int(rec.NumRows()) {
		r := blocks.NewRow(rec, i)
		fmt.Printf("row %d: id=%s value=%g null=%t tags=%v\n",
			r.Index(), r.String("id"), r.Float64("value"), r.IsNull("value"), r.Get("tags"))
	}

	// Conflicting types are reported with the field, both types and the item.
	_, err = blocks.InferSchema([]blocks.Item{{"value": 1}, {"value": "one"}})
	fmt.Println(err)

	// Output:
	// id: utf8
	// value: float64
	// tags: list<item: utf8, nullable>
	// row 0: id=abc value=1 null=false tags=<nil>
	// row 1: id=def value=2.5 null=false tags=[x y]
	// row 2: id=ghi value=0 null=true tags=<nil>
	// blocks: field "value": conflicting types int64 and utf8 (item 1)
}
