// The part of a peer run that does not depend on the engine: the request on
// stdin, the reply on stdout, the timer and the answer helpers of
// bench/suite/SPEC.md.

import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

// The workloads of SPEC.md, each a peer either runs or calls unsupported.
export const WORKLOADS = [
  'scan_filter_sum', 'map_arith', 'groupby_100', 'groupby_1m', 'unique', 'sort_int',
  'sort_str', 'shuffle', 'join', 'csv_etl', 'csv_convert', 'ingest', 'pipeline',
  'tpch_q1', 'tpch_q6', 'topk_10', 'join_groupby',
];

// TPC-H's dates of the expression workloads (SPEC.md), as ISO days.
export const Q1_SHIP_BEFORE = '1998-09-02'; // inclusive
export const Q6_SHIP_FROM = '1994-01-01'; // inclusive
export const Q6_SHIP_TO = '1995-01-01'; // exclusive

// The rows topk_10 keeps.
export const TOP_K = 10;

// The tpch_q1 aggregates, in the answer's names: each is summed over the
// groups.
export const Q1_KEYS = [
  'sum_qty', 'sum_base_price', 'sum_disc_price', 'sum_charge',
  'sum_avg_qty', 'sum_avg_price', 'sum_avg_disc', 'sum_count',
];

// groupSums builds a grouped answer: the group count and, for each name,
// the sum over the groups of valuesOf(name) (one value per group).
export function groupSums(groups, names, valuesOf) {
  const a = { groups };
  for (const n of names) a[n] = valuesOf(n).reduce((s, v) => s + num(v), 0);
  return a;
}

// topkAnswer is topk_10's answer from the scores in output order and the
// column count.
export function topkAnswer(scores, columns) {
  const a = { rows: scores.length, columns, sum_score: 0, first: 0, last: 0 };
  for (let i = 0; i < scores.length; i++) {
    if (i > 0 && scores[i] > scores[i - 1]) throw new Error(`top-k out of order at row ${i}`);
    a.sum_score += num(scores[i]);
  }
  if (scores.length > 0) { a.first = num(scores[0]); a.last = num(scores[scores.length - 1]); }
  return a;
}

// The rows of one ingest batch.
export const BATCH_ROWS = 1024;

// The trips columns and their types, for readers that take a schema.
export const TRIPS_COLUMNS = [
  'id', 'vendor', 'pickup_ts', 'passengers', 'distance', 'fare', 'tip',
  'payment', 'zone',
];

// An error a workload throws when the engine cannot run it.
export class Unsupported extends Error {}

// readRequest parses the JSON request on stdin.
export function readRequest() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  if (typeof req.workload !== 'string' || typeof req.dir !== 'string') {
    throw new Error('request needs "workload" and "dir"');
  }
  req.threads = Math.max(1, Math.floor(Number(req.threads) || 1));
  req.out = req.out || os.tmpdir();
  return req;
}

// timed runs fn (async or not) and returns [its result, elapsed ms].
export async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

// num turns an engine value (bigint, number, null for an empty sum) into a
// JSON number. Integer answers stay exact below 2^53 (a sum of ids at 30M
// rows is about 4.5e14).
export function num(v) {
  if (v === null || v === undefined) return 0;
  return Number(v);
}

// probePositions are the sorted positions SPEC.md samples: j*n/100.
export function probePositions(n) {
  const p = [];
  for (let j = 0; j < 100; j++) p.push(Math.floor((j * n) / 100));
  return p;
}

// key64 is a sort_str key as SPEC.md reads it: the first 8 bytes of the
// string (zero-padded) as a big-endian uint64, as float64.
export function key64(s) {
  const b = Buffer.from(String(s), 'utf8');
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(i < b.length ? b[i] : 0);
  return Number(v);
}

// sortAnswer builds the sort answer from the row count and a function that
// returns the numeric keys at the given sorted positions (in that order).
export async function sortAnswer(n, keysAt) {
  if (n === 0) return { rows: 0, first: 0, last: 0, probe: 0 };
  const pos = probePositions(n);
  const keys = await keysAt([0, n - 1, ...pos]);
  let probe = 0;
  for (let j = 0; j < pos.length; j++) probe += keys[2 + j];
  return { rows: n, first: keys[0], last: keys[1], probe };
}

// freshDir makes a new empty directory under out for a workload's output
// and returns a path inside it that does not exist yet.
export function freshDir(out, prefix) {
  fs.mkdirSync(out, { recursive: true });
  return path.join(fs.mkdtempSync(path.join(out, prefix)), 'out');
}

// quote quotes a string as an SQL literal.
export function quote(s) {
  return `'${String(s).replaceAll("'", "''")}'`;
}

// tripsCSVColumns reads the header of the first trips_csv file (outside any
// timer) so that readers given a positional schema get the file's order.
export function tripsCSVColumns(dir) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.csv')).sort();
  if (files.length === 0) throw new Error(`no CSV files in ${dir}`);
  const fd = fs.openSync(path.join(dir, files[0]), 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const line = buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0];
    return line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  } finally {
    fs.closeSync(fd);
  }
}

// peakRSS is this process's peak resident set (VmHWM) in bytes, 0 where
// /proc is missing. Not rusage's maxrss: that starts from the parent's
// peak, as the child was forked from it before node was exec'd.
function peakRSS() {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// reply prints the one-line JSON reply and exits.
function reply(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

// main reads the request, sets the engine up (setup(req) → ctx, untimed),
// runs the workload (run(ctx, req) → {ms, answer}) and prints the reply.
// Setup and answer extraction are the engine's business; run must time only
// the workload itself.
export async function main(engine, setup, workloads) {
  let req;
  try {
    req = readRequest();
    const w = Object.hasOwn(workloads, req.workload) ? workloads[req.workload] : undefined;
    if (w === undefined) {
      if (WORKLOADS.includes(req.workload)) throw new Unsupported(`${engine} has no ${req.workload}`);
      throw new Error(`unknown workload ${JSON.stringify(req.workload)}`);
    }
    if (w.unsupported) throw new Unsupported(w.unsupported);
    const ctx = await setup(req);
    const rssBefore = process.memoryUsage.rss(); // the peak's baseline
    const { ms, answer } = await w(ctx, req);
    for (const [k, v] of Object.entries(answer)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`answer ${k} = ${String(v)} is not a finite number`);
      }
    }
    reply({ engine, workload: req.workload, ms, answer, rss_before: rssBefore, rss_peak: peakRSS() }, 0);
  } catch (e) {
    const unsupported = e instanceof Unsupported;
    if (!unsupported && e?.stack) process.stderr.write(`${e.stack}\n`);
    reply({
      engine,
      workload: req?.workload ?? '',
      error: e instanceof Error ? e.message : String(e),
      unsupported,
    }, unsupported ? 0 : 1);
  }
}
