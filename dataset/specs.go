package dataset

import (
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
	"github.com/shoal-data/shoal/ops"
	"github.com/shoal-data/shoal/pipeline"
	"github.com/shoal-data/shoal/shuffle"
)

// The kinds of this package's specs. Each builder, registered in init,
// makes the function with the same constructor the transform uses.
const (
	rangeKind = "dataset.range" // read

	mapKind        = "dataset.map" // stages
	flatMapKind    = "dataset.flat-map"
	filterKind     = "dataset.filter"
	mapBatchesKind = "dataset.map-batches"
	mapColumnsKind = "dataset.map-columns"
	addColumnKind  = "dataset.add-column"
	selectKind     = "dataset.select"
	dropKind       = "dataset.drop"
	renameKind     = "dataset.rename"
	momentsKind    = "dataset.moments"

	shuffleKind   = "dataset.shuffle" // exchanges
	sortKind      = "dataset.sort"
	aggregateKind = "dataset.aggregate"
	mapGroupsKind = "dataset.map-groups"
	joinKind      = "dataset.join"

	zipTaskKind = "dataset.zip" // tasks
)

type rangeArgs struct {
	Lo int64 `json:"lo"`
	Hi int64 `json:"hi"`
}

// fnArgs describe a stage over a user's function.
type fnArgs struct {
	Fn        funcRef `json:"fn"`
	BatchSize int64   `json:"batch_size,omitempty"` // MapBatches, MapColumns
	Column    string  `json:"column,omitempty"`     // AddColumn
}

type columnsArgs struct {
	Names   []string          `json:"names,omitempty"`
	Renames map[string]string `json:"renames,omitempty"`
}

// userStage is the spec of a stage over a user's function fn, or the
// error that says why it cannot ship.
func userStage(kind, label string, fn any, a fnArgs) (*ops.Spec, error) {
	ref, err := refOf(fn)
	if err != nil {
		return nil, unshippable(label, err)
	}
	a.Fn = ref
	spec, err := ops.NewSpec(kind, a)
	if err != nil {
		return nil, unshippable(label, err)
	}
	return spec, nil
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func decodeArgs[T any](data json.RawMessage) (T, error) {
	var a T
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("decoding arguments: %w", err)
	}
	return a, nil
}

// userStageBuilder builds a stage over a user's function of type F.
func userStageBuilder[F any](make func(fn F, a fnArgs) ops.BlockFn) ops.StageBuilder {
	return func(data json.RawMessage) (ops.BlockFn, error) {
		a, err := decodeArgs[fnArgs](data)
		if err != nil {
			return nil, err
		}
		fn, err := lookupFunc[F](a.Fn)
		if err != nil {
			return nil, err
		}
		return make(fn, a), nil
	}
}

// columnStage builds a column edit: passVoid of the stage's function, as
// columnOp runs it.
func columnStage(stage func(columnsArgs) ops.BlockFn) ops.StageBuilder {
	return func(data json.RawMessage) (ops.BlockFn, error) {
		a, err := decodeArgs[columnsArgs](data)
		if err != nil {
			return nil, err
		}
		return passVoid(stage(a)), nil
	}
}

// exchangeBuilder builds an exchange from its arguments.
func exchangeBuilder[T any](funcs func(T) (pipeline.ExchangeFuncs, error)) pipeline.ExchangeBuilder {
	return func(data json.RawMessage) (pipeline.ExchangeFuncs, error) {
		a, err := decodeArgs[T](data)
		if err != nil {
			return pipeline.ExchangeFuncs{}, err
		}
		return funcs(a)
	}
}

