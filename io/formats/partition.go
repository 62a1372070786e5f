package formats

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
)

type partitionGroup struct {
	dir  string // "a=1/b=x"
	rows []int64
}

// partitionRows groups a block's rows by the values of the partition
// columns, groups sorted by directory name. The Grouper finds the groups
// without a string per row; key types it does not hash fall back to
// rendering each row's directory.
func partitionRows(b arrow.RecordBatch, by []string) ([]partitionGroup, error) {
	cols := make([]arrow.Array, len(by))
	for i, name := range by {
		idx := b.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, &blocks.UnknownColumnError{Column: name, Schema: b.Schema()}
		}
		cols[i] = b.Column(idx[0])
		switch cols[i].DataType().ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.STRUCT, arrow.MAP, arrow.FIXED_SIZE_LIST:
			return nil, fmt.Errorf("partition column %q is %s; partition by a scalar column", name, cols[i].DataType())
		}
	}
	groups, ok := partitionByGrouper(b, by)
	if !ok {
		groups = partitionByRow(b, by, cols)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].dir < groups[j].dir })
	return groups, nil
}

// partitionByGrouper groups rows with a blocks.Grouper and renders one
// directory per group; false when the key types are not groupable.
func partitionByGrouper(b arrow.RecordBatch, by []string) ([]partitionGroup, bool) {
	keys, err := blocks.Select(b, by)
	if err != nil {
		return nil, false
	}
	defer keys.Release()
	g, err := blocks.NewGrouper(keys.Schema())
	if err != nil {
		return nil, false
	}
	gids, err := g.Add(keys, by)
	if err != nil {
		return nil, false
	}
	distinct, err := g.Keys(memory.DefaultAllocator)
	if err != nil {
		return nil, false
	}
	defer distinct.Release()
	groups := make([]partitionGroup, g.NumGroups())
	for id := range groups {
		groups[id].dir = partitionDir(by, distinct.Columns(), id)
	}
	for r, id := range gids {
		groups[id].rows = append(groups[id].rows, int64(r))
	}
	return groups, true
}

// partitionByRow renders every row's directory and groups by it.
func partitionByRow(b arrow.RecordBatch, by []string, cols []arrow.Array) []partitionGroup {
	index := map[string]int{}
	var groups []partitionGroup
	for r := range int(b.NumRows()) {
		k := partitionDir(by, cols, r)
		g, ok := index[k]
		if !ok {
			g = len(groups)
			index[k] = g
			groups = append(groups, partitionGroup{dir: k})
		}
		groups[g].rows = append(groups[g].rows, int64(r))
	}
	return groups
}

// partitionDir is row r's directory: "a=1/b=x", values path-escaped and
// nulls written as Hive's default partition.
func partitionDir(by []string, cols []arrow.Array, r int) string {
	var key strings.Builder
	for i, c := range cols {
		if i > 0 {
			key.WriteByte('/')
		}
		key.WriteString(by[i])
		key.WriteByte('=')
		if c.IsNull(r) {
			key.WriteString("__HIVE_DEFAULT_PARTITION__")
		} else {
			key.WriteString(url.PathEscape(c.ValueStr(r)))
		}
	}
	return key.String()
}
