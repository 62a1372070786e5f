// DuckDB peer of shoalbench (bench/suite/SPEC.md), through @duckdb/node-api.
// Reads {"workload","dir","threads","out"} on stdin, prints one JSON line.
// The timer covers the workload's SQL only: the module load, the instance
// and connection, and reading the answer back from a materialized result
// are outside it.

import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  BATCH_ROWS, Q1_KEYS, Q1_SHIP_BEFORE, Q6_SHIP_FROM, Q6_SHIP_TO, TOP_K, TRIPS_COLUMNS,
  freshDir, groupSums, key64, main, num, quote, sortAnswer, timed, topkAnswer,
  tripsCSVColumns,
} from './common.mjs';

async function setup(req) {
  const tmp = path.join(req.out, 'duckdb.tmp'); // spills, never the cwd
  fs.mkdirSync(tmp, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(req.threads),
    temp_directory: tmp,
  });
  const con = await instance.connect();
  await con.run(`SET threads = ${req.threads}`);
  await con.run('SET preserve_insertion_order = true'); // the default; sorts rely on it
  return { instance, con, dir: req.dir };
}

const src = (ctx, rel) => `read_parquet(${quote(path.join(ctx.dir, rel))})`;
const trips = (ctx) => src(ctx, 'trips/*.parquet');

// one runs sql and returns its single row.
async function one(con, sql) {
  const r = await con.runAndReadAll(sql);
  return r.getRows()[0];
}

// groupby groups groupby.parquet by key into a temp table, then sums the
// per-group aggregates outside the timer.
function groupby(key) {
  return async ({ con, ...ctx }) => {
    const [, ms] = await timed(() => con.run(
      `CREATE TEMP TABLE g AS SELECT ${key}, count(*) AS c, sum(v) AS s, avg(v) AS m
       FROM ${src(ctx, 'groupby.parquet')} GROUP BY ${key}`));
    const [groups, sc, ss, sm] = await one(con, 'SELECT count(*), sum(c), sum(s), sum(m) FROM g');
    return { ms, answer: { groups: num(groups), sum_count: num(sc), sum_sum: num(ss), sum_mean: num(sm) } };
  };
}

// sort sorts sortdata.parquet by key into a temp table; the table keeps the
// ORDER BY's order (preserve_insertion_order), so rowid is the sorted
// position when the answer is read outside the timer.
function sort(key, toNumber) {
  return async ({ con, ...ctx }) => {
    const [, ms] = await timed(() => con.run(
      `CREATE TEMP TABLE s AS SELECT * FROM ${src(ctx, 'sortdata.parquet')} ORDER BY ${key}`));
    const [n] = await one(con, 'SELECT count(*) FROM s');
    const answer = await sortAnswer(num(n), async (pos) => {
      const uniq = [...new Set(pos)];
      const r = await con.runAndReadAll(`SELECT rowid, ${key} FROM s WHERE rowid IN (${uniq.join(',')})`);
      const at = new Map(r.getRows().map(([rowid, k]) => [num(rowid), toNumber(k)]));
      return pos.map((p) => {
        if (!at.has(p)) throw new Error(`sorted row ${p} not found`);
        return at.get(p);
      });
    });
    return { ms, answer };
  };
}

