package dataset_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-data/shoal/dataset"
)

func TestZip(t *testing.T) {
	e := setup(t)
	left := dataset.Range(1000, e.par(7)...)
	right := dataset.Range(1000, e.par(3)...).Map(func(r dataset.Row) (dataset.Item, error) {
		return dataset.Item{"id": r.Int64("id"), "sq": r.Int64("id") * r.Int64("id")}, nil
	})
	z := left.Zip(right)
	n, err := z.Count(e.ctx)
	if err != nil || n != 1000 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	i := int64(0)
	for r, err := range z.IterRows(e.ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Int64("id") != i || r.Int64("id_right") != i || r.Int64("sq") != i*i {
			t.Fatalf("row %d: %s", i, dataset.FormatRow(r))
		}
		i++
	}
	if i != 1000 {
		t.Fatalf("%d rows", i)
	}
	s, err := z.Schema(e.ctx)
	if err != nil || fmt.Sprint(fieldNamesOf(s)) != "[id id_right sq]" {
		t.Errorf("schema %v, %v", s, err)
	}
}

func TestZipUnequalLengths(t *testing.T) {
	e := setup(t)
	_, err := dataset.Range(10, e.opt()).Zip(dataset.Range(11, e.opt())).Count(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "10 and 11 rows") {
		t.Errorf("known counts: %v", err)
	}
	// Counts known only by running: the error comes from the plan of the zip.
	filtered := dataset.Range(100, e.par(4)...).Where(dataset.Col("id").Lt(50))
	_, err = dataset.Range(60, e.par(3)...).Zip(filtered).TakeAll(e.ctx)
	if err == nil || !strings.Contains(err.Error(), "60 and 50 rows") {
		t.Errorf("counts found at run time: %v", err)
	}
}
