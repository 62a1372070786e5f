package formats

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
)

// A Source's filter is exact: besides skipping files and units that its
// statistics rule out, the read drops every row the filter rules out, so
// the optimizer needs no filter stage above it (ops.RowFilterDatasource).
// The read decodes the filter's columns whether or not the output keeps
// them, evaluates the filter on each block as the file gives it, and
// gathers only the output's columns of the rows that pass. A Parquet
// string column that only the filter reads is decoded as a dictionary, so
// `payment = 'card'` compares each distinct value once.

var _ ops.RowFilterDatasource = (*Source)(nil)

// FiltersRows says the source drops the rows e rules out: it does for any
// predicate over its columns (the files' and the partition columns).
func (s *Source) FiltersRows(e ops.Expr) bool {
	if s.full == nil || e.IsZero() {
		return false
	}
	for _, c := range e.Columns() {
		if len(s.full.FieldIndices(c)) == 0 {
			return false
		}
	}
	t, err := e.DataType(s.full)
	return err == nil && (t.ID() == arrow.BOOL || t.ID() == arrow.NULL)
}

// setReadSchema sets what a read decodes before its filter runs: the
// output's columns, then the columns only the filter reads.
func (s *Source) setReadSchema() {
	s.filterFields = nil
	if !s.filter.IsZero() && s.full != nil {
		for _, c := range s.filter.Columns() {
			if len(s.out.FieldIndices(c)) > 0 || fieldsHave(s.filterFields, c) {
				continue
			}
			if idx := s.full.FieldIndices(c); len(idx) > 0 {
				s.filterFields = append(s.filterFields, s.full.Field(idx[0]))
			}
		}
	}
	s.setReadOut()
}

// setReadOut derives the read schemas from out and filterFields.
func (s *Source) setReadOut() {
	if len(s.filterFields) == 0 {
		s.readOut, s.readOutFiles = s.out, s.outFiles
		return
	}
	all := append(append([]arrow.Field(nil), s.out.Fields()...), s.filterFields...)
	var files []arrow.Field
	for _, f := range all {
		if !s.partCols[f.Name] {
			files = append(files, f)
		}
	}
	s.readOut, s.readOutFiles = arrow.NewSchema(all, nil), arrow.NewSchema(files, nil)
}

