package dataset_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/dataset"
	"github.com/shoal-data/shoal/io/formats"
)

// TestReadEmptyInputsKeepSchema reads inputs with no rows, or rows with no
// columns: each must give its schema and its row count, neither an error
// nor a panic.
func TestReadEmptyInputsKeepSchema(t *testing.T) {
	e := setup(t)
	ctx, rt := e.ctx, e.opt()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	str := arrow.BinaryTypes.String
	field := func(name string, typ arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: typ, Nullable: true}
	}

	// A zero-row Parquet file, as arrow-go writes one.
	pqSchema := arrow.NewSchema([]arrow.Field{field("id", arrow.PrimitiveTypes.Int64), field("name", str)}, nil)
	var pq bytes.Buffer
	if err := formats.Parquet(formats.ParquetOptions{}).Encode(ctx, &pq, pqSchema, nil); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		read   func() *dataset.Dataset
		fields []arrow.Field
		rows   int64
	}{
		{"json objects without keys", func() *dataset.Dataset {
			return dataset.ReadJSON(ctx, write("empty-objects.jsonl", []byte("{}\n{}\n")), rt)
		}, nil, 2},
		{"csv header only", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("header.csv", []byte("id,name\n")), rt)
		}, []arrow.Field{field("id", str), field("name", str)}, 0},
		{"csv header only, typed", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("header-typed.csv", []byte("id,name\r\n")),
				dataset.CSVOptions(formats.CSVOptions{Columns: map[string]arrow.DataType{"id": arrow.PrimitiveTypes.Int32}}), rt)
		}, []arrow.Field{field("id", arrow.PrimitiveTypes.Int32), field("name", str)}, 0},
		{"csv header only, schema", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("header-schema.csv", []byte("id,name\n")), dataset.Schema(pqSchema), rt)
		}, pqSchema.Fields(), 0},
		{"csv empty", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("empty.csv", nil), rt)
		}, nil, 0},
		{"csv newlines only", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("newlines.csv", []byte("\n\r\n\n")), rt)
		}, nil, 0},
		{"csv empty, no header", func() *dataset.Dataset {
			return dataset.ReadCSV(ctx, write("empty-noheader.csv", nil), dataset.CSVOptions(formats.CSVOptions{NoHeader: true}), rt)
		}, nil, 0},
		{"json empty", func() *dataset.Dataset {
			return dataset.ReadJSON(ctx, write("empty.jsonl", []byte("\n\n")), rt)
		}, nil, 0},
		{"text empty", func() *dataset.Dataset {
			return dataset.ReadText(ctx, write("empty.txt", nil), rt)
		}, []arrow.Field{{Name: "text", Type: str}}, 0},
		{"parquet zero rows", func() *dataset.Dataset {
			return dataset.ReadParquet(ctx, write("zero.parquet", pq.Bytes()), rt)
		}, pqSchema.Fields(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := c.read()
			sc, err := d.Schema(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Field metadata aside (Parquet adds field ids).
			same := sc.NumFields() == len(c.fields)
			for i := 0; same && i < len(c.fields); i++ {
				f, w := sc.Field(i), c.fields[i]
				same = f.Name == w.Name && arrow.TypeEqual(f.Type, w.Type) && f.Nullable == w.Nullable
			}
			if !same {
				t.Errorf("schema\n%s\nwant\n%s", sc, arrow.NewSchema(c.fields, nil))
			}
			n, err := d.Count(ctx)
			if err != nil || n != c.rows {
				t.Errorf("count %d, %v; want %d", n, err, c.rows)
			}
			// Reading the rows, not only counting them, gives as many.
			items, err := d.TakeAll(ctx)
			if err != nil || int64(len(items)) != c.rows {
				t.Errorf("TakeAll: %d rows, %v; want %d", len(items), err, c.rows)
			}
		})
	}
}