func init() {
	ops.RegisterRead(rangeKind, func(data json.RawMessage) (ops.ReadFunc, error) {
		a, err := decodeArgs[rangeArgs](data)
		if err != nil {
			return nil, err
		}
		if a.Hi < a.Lo {
			return nil, fmt.Errorf("range %d..%d", a.Lo, a.Hi)
		}
		return rangeRead(a.Lo, a.Hi), nil
	})

	ops.RegisterStage(mapKind, userStageBuilder(func(fn func(Row) (Item, error), _ fnArgs) ops.BlockFn {
		return mapFn(fn)
	}))
	ops.RegisterStage(flatMapKind, userStageBuilder(func(fn func(Row) ([]Item, error), _ fnArgs) ops.BlockFn {
		return flatMapFn(fn)
	}))
	ops.RegisterStage(filterKind, userStageBuilder(func(fn func(Row) (bool, error), _ fnArgs) ops.BlockFn {
		return filterFn(fn)
	}))
	ops.RegisterStage(mapBatchesKind, userStageBuilder(func(fn BatchFunc, a fnArgs) ops.BlockFn {
		return batchesFn(fn, a.BatchSize)
	}))
	ops.RegisterStage(mapColumnsKind, userStageBuilder(columnsStage))
	ops.RegisterStage(addColumnKind, userStageBuilder(func(fn func(arrow.RecordBatch) (arrow.Array, error), a fnArgs) ops.BlockFn {
		return addColumnFn(a.Column, fn)
	}))
	ops.RegisterStage(selectKind, columnStage(func(a columnsArgs) ops.BlockFn { _, fn := selectStage(a.Names); return fn }))
	ops.RegisterStage(dropKind, columnStage(func(a columnsArgs) ops.BlockFn { _, fn := dropStage(a.Names); return fn }))
	ops.RegisterStage(renameKind, columnStage(func(a columnsArgs) ops.BlockFn { _, fn := renameStage(a.Renames); return fn }))
	ops.RegisterStage(momentsKind, func(data json.RawMessage) (ops.BlockFn, error) {
		a, err := decodeArgs[momentsArgs](data)
		if err != nil {
			return nil, err
		}
		return momentsFn(a.Column, a.Need), nil
	})

	pipeline.RegisterExchange(shuffleKind, exchangeBuilder(func(a shuffleArgs) (pipeline.ExchangeFuncs, error) {
		return a.funcs(), nil
	}))
	pipeline.RegisterExchange(sortKind, exchangeBuilder(func(a sortArgs) (pipeline.ExchangeFuncs, error) {
		if len(a.Keys) == 0 {
			return pipeline.ExchangeFuncs{}, fmt.Errorf("no sort keys")
		}
		return a.funcs(), nil
	}))
	pipeline.RegisterExchange(aggregateKind, exchangeBuilder(func(a aggregateArgs) (pipeline.ExchangeFuncs, error) {
		if len(a.Aggs) == 0 {
			return pipeline.ExchangeFuncs{}, fmt.Errorf("no aggregations")
		}
		return a.funcs(shuffle.NewAdaptive(a.Skip)), nil
	}))
	pipeline.RegisterExchange(mapGroupsKind, exchangeBuilder(func(a mapGroupsArgs) (pipeline.ExchangeFuncs, error) {
		fn, err := lookupFunc[BatchFunc](a.Fn)
		if err != nil {
			return pipeline.ExchangeFuncs{}, err
		}
		reduce := a.reduce(fn)
		return pipeline.ExchangeFuncs{
			Map: hashPartsMap(a.Keys),
			Reduce: func(tc *exec.TaskContext, _ int, parts []blocks.Block) ([]blocks.Block, error) {
				return reduce(tc, parts)
			},
		}, nil
	}))
	pipeline.RegisterExchange(joinKind, exchangeBuilder(func(a joinArgs) (pipeline.ExchangeFuncs, error) {
		ls, err := ops.UnmarshalSchema(a.Left)
		if err != nil {
			return pipeline.ExchangeFuncs{}, err
		}
		rs, err := ops.UnmarshalSchema(a.Right)
		if err != nil {
			return pipeline.ExchangeFuncs{}, err
		}
		return a.funcs(ls, rs), nil
	}))

	exec.RegisterTaskKind(zipTaskKind, func(data []byte) (exec.RunFunc, error) {
		a, err := decodeArgs[zipArgs](data)
		if err != nil {
			return nil, err
		}
		if len(a.From) != len(a.To) {
			return nil, fmt.Errorf("%d slice starts but %d ends", len(a.From), len(a.To))
		}
		return zipTaskFn(a.From, a.To), nil
	})
}
