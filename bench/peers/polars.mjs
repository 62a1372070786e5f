// Polars peer of shoalbench (bench/suite/SPEC.md), through nodejs-polars.
// Reads {"workload","dir","threads","out"} on stdin, prints one JSON line.
// Threads: Polars sizes its pool from POLARS_MAX_THREADS, which the Go
// runner sets in this process's environment before node starts. The timer
// covers the workload's query and its collect() only; reading the answer
// from the collected DataFrame is outside it.

import path from 'node:path';
import pl from 'nodejs-polars';
import {
  BATCH_ROWS, Q1_KEYS, Q1_SHIP_BEFORE, Q6_SHIP_FROM, Q6_SHIP_TO, TOP_K, TRIPS_COLUMNS,
  freshDir, groupSums, key64, main, num, sortAnswer, timed, topkAnswer,
  tripsCSVColumns,
} from './common.mjs';

const { col, lit } = pl;

function setup(req) {
  const want = String(req.threads);
  if (process.env.POLARS_MAX_THREADS !== want) {
    // Too late to size the pool from here: the runner must set it.
    throw new Error(`POLARS_MAX_THREADS is ${JSON.stringify(process.env.POLARS_MAX_THREADS)}, want ${want}`);
  }
  return { dir: req.dir };
}

const file = (ctx, rel) => path.join(ctx.dir, rel);
const trips = (ctx) => pl.scanParquet(file(ctx, 'trips/*.parquet'));
const lineitem = (ctx) => pl.scanParquet(file(ctx, 'lineitem/*.parquet'));

// day is an ISO day as a Polars Date literal.
const day = (iso) => lit(new Date(`${iso}T00:00:00Z`)).cast(pl.Date);

// sum is the sum of a collected column as a JSON number.
const sum = (df, name) => num(df.getColumn(name).sum());

function groupby(key) {
  return async (ctx) => {
    const [df, ms] = await timed(() => pl.scanParquet(file(ctx, 'groupby.parquet'))
      .groupBy(key)
      .agg(pl.len().alias('count'), col('v').sum().alias('sum'), col('v').mean().alias('mean'))
      .collect());
    return {
      ms,
      answer: { groups: df.height, sum_count: sum(df, 'count'), sum_sum: sum(df, 'sum'), sum_mean: sum(df, 'mean') },
    };
  };
}

function sort(key, toNumber) {
  return async (ctx) => {
    const [df, ms] = await timed(() => pl.scanParquet(file(ctx, 'sortdata.parquet')).sort(key).collect());
    const keys = df.getColumn(key);
    const answer = await sortAnswer(df.height, (pos) => pos.map((p) => toNumber(keys.get(p))));
    return { ms, answer };
  };
}