func fieldsHave(fields []arrow.Field, name string) bool {
	for _, f := range fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// filterOnFile says the filter can run on blocks as the file gives them,
// before they are conformed: every column it reads is a column of the file
// with the unified type. It also lists the string columns only the filter
// reads, which a format may decode as dictionaries.
func (s *Source) filterOnFile(meta *FileMeta) (raw bool, dict []string) {
	if s.filter.IsZero() {
		return false, nil
	}
	for _, c := range s.filter.Columns() {
		if s.partCols[c] {
			return false, nil
		}
		fi, ui := meta.Schema.FieldIndices(c), s.fileTypes.FieldIndices(c)
		if len(fi) == 0 || len(ui) == 0 || !arrow.TypeEqual(meta.Schema.Field(fi[0]).Type, s.fileTypes.Field(ui[0]).Type) {
			return false, nil
		}
	}
	for _, f := range s.filterFields {
		if f.Type.ID() == arrow.STRING || f.Type.ID() == arrow.BINARY {
			dict = append(dict, f.Name)
		}
	}
	return true, dict
}

// errReadEnough stops a read whose limit the filtered rows have reached.
var errReadEnough = errors.New("formats: read enough rows")

// collector turns the blocks a format decodes into the source's output
// blocks (conformed, filtered, cut at the limit) and hands them to emit.
type collector struct {
	s     *Source
	tc    *exec.TaskContext
	f     *sourceFile
	raw   bool  // the filter runs before conforming (filterOnFile)
	limit int64 // negative: none
	rows  int64 // emitted
	emit  func(blocks.Block) error
}

// add takes b's rows (the caller keeps its reference) and returns
// errReadEnough once the limit is reached.
func (c *collector) add(b arrow.RecordBatch) error {
	if c.limit >= 0 && c.rows >= c.limit {
		return errReadEnough
	}
	fin, err := c.s.finish(c.tc, c.tc.Alloc, c.f, b, c.raw)
	if err != nil {
		return err
	}
	n := fin.NumRows()
	if n == 0 && !c.s.filter.IsZero() {
		fin.Release()
		return nil
	}
	if c.limit >= 0 && c.rows+n > c.limit {
		cut := fin.NewSlice(0, c.limit-c.rows)
		fin.Release()
		fin, n = cut, cut.NumRows()
	}
	c.rows += n
	if err := c.emit(fin); err != nil {
		return err
	}
	if c.limit >= 0 && c.rows >= c.limit {
		return errReadEnough
	}
	return nil
}

// finish gives a decoded block the output schema and drops the rows the
// filter rules out. With raw, b is as the file gave it and the filter runs
// first, so only the output's columns of the passing rows are gathered and
// conformed.
func (s *Source) finish(ctx context.Context, mem memory.Allocator, f *sourceFile, b arrow.RecordBatch, raw bool) (arrow.RecordBatch, error) {
	if s.filter.IsZero() {
		return s.conform(mem, f, b, s.out, s.outFiles)
	}
	if raw {
		keep := make([]string, 0, b.NumCols())
		for _, fld := range b.Schema().Fields() {
			if len(s.out.FieldIndices(fld.Name)) > 0 {
				keep = append(keep, fld.Name)
			}
		}
		passed, err := ops.FilterProject(ctx, mem, s.filter, b, keep)
		if err != nil {
			return nil, err
		}
		defer passed.Release()
		return s.conform(mem, f, passed, s.out, s.outFiles)
	}
	c, err := s.conform(mem, f, b, s.readOut, s.readOutFiles)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	keep := make([]string, s.out.NumFields())
	for i, fld := range s.out.Fields() {
		keep[i] = fld.Name
	}
	passed, err := ops.FilterProject(ctx, mem, s.filter, c, keep)
	if err != nil {
		return nil, err
	}
	defer passed.Release()
	if len(s.dictCols) > 0 {
		passed.Retain() // its schema may name dictionary types
		return passed, nil
	}
	// The output schema itself, not an equal copy of it.
	return array.NewRecordBatch(s.out, passed.Columns(), passed.NumRows()), nil
}

var _ ops.DictionaryDatasource = (*Source)(nil)

// WithDictionaryColumns delivers the named string columns dictionary-encoded
// where a file stores them so (Parquet dictionary pages); other formats and
// columns come plain.
func (s *Source) WithDictionaryColumns(cols []string) ops.Datasource {
	c := *s
	c.dictCols = nil
	for _, name := range cols {
		if idx := s.out.FieldIndices(name); len(idx) > 0 && !s.partCols[name] {
			if id := s.out.Field(idx[0]).Type.ID(); id == arrow.STRING || id == arrow.BINARY {
				c.dictCols = append(c.dictCols, name)
			}
		}
	}
	return &c
}

// keepDictionaries is out and outFiles with the type of each column that b
// has dictionary-encoded, of the value type out names, made that
// dictionary type, so conforming b keeps the encoding.
func (s *Source) keepDictionaries(b arrow.RecordBatch, out, outFiles *arrow.Schema) (*arrow.Schema, *arrow.Schema) {
	if len(s.dictCols) == 0 {
		return out, outFiles
	}
	retype := func(sc *arrow.Schema) *arrow.Schema {
		var fields []arrow.Field
		for i, f := range sc.Fields() {
			idx := b.Schema().FieldIndices(f.Name)
			if len(idx) == 0 {
				continue
			}
			dt, ok := b.Schema().Field(idx[0]).Type.(*arrow.DictionaryType)
			if !ok || !arrow.TypeEqual(dt.ValueType, f.Type) {
				continue
			}
			if fields == nil {
				fields = append([]arrow.Field(nil), sc.Fields()...)
			}
			fields[i].Type = dt
		}
		if fields == nil {
			return sc
		}
		return arrow.NewSchema(fields, nil)
	}
	return retype(out), retype(outFiles)
}