const workloads = {
  async scan_filter_sum({ con, ...ctx }) {
    const [row, ms] = await timed(() => one(con,
      `SELECT count(*), sum(fare), sum(tip) FROM ${trips(ctx)}
       WHERE distance > 5 AND payment = 'card'`));
    return { ms, answer: { rows: num(row[0]), sum_fare: num(row[1]), sum_tip: num(row[2]) } };
  },

  async map_arith({ con, ...ctx }) {
    const [row, ms] = await timed(() => one(con,
      `SELECT count(*), sum(y) FROM (
         SELECT fare * CAST(1.08 AS DOUBLE) + tip - distance * CAST(0.5 AS DOUBLE) AS y
         FROM ${trips(ctx)})`));
    return { ms, answer: { rows: num(row[0]), sum_y: num(row[1]) } };
  },

  groupby_100: groupby('k100'),
  groupby_1m: groupby('k1m'),

  async unique({ con, ...ctx }) {
    const [, ms] = await timed(() => con.run(
      `CREATE TEMP TABLE u AS SELECT DISTINCT k1m FROM ${src(ctx, 'groupby.parquet')}`));
    const [n, s] = await one(con, 'SELECT count(*), sum(k1m) FROM u');
    return { ms, answer: { distinct: num(n), sum_keys: num(s) } };
  },
  sort_int: sort('k', num),
  sort_str: sort('s', key64),

  async shuffle({ con, ...ctx }) {
    const [, ms] = await timed(() => con.run(
      `CREATE TEMP TABLE sh AS SELECT * FROM ${src(ctx, 'shuffle.parquet')} ORDER BY random()`));
    const [n, sumID] = await one(con, 'SELECT count(*), sum(id) FROM sh');
    // moved: some position holds another row than the input's there.
    const [differ] = await one(con,
      `SELECT count(*) FROM (SELECT rowid AS pos, id FROM sh) o
       JOIN read_parquet(${quote(path.join(ctx.dir, 'shuffle.parquet'))}, file_row_number = true) i
         ON o.pos = i.file_row_number
       WHERE o.id <> i.id`);
    return { ms, answer: { rows: num(n), sum_id: num(sumID), moved: num(differ) > 0 ? 1 : 0 } };
  },

  async join({ con, ...ctx }) {
    const [, ms] = await timed(() => con.run(
      `CREATE TEMP TABLE j AS SELECT l.k, l.a, r.b
       FROM ${src(ctx, 'join_left.parquet')} l JOIN ${src(ctx, 'join_right.parquet')} r ON l.k = r.k`));
    const [n, sa, sb] = await one(con, 'SELECT count(*), sum(a), sum(b) FROM j');
    return { ms, answer: { rows: num(n), sum_a: num(sa), sum_b: num(sb) } };
  },

  // csv_etl reads trips_csv/ with its schema given (as Polars is given
  // it): the columns in the files' header order, read outside the timer;
  // DuckDB's sniffer would otherwise cost more than the read itself.
  async csv_etl({ con, ...ctx }, req) {
    const csvDir = path.join(ctx.dir, 'trips_csv');
    const types = {
      id: 'BIGINT', vendor: 'BIGINT', pickup_ts: 'TIMESTAMP', passengers: 'BIGINT',
      distance: 'DOUBLE', fare: 'DOUBLE', tip: 'DOUBLE', payment: 'VARCHAR', zone: 'BIGINT',
    };
    const columns = tripsCSVColumns(csvDir).map((c) => {
      if (!(c in types)) throw new Error(`trips_csv has an unknown column ${c} (want ${TRIPS_COLUMNS})`);
      return `${quote(c)}: ${quote(types[c])}`;
    });
    const out = freshDir(req.out, 'csv_etl-duckdb-');
    const [, ms] = await timed(() => con.run(
      `COPY (
         SELECT *, fare / distance AS fare_per_mile
         FROM read_csv(${quote(path.join(csvDir, '*.csv'))}, header = true, auto_detect = false,
                       delim = ',', quote = '"', escape = '"', columns = {${columns.join(', ')}})
         WHERE fare > 0 AND distance > 0 AND passengers IS NOT NULL
       ) TO ${quote(out)} (FORMAT parquet, COMPRESSION snappy, PER_THREAD_OUTPUT true)`));
    const [n, s] = await one(con,
      `SELECT count(*), sum(fare_per_mile) FROM read_parquet(${quote(path.join(out, '*.parquet'))})`);
    return { ms, answer: { rows: num(n), sum_fare_per_mile: num(s) } };
  },

  // csv_convert converts trips_one.csv as a new user would: DuckDB's
  // sniffer infers the types (inside the timer, as Shoal's inference is).
  async csv_convert({ con, ...ctx }, req) {
    const out = freshDir(req.out, 'csv_convert-duckdb-');
    const [, ms] = await timed(() => con.run(
      `COPY (SELECT * FROM read_csv(${quote(path.join(ctx.dir, 'trips_one.csv'))}))
       TO ${quote(out)} (FORMAT parquet, COMPRESSION snappy, PER_THREAD_OUTPUT true)`));
    const [n, s] = await one(con,
      `SELECT count(*), sum(fare) FROM read_parquet(${quote(path.join(out, '*.parquet'))})`);
    return { ms, answer: { rows: num(n), sum_fare: num(s) } };
  },

  // ingest streams the result chunks (2048 rows or fewer) and hands the
  // rows to the consumer in batches of BATCH_ROWS, in order, cut across
  // chunk and file boundaries; the consumer sums id and fare per batch.
  async ingest({ con, ...ctx }) {
    const [answer, ms] = await timed(async () => {
      const result = await con.stream(`SELECT id, fare FROM ${trips(ctx)}`);
      let rows = 0; let batches = 0; let sumID = 0; let sumFare = 0;
      let inBatch = 0; let bID = 0; let bFare = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const n = chunk.rowCount;
        const ids = chunk.getColumnVector(0);
        const fares = chunk.getColumnVector(1);
        for (let i = 0; i < n;) {
          const end = Math.min(n, i + BATCH_ROWS - inBatch);
          inBatch += end - i;
          for (; i < end; i++) {
            bID += Number(ids.getItem(i));
            bFare += fares.getItem(i);
          }
          if (inBatch === BATCH_ROWS) {
            rows += inBatch; batches++; sumID += bID; sumFare += bFare;
            inBatch = 0; bID = 0; bFare = 0;
          }
        }
      }
      if (inBatch > 0) {
        rows += inBatch; batches++; sumID += bID; sumFare += bFare;
      }
      return { rows, batches, sum_id: sumID, sum_fare: sumFare };
    });
    return { ms, answer };
  },

  pipeline: {
    unsupported: 'the pipeline workload (I/O-latency read → CPU map → GPU-latency actor, streaming) is Shoal only; DuckDB cannot express it',
  },

  // tpch_q1 is TPC-H's query 1 (without its ORDER BY, which Shoal's
  // GroupBy has no need of): the four groups are read inside the timer.
  async tpch_q1({ con, ...ctx }) {
    const [r, ms] = await timed(() => con.runAndReadAll(
      `SELECT l_returnflag, l_linestatus,
         sum(l_quantity) AS sum_qty,
         sum(l_extendedprice) AS sum_base_price,
         sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
         sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
         avg(l_quantity) AS sum_avg_qty,
         avg(l_extendedprice) AS sum_avg_price,
         avg(l_discount) AS sum_avg_disc,
         count(*) AS sum_count
       FROM ${src(ctx, 'lineitem/*.parquet')}
       WHERE l_shipdate <= DATE '${Q1_SHIP_BEFORE}'
       GROUP BY l_returnflag, l_linestatus`));
    const rows = r.getRows();
    const names = r.columnNames();
    const answer = groupSums(rows.length, Q1_KEYS, (k) => rows.map((row) => row[names.indexOf(k)]));
    return { ms, answer };
  },

  async tpch_q6({ con, ...ctx }) {
    const [row, ms] = await timed(() => one(con,
      `SELECT count(*), sum(l_extendedprice * l_discount)
       FROM ${src(ctx, 'lineitem/*.parquet')}
       WHERE l_shipdate >= DATE '${Q6_SHIP_FROM}' AND l_shipdate < DATE '${Q6_SHIP_TO}'
         AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24`));
    return { ms, answer: { rows: num(row[0]), revenue: num(row[1]) } };
  },

  async topk_10({ con, ...ctx }) {
    const [r, ms] = await timed(() => con.runAndReadAll(
      `SELECT * FROM ${src(ctx, 'topk.parquet')} ORDER BY score DESC LIMIT ${TOP_K}`));
    const at = r.columnNames().indexOf('score');
    return { ms, answer: topkAnswer(r.getRows().map((row) => row[at]), r.columnCount) };
  },

  async join_groupby({ con, ...ctx }) {
    const [r, ms] = await timed(() => con.runAndReadAll(
      `SELECT z.borough, count(*) AS rows, sum(t.fare) AS sum_fare
       FROM ${trips(ctx)} t JOIN ${src(ctx, 'zones.parquet')} z ON t.zone = z.zone_id
       GROUP BY z.borough`));
    const rows = r.getRows();
    const names = r.columnNames();
    const answer = groupSums(rows.length, ['rows', 'sum_fare'], (k) => rows.map((row) => row[names.indexOf(k)]));
    return { ms, answer };
  },
};

await main('duckdb', setup, workloads);