const workloads = {
  async scan_filter_sum(ctx) {
    const [df, ms] = await timed(() => trips(ctx)
      .filter(col('distance').gt(5).and(col('payment').eq(lit('card'))))
      .select(pl.len().alias('rows'), col('fare').sum().alias('sum_fare'), col('tip').sum().alias('sum_tip'))
      .collect());
    return { ms, answer: { rows: sum(df, 'rows'), sum_fare: sum(df, 'sum_fare'), sum_tip: sum(df, 'sum_tip') } };
  },

  async map_arith(ctx) {
    const [df, ms] = await timed(() => trips(ctx)
      .withColumns(col('fare').mul(1.08).add(col('tip')).sub(col('distance').mul(0.5)).alias('y'))
      .select(pl.len().alias('rows'), col('y').sum().alias('sum_y'))
      .collect());
    return { ms, answer: { rows: sum(df, 'rows'), sum_y: sum(df, 'sum_y') } };
  },

  groupby_100: groupby('k100'),
  groupby_1m: groupby('k1m'),

  async unique(ctx) {
    const [df, ms] = await timed(() => pl.scanParquet(file(ctx, 'groupby.parquet'))
      .select(col('k1m').unique())
      .collect());
    return { ms, answer: { distinct: df.height, sum_keys: sum(df, 'k1m') } };
  },
  sort_int: sort('k', num),
  sort_str: sort('s', key64),

  // shuffle: a sample of all rows without replacement, in random order.
  async shuffle(ctx) {
    const [[input, df], ms] = await timed(() => {
      const input = pl.readParquet(file(ctx, 'shuffle.parquet'));
      return [input, input.sample({ frac: 1, withReplacement: false, shuffle: true })];
    });
    const moved = df.getColumn('id').seriesEqual(input.getColumn('id')) ? 0 : 1;
    return { ms, answer: { rows: df.height, sum_id: sum(df, 'id'), moved } };
  },

  async join(ctx) {
    const [df, ms] = await timed(() => pl.scanParquet(file(ctx, 'join_left.parquet'))
      .join(pl.scanParquet(file(ctx, 'join_right.parquet')), { on: 'k', how: 'inner' })
      .collect());
    return { ms, answer: { rows: df.height, sum_a: sum(df, 'a'), sum_b: sum(df, 'b') } };
  },

  async csv_etl(ctx, req) {
    const csvDir = file(ctx, 'trips_csv');
    const types = {
      id: pl.Int64, vendor: pl.Int64, pickup_ts: pl.Datetime('us'), passengers: pl.Int64,
      distance: pl.Float64, fare: pl.Float64, tip: pl.Float64, payment: pl.String, zone: pl.Int64,
    };
    const header = tripsCSVColumns(csvDir); // outside the timer: the positional schema
    const schema = {};
    for (const c of header) {
      if (!(c in types)) throw new Error(`trips_csv has an unknown column ${c} (want ${TRIPS_COLUMNS})`);
      schema[c] = types[c];
    }
    const out = path.join(freshDir(req.out, 'csv_etl-polars-'), 'part-000.parquet');
    const [, ms] = await timed(() => pl.scanCSV(path.join(csvDir, '*.csv'), { hasHeader: true, schema })
      .filter(col('fare').gt(0).and(col('distance').gt(0)).and(col('passengers').isNotNull()))
      .withColumns(col('fare').div(col('distance')).alias('fare_per_mile'))
      .sinkParquet(out, { compression: 'snappy', mkdir: true })
      .collect());
    const df = pl.readParquet(out);
    return { ms, answer: { rows: df.height, sum_fare_per_mile: sum(df, 'fare_per_mile') } };
  },

  // csv_convert converts trips_one.csv with Polars' inferred schema.
  async csv_convert(ctx, req) {
    const out = path.join(freshDir(req.out, 'csv_convert-polars-'), 'part-000.parquet');
    const [, ms] = await timed(() => pl.scanCSV(file(ctx, 'trips_one.csv'))
      .sinkParquet(out, { compression: 'snappy', mkdir: true })
      .collect());
    const df = pl.readParquet(out);
    return { ms, answer: { rows: df.height, sum_fare: sum(df, 'fare') } };
  },

  // ingest collects id and fare of trips/ and hands the DataFrame to the
  // consumer in zero-copy slices of BATCH_ROWS rows, in order; the
  // consumer copies each slice's two columns into JS typed arrays and sums
  // them. The slices are taken on the native DataFrame (df._df) when the
  // binding has it: nodejs-polars's JS wrappers build a Proxy of some 300
  // closures per DataFrame and Series, which at 1024 rows a batch costs
  // several times Polars's own work (about 0.6 ms a batch), and that
  // overhead is the binding's, not the engine's.
  async ingest(ctx) {
    const [answer, ms] = await timed(async () => {
      const df = await trips(ctx).select('id', 'fare').collect();
      const n = df.height;
      const raw = df._df;
      const fast = raw && typeof raw.slice === 'function' && typeof raw.column === 'function';
      const batch = fast
        ? (off) => { const b = raw.slice(off, BATCH_ROWS); return [b.column('id'), b.column('fare')]; }
        : (off) => { const b = df.slice(off, BATCH_ROWS); return [b.getColumn('id'), b.getColumn('fare')]; };
      let batches = 0; let sumID = 0; let sumFare = 0;
      for (let off = 0; off < n; off += BATCH_ROWS) {
        const [idCol, fareCol] = batch(off);
        const ids = idCol.toTypedArray(); // BigInt64Array
        const fares = fareCol.toTypedArray(); // Float64Array
        let bID = 0; let bFare = 0;
        for (let i = 0; i < ids.length; i++) {
          bID += Number(ids[i]);
          bFare += fares[i];
        }
        batches++; sumID += bID; sumFare += bFare;
      }
      return { rows: n, batches, sum_id: sumID, sum_fare: sumFare };
    });
    return { ms, answer };
  },

  pipeline: {
    unsupported: 'the pipeline workload (I/O-latency read → CPU map → GPU-latency actor, streaming) is Shoal only; Polars cannot express it',
  },

  async tpch_q1(ctx) {
    const discPrice = col('l_extendedprice').mul(lit(1).sub(col('l_discount')));
    const [df, ms] = await timed(() => lineitem(ctx)
      .filter(col('l_shipdate').ltEq(day(Q1_SHIP_BEFORE)))
      .groupBy(['l_returnflag', 'l_linestatus'])
      .agg(
        col('l_quantity').sum().alias('sum_qty'),
        col('l_extendedprice').sum().alias('sum_base_price'),
        discPrice.sum().alias('sum_disc_price'),
        discPrice.mul(lit(1).add(col('l_tax'))).sum().alias('sum_charge'),
        col('l_quantity').mean().alias('sum_avg_qty'),
        col('l_extendedprice').mean().alias('sum_avg_price'),
        col('l_discount').mean().alias('sum_avg_disc'),
        pl.len().alias('sum_count'),
      )
      .collect());
    return { ms, answer: groupSums(df.height, Q1_KEYS, (k) => [sum(df, k)]) };
  },

  async tpch_q6(ctx) {
    const [df, ms] = await timed(() => lineitem(ctx)
      .filter(col('l_shipdate').gtEq(day(Q6_SHIP_FROM))
        .and(col('l_shipdate').lt(day(Q6_SHIP_TO)))
        .and(col('l_discount').gtEq(0.05)).and(col('l_discount').ltEq(0.07))
        .and(col('l_quantity').lt(24)))
      .select(pl.len().alias('rows'), col('l_extendedprice').mul(col('l_discount')).sum().alias('revenue'))
      .collect());
    return { ms, answer: { rows: sum(df, 'rows'), revenue: sum(df, 'revenue') } };
  },

  async topk_10(ctx) {
    const [df, ms] = await timed(() => pl.scanParquet(file(ctx, 'topk.parquet'))
      .sort('score', true)
      .limit(TOP_K)
      .collect());
    return { ms, answer: topkAnswer([...df.getColumn('score')], df.width) };
  },

  async join_groupby(ctx) {
    const [df, ms] = await timed(() => trips(ctx)
      .join(pl.scanParquet(file(ctx, 'zones.parquet')), { leftOn: 'zone', rightOn: 'zone_id', how: 'inner' })
      .groupBy('borough')
      .agg(pl.len().alias('rows'), col('fare').sum().alias('sum_fare'))
      .collect());
    return { ms, answer: groupSums(df.height, ['rows', 'sum_fare'], (k) => [sum(df, k)]) };
  },
};

await main('polars', setup, workloads);
