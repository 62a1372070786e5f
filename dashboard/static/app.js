// Shoal dashboard front end.
//
// One small script, no framework: hash routing (#/jobs, #/jobs/ID, #/nodes),
// a 1 s poll of the JSON API, and views rendered as HTML strings. To avoid
// flicker and keep scroll positions / open <details> across polls, every view
// is split into long-lived container elements whose innerHTML is replaced only
// when its freshly built string differs from the last one (see patch()).
//
// Everything that comes from the API is passed through esc() before it is put
// into HTML or SVG markup: job names, operator labels and errors contain <, > and &.
// No inline style attributes or handlers are emitted, so a strict CSP works too.
'use strict';

(function () {
  const POLL_MS = 1000;       // view refresh period
  const SPANS_POLL_MS = 2000; // spans of a running run are refetched at most this often
  const FULL_RUNS = 10;       // newest runs drawn fully; older ones sit in a <details>

  // Stable operator palette (by op index). Red is left out: it marks failures.
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2',
    '#edc948', '#9c755f', '#ff9da7', '#6b6ecf', '#8cd17d', '#bab0ac', '#d4a6c8'];
  const FAIL_COLOR = '#dc2626';

  const $view = document.getElementById('view');
  const $mode = document.getElementById('mode');
  const $updated = document.getElementById('updated');
  const $banner = document.getElementById('banner');

  // ---------------------------------------------------------------- formatting

  const NUM = new Intl.NumberFormat('en-US');

  function esc(v) {
    return String(v == null ? '' : v).replace(/[&<>"']/g, (c) => (
      { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  const isNum = (n) => typeof n === 'number' && isFinite(n);

  function fmtNum(n) { return isNum(n) ? NUM.format(n) : '—'; }

  // 512 B, 1.5 KiB, 3.2 MiB, 1.0 GiB, 512 MiB (no decimal once >= 100).
  function fmtBytes(n) {
    if (!isNum(n) || n < 0) return '—';
    if (n < 1024) return Math.round(n) + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1023.95 && i < units.length - 1) { v /= 1024; i++; }
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }

  // 450 ms, 1.2 s, 3 m 4 s, 2 h 5 m.
  function fmtDuration(sec) {
    if (!isNum(sec) || sec < 0) return '—';
    if (sec < 1) return Math.round(sec * 1000) + ' ms';
    if (sec < 59.95) return sec.toFixed(1) + ' s';
    const s = Math.round(sec);
    if (s < 3600) return Math.floor(s / 60) + ' m ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' m';
  }

  function fmtSeconds(sec) { return isNum(sec) ? sec.toFixed(sec < 10 ? 2 : 1) : '—'; }

  const pad2 = (n) => String(n).padStart(2, '0');
  const clock = (d) => pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());

  // Local time; the date is only shown when it is not today.
  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return '—';
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return clock(d);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + clock(d);
  }

  // "2 s ago", measured against the server clock (overview.now) to ignore skew.
  let clockSkewMs = 0;
  function fmtAgo(iso) {
    const t = Date.parse(iso || '');
    if (isNaN(t)) return '—';
    const s = Math.max(0, Math.round((Date.now() + clockSkewMs - t) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' m ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function trim(s, max) {
    s = String(s == null ? '' : s);
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }

  // CSS-safe class suffix for a state. Servers may decorate states ("waiting on X",
  // "8 running"), so a known keyword anywhere wins; otherwise the first word.
  const STATE_WORDS = ['failed', 'cancelled', 'backpressured', 'waiting', 'running', 'succeeded', 'finished',
    'done', 'stopped', 'alive', 'dead', 'left', 'embedded', 'cluster'];
  function stateClass(state) {
    const s = String(state || '').toLowerCase().trim();
    const known = STATE_WORDS.find((w) => new RegExp('\\b' + w + '\\b').test(s));
    return known || s.split(/\s+/)[0].replace(/[^a-z0-9-]/g, '') || 'none';
  }

  function badge(state) {
    return '<span class="state state-' + stateClass(state) + '">' + esc(state || '—') + '</span>';
  }

  // Small colored square; an SVG so that no inline style attribute is needed.
  function swatch(fill, stroke) {
    return '<svg class="swatch" width="12" height="12"><rect x="1" y="1" width="10" height="10" rx="2" fill="' + fill + '"' +
      (stroke ? ' stroke="' + stroke + '" stroke-width="1.5"' : '') + '/></svg>';
  }

  const opColor = (i) => PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];

  function tasksText(op) {
    const total = isNum(op.tasks_total) && op.tasks_total >= 0 ? fmtNum(op.tasks_total) : '?';
    return fmtNum(op.tasks_done) + ' / ' + total;
  }

  // ---------------------------------------------------------------- API

  class AuthError extends Error {}

  async function api(path) {
    const res = await fetch(path, { credentials: 'same-origin' });
    if (res.status === 401) {
      // Session is gone: the Go side serves the login page.
      location.href = '/login';
      throw new AuthError('unauthorized');
    }
    if (!res.ok) {
      const err = new Error(path + ': HTTP ' + res.status);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  const enc = encodeURIComponent;
  const runPath = (jobId, runId) => '/api/jobs/' + enc(jobId) + '/runs/' + enc(runId);

  // ---------------------------------------------------------------- DOM helpers

  // Replace el's content only when the markup changed; keep its scroll offset.
  function patch(el, html) {
    if (el._html === html) return;
    const left = el.scrollLeft;
    const top = el.scrollTop;
    el.innerHTML = html;
    el._html = html;
    el.scrollLeft = left;
    el.scrollTop = top;
  }

  function make(tag, className, attrs) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    for (const k in attrs || {}) el.setAttribute(k, attrs[k]);
    return el;
  }

  // Make parent's children equal to `els` in this order, moving (not recreating) nodes.
  function syncChildren(parent, els) {
    els.forEach((el, i) => {
      if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
    });
    while (parent.children.length > els.length) parent.removeChild(parent.lastElementChild);
  }

  // ---------------------------------------------------------------- routing & polling

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
    if (parts[0] === 'nodes') return { view: 'nodes', key: 'nodes' };
    if (parts[0] === 'jobs' && parts.length > 1) {
      let id = parts.slice(1).join('/');
      try { id = decodeURIComponent(id); } catch (e) { /* keep raw */ }
      return { view: 'job', id: id, key: 'job:' + id };
    }
    return { view: 'jobs', key: 'jobs' };
  }

  let viewKey = '';     // which view #view currently holds
  let viewState = {};   // per-view long-lived elements, reset on route change
  let lastData = null;  // last API payload, re-rendered on resize
  let pollTimer = 0;
  let pollSeq = 0;

  function fetchView(route) {
    if (route.view === 'nodes') return api('/api/nodes');
    if (route.view === 'job') return api('/api/jobs/' + enc(route.id));
    return api('/api/jobs');
  }

  async function poll() {
    clearTimeout(pollTimer);
    const seq = ++pollSeq;
    const route = parseRoute();
    try {
      // The overview only feeds the header; its failure must not hide the view.
      const ovP = api('/api/overview').catch((e) => { if (e instanceof AuthError) throw e; return null; });
      const [ov, data] = await Promise.all([ovP, fetchView(route)]);
      if (seq !== pollSeq) return; // a newer poll (route change) took over
      if (ov) applyOverview(ov);
      lastData = data;
      render(route, data);
      showBanner('');
      $updated.textContent = 'updated ' + clock(new Date());
    } catch (e) {
      if (seq !== pollSeq || e instanceof AuthError) return;
      if (route.view === 'job' && e.status === 404) {
        resetView(route);
        $view.innerHTML = '<p class="empty">Job <b>' + esc(route.id) + '</b> not found. ' +
          '<a href="#/jobs">Back to jobs</a></p>';
      } else {
        showBanner('Cannot reach the Shoal server (' + e.message + '); retrying…');
      }
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function applyOverview(ov) {
    const mode = String(ov.mode || '');
    $mode.hidden = !mode;
    $mode.textContent = mode;
    $mode.className = 'mode mode-' + stateClass(mode);
    $mode.title = ov.version ? 'Shoal ' + ov.version : '';
    const now = Date.parse(ov.now || '');
    if (!isNaN(now)) clockSkewMs = now - Date.now();
  }

  function showBanner(msg) {
    $banner.hidden = !msg;
    $banner.textContent = msg;
  }

  function resetView(route) {
    if (viewKey === route.key) return;
    viewKey = route.key;
    viewState = {};
    $view.innerHTML = '';
  }

  function render(route, data) {
    resetView(route);
    if (route.view === 'nodes') renderNodes(data || []);
    else if (route.view === 'job') renderJob(data);
    else renderJobs(data || []);
  }

  function onRouteChange() {
    const route = parseRoute();
    document.querySelectorAll('[data-nav]').forEach((a) => {
      a.classList.toggle('active', a.dataset.nav === (route.view === 'nodes' ? 'nodes' : 'jobs'));
    });
    if (route.key !== viewKey) {
      resetView(route);
      $view.innerHTML = '<p class="empty">Loading…</p>';
      lastData = null;
      spanCache.clear(); // spans belong to the job being shown only
      window.scrollTo(0, 0);
    }
    poll();
  }

  // ---------------------------------------------------------------- jobs view

  const JOB_COLS = ['ID', 'Name', 'State', 'Started', 'Duration', 'Runs', 'Error'];
  const JOB_NUM = [4, 5]; // right-aligned columns

  // Header row; numeric columns are right-aligned like their cells.
  function headRow(cols, numeric) {
    return '<tr>' + cols.map((c, i) => '<th' + (numeric.indexOf(i) >= 0 ? ' class="num"' : '') + '>' + esc(c) + '</th>').join('') + '</tr>';
  }

  function renderJobs(jobs) {
    let st = viewState;
    if (!st.tbody) {
      $view.innerHTML = '<h1>Jobs</h1><div class="table-wrap"><table id="jobs-table" class="grid"><thead>' +
        headRow(JOB_COLS, JOB_NUM) + '</thead><tbody></tbody></table></div>';
      st.tbody = $view.querySelector('#jobs-table tbody');
    }
    const rows = jobs.map((j) => {
      const err = j.error || '';
      const runs = fmtNum(j.runs) + (j.running_runs > 0 ? ' <span class="muted">(' + fmtNum(j.running_runs) + ' running)</span>' : '');
      return '<tr class="job" data-job-id="' + esc(j.id) + '" data-state="' + esc(j.state) + '">' +
        '<td class="mono"><a href="#/jobs/' + esc(enc(j.id)) + '">' + esc(j.id) + '</a></td>' +
        '<td>' + esc(j.name) + '</td>' +
        '<td>' + badge(j.state) + '</td>' +
        '<td class="nowrap">' + esc(fmtTime(j.started)) + '</td>' +
        '<td class="num">' + esc(fmtDuration(j.duration_seconds)) + '</td>' +
        '<td class="num">' + runs + '</td>' +
        '<td class="err-cell"' + (err ? ' title="' + esc(err) + '"' : '') + '>' + esc(trim(err, 120)) + '</td></tr>';
    });
    patch(st.tbody, rows.length ? rows.join('')
      : '<tr class="empty-row"><td colspan="' + JOB_COLS.length + '" class="empty">No jobs yet</td></tr>');
  }

  // ---------------------------------------------------------------- job view

  const openDetails = new Set(); // ids of <details> the user opened; survives re-renders

  function renderJob(job) {
    let st = viewState;
    if (!st.root) {
      st.root = make('div', '', { id: 'job' });
      st.head = make('div', 'job-head');
      st.runs = make('div', 'runs');
      st.error = null;
      st.entries = new Map(); // run key -> entry (see runEntry)
      st.root.append(st.head, st.runs);
      $view.innerHTML = '';
      $view.append(st.root);
    }
    st.root.setAttribute('data-job-id', job.id);
    st.root.setAttribute('data-state', job.state || '');

    const runs = Array.isArray(job.runs) ? job.runs : [];
    const running = runs.filter((r) => r.state === 'running').length;
    patch(st.head,
      '<a class="back" href="#/jobs">← Jobs</a>' +
      '<h1>' + esc(job.name || job.id) + ' <span class="job-id mono">' + esc(job.id) + '</span> ' + badge(job.state) + '</h1>' +
      '<dl class="facts">' +
      fact('Started', fmtTime(job.started)) +
      fact('Ended', job.ended ? fmtTime(job.ended) : '—') +
      fact('Duration', fmtDuration(job.duration_seconds)) +
      fact('Runs', fmtNum(runs.length) + (running ? ' (' + running + ' running)' : '')) +
      (job.host ? fact('Host', job.host + (job.pid ? ' · pid ' + job.pid : '')) : '') +
      '</dl>');

    // The job error box is a direct child of #job, present only for failed jobs.
    const failed = job.state === 'failed' || !!job.error;
    if (failed && !st.error) { st.error = make('div', 'error'); st.root.insertBefore(st.error, st.runs); }
    if (!failed && st.error) { st.error.remove(); st.error = null; }
    if (st.error) {
      patch(st.error, '<b>' + (job.state === 'failed' ? 'Job failed:' : 'Error:') + '</b> ' + esc(job.error || '(no error message)'));
    }

    // Newest first on the page; the first FULL_RUNS are drawn fully.
    const ordered = runs.slice().reverse();
    const els = [];
    const keep = new Set();
    ordered.forEach((run, i) => {
      const full = i < FULL_RUNS;
      const key = run.id + (full ? '\u0000f' : '\u0000c');
      let entry = st.entries.get(key);
      if (!entry) { entry = runEntry(run, full); st.entries.set(key, entry); }
      entry.run = run;
      entry.jobId = job.id;
      renderRun(entry);
      keep.add(key);
      els.push(entry.section);
    });
    for (const k of Array.from(st.entries.keys())) if (!keep.has(k)) st.entries.delete(k);
    if (!els.length) {
      if (!st.noRuns) st.noRuns = make('p', 'empty');
      st.noRuns.textContent = 'No runs yet';
      els.push(st.noRuns);
    }
    syncChildren(st.runs, els);
  }

  function fact(k, v) { return '<div><dt>' + esc(k) + '</dt><dd>' + esc(v) + '</dd></div>'; }

  let entrySeq = 0;

  // A run's long-lived elements. Full runs: section > title, body parts.
  // Collapsed runs: section > details > summary (title) + body parts, drawn only while open.
  function runEntry(run, full) {
    const e = { full: full, uid: ++entrySeq, parts: {} };
    e.section = make('section', 'run' + (full ? '' : ' collapsed'));
    if (full) {
      e.title = make('div', 'run-title');
      e.body = e.section;
      e.section.append(e.title);
    } else {
      e.details = make('details', '', { id: 'run-' + run.id });
      e.details.open = openDetails.has(e.details.id);
      e.title = make('summary', 'run-title');
      e.body = make('div', 'run-body');
      e.details.append(e.title, e.body);
      e.section.append(e.details);
      e.details.addEventListener('toggle', () => {
        if (e.details.open) openDetails.add(e.details.id); else openDetails.delete(e.details.id);
        renderRun(e);
      });
    }
    return e;
  }

  function renderRun(e) {
    const run = e.run;
    e.section.setAttribute('data-run-id', run.id);
    e.section.setAttribute('data-state', run.state || '');
    patch(e.title,
      '<span class="run-id mono">' + esc(run.id) + '</span>' +
      '<span class="run-name" title="' + esc(run.name) + '">' + esc(run.name) + '</span>' +
      badge(run.state) +
      '<span class="run-meta">' + esc(fmtDuration(run.wall_seconds)) + ' wall · started ' + esc(fmtTime(run.started)) +
      (isNum(run.spans) ? ' · ' + esc(fmtNum(run.spans)) + ' spans' : '') + '</span>');

    if (!e.full && !e.details.open) return; // collapsed and closed: nothing more to draw
    const p = e.parts;
    if (!p.graph) {
      p.graph = make('div', 'graph-wrap');
      p.ops = make('div', 'ops-wrap');
      p.timeline = make('div', 'timeline');
      p.foot = make('div', 'run-foot');
      e.body.append(p.graph, p.ops, p.timeline, p.foot);
    }
    const ops = Array.isArray(run.operators) ? run.operators : [];

    // Failed run: error box naming the operator and task, before the graph.
    const failed = run.state === 'failed' || !!run.error;
    if (failed && !p.error) { p.error = make('div', 'error'); e.body.insertBefore(p.error, p.graph); }
    if (!failed && p.error) { p.error.remove(); p.error = null; }
    if (p.error) patch(p.error, runErrorHTML(run, ops));

    patch(p.graph, graphSVG(ops, e.uid));
    patch(p.ops, opsTableHTML(ops));
    renderTimeline(e);
    patch(p.foot, '<a class="trace-link" href="' + esc(runPath(e.jobId, run.id) + '/trace.json') +
      '" download>Download trace (open in ui.perfetto.dev)</a>');
  }

  function runErrorHTML(run, ops) {
    const where = [];
    const oi = run.failed_operator;
    if (isNum(oi)) {
      const op = ops[oi];
      where.push('operator <b title="' + esc(op ? op.name : '') + '">' + esc(op ? (op.short || op.name) : '#' + oi) +
        '</b> (#' + esc(oi) + ')');
    }
    if (isNum(run.failed_task)) where.push('task <b>' + esc(fmtNum(run.failed_task)) + '</b>');
    return '<div class="error-where">Run failed' + (where.length ? ' in ' + where.join(', ') : '') + '</div>' +
      '<pre class="error-text">' + esc(run.error || '(no error message)') + '</pre>';
  }

  // ---------------------------------------------------------------- operator graph

  const BOX_W = 196, BOX_H = 96, GAP_X = 60, GAP_Y = 18, PAD = 12;

  // Columns by depth (sources at 0, depth = 1 + max depth of inputs); within a
  // column, boxes are ordered by the mean row of their inputs to limit crossings.
  function layoutGraph(ops) {
    const n = ops.length;
    const depth = new Array(n).fill(-1);
    const visiting = new Array(n).fill(false);
    const inputsOf = (i) => (Array.isArray(ops[i].inputs) ? ops[i].inputs : [])
      .filter((j) => Number.isInteger(j) && j >= 0 && j < n && j !== i);
    function depthOf(i) {
      if (depth[i] >= 0) return depth[i];
      if (visiting[i]) return 0; // malformed cycle: do not recurse forever
      visiting[i] = true;
      let d = 0;
      for (const j of inputsOf(i)) d = Math.max(d, depthOf(j) + 1);
      visiting[i] = false;
      depth[i] = d;
      return d;
    }
    for (let i = 0; i < n; i++) depthOf(i);

    const cols = [];
    for (let i = 0; i < n; i++) (cols[depth[i]] = cols[depth[i]] || []).push(i);
    const row = new Array(n).fill(0);
    cols.forEach((col) => {
      const key = (i) => {
        const ins = inputsOf(i);
        return ins.length ? ins.reduce((s, j) => s + row[j], 0) / ins.length : i;
      };
      col.sort((a, b) => key(a) - key(b) || a - b);
      col.forEach((i, r) => { row[i] = r; });
    });
    const maxRows = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
    const pos = new Array(n);
    cols.forEach((col, d) => {
      const off = (maxRows - col.length) * (BOX_H + GAP_Y) / 2; // center short columns
      col.forEach((i, r) => { pos[i] = { x: PAD + d * (BOX_W + GAP_X), y: PAD + off + r * (BOX_H + GAP_Y) }; });
    });
    return {
      pos: pos, inputsOf: inputsOf,
      width: PAD * 2 + cols.length * BOX_W + Math.max(0, cols.length - 1) * GAP_X,
      height: PAD * 2 + maxRows * BOX_H + (maxRows - 1) * GAP_Y,
    };
  }

  function graphSVG(ops, uid) {
    if (!ops.length) return '<p class="empty">No operators</p>';
    const L = layoutGraph(ops);
    const marker = 'arrow-' + uid; // per-run id: several graphs share the page
    let edges = '';
    let boxes = '';
    ops.forEach((op, i) => {
      const p = L.pos[i];
      const ins = L.inputsOf(i);
      ins.forEach((j, k) => {
        const q = L.pos[j];
        const x1 = q.x + BOX_W, y1 = q.y + BOX_H / 2;
        const x2 = p.x - 2, y2 = p.y + BOX_H / 2 + (k - (ins.length - 1) / 2) * 16; // fan joins' inputs
        const mx = (x1 + x2) / 2;
        edges += '<path class="edge" d="M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2 +
          '" marker-end="url(#' + marker + ')"/>';
      });
      boxes += opBox(op, i, p.x, p.y);
    });
    return '<svg class="graph" width="' + L.width + '" height="' + L.height + '" viewBox="0 0 ' + L.width + ' ' + L.height +
      '" xmlns="http://www.w3.org/2000/svg"><defs><marker id="' + marker + '" viewBox="0 0 10 10" refX="9" refY="5" ' +
      'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>' +
      edges + boxes + '</svg>';
  }

  function opBox(op, i, x, y) {
    const total = isNum(op.tasks_total) ? op.tasks_total : -1;
    const done = isNum(op.tasks_done) ? op.tasks_done : 0;
    const sc = stateClass(op.state);
    const tx = x + 12; // text left edge (after the state stripe)
    const rx = x + BOX_W - 8;
    let bar = '';
    if (total > 0) {
      const w = BOX_W - 20;
      const f = Math.max(0, Math.min(1, done / total));
      bar = '<rect class="bar-bg" x="' + tx + '" y="' + (y + 82) + '" width="' + w + '" height="4" rx="2"/>' +
        '<rect class="bar-fg" x="' + tx + '" y="' + (y + 82) + '" width="' + (w * f).toFixed(1) + '" height="4" rx="2"/>';
    }
    const running = op.running > 0 ? fmtNum(op.running) + ' running' : '';
    return '<g class="operator st-' + sc + '" data-op-index="' + i + '" data-rows-out="' + esc(isNum(op.rows_out) ? op.rows_out : 0) +
      '" data-tasks-done="' + esc(done) + '" data-state="' + esc(op.state || '') + '">' +
      '<title>' + esc(op.name || op.short || '') + '</title>' +
      '<rect class="box" x="' + x + '" y="' + y + '" width="' + BOX_W + '" height="' + BOX_H + '" rx="6"/>' +
      '<rect class="stripe" x="' + x + '" y="' + y + '" width="5" height="' + BOX_H + '" rx="2"/>' +
      '<text class="op-name" x="' + tx + '" y="' + (y + 18) + '">' + esc(trim(op.short || op.name || '#' + i, 24)) + '</text>' +
      '<text class="op-state" x="' + tx + '" y="' + (y + 34) + '">' + esc(trim(op.state || 'pending', 20)) + '</text>' +
      '<text class="op-idx" x="' + rx + '" y="' + (y + 34) + '" text-anchor="end">#' + i + '</text>' +
      '<text x="' + tx + '" y="' + (y + 52) + '">rows ' + esc(fmtNum(op.rows_out)) + filesText(op) + '</text>' +
      '<text x="' + rx + '" y="' + (y + 52) + '" text-anchor="end">' + esc(fmtBytes(op.bytes_out)) + '</text>' +
      '<text x="' + tx + '" y="' + (y + 70) + '">' + esc(tasksText(op) + ' ' + (op.unit || 'tasks')) + '</text>' +
      '<text class="op-running" x="' + rx + '" y="' + (y + 70) + '" text-anchor="end">' + esc(running) + '</text>' +
      bar + '</g>';
  }

  // A write's files, counted apart from its rows: " · 12 files".
  function filesText(op) {
    return op.files_out > 0 ? ' · ' + fmtNum(op.files_out) + (op.files_out === 1 ? ' file' : ' files') : '';
  }

  // ---------------------------------------------------------------- operators table

  const OP_COLS = ['#', 'Operator', 'State', 'Tasks', 'Running', 'Rows in', 'Rows out', 'Bytes in', 'Bytes out',
    'Backpressure (s)', 'Spilled', 'Actors', 'Retries'];
  const OP_NUM = [0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

  function opsTableHTML(ops) {
    const num = (v) => '<td class="num">' + esc(v) + '</td>';
    const rows = ops.map((op, i) =>
      '<tr data-op-index="' + i + '">' +
      '<td class="num">' + swatch(opColor(i)) + i + '</td>' +
      '<td class="op-cell" title="' + esc(op.name) + '">' + esc(op.short || op.name) + '</td>' +
      '<td>' + badge(op.state) + '</td>' +
      num(tasksText(op) + (op.unit && op.unit !== 'tasks' ? ' ' + op.unit : '')) +
      num(fmtNum(op.running)) + num(fmtNum(op.rows_in)) + num(fmtNum(op.rows_out) + filesText(op)) +
      num(fmtBytes(op.bytes_in)) + num(fmtBytes(op.bytes_out)) + num(fmtSeconds(op.backpressure_seconds)) +
      num(op.spilled_bytes ? fmtBytes(op.spilled_bytes) : '—') + num(fmtNum(op.actors)) + num(fmtNum(op.retries)) +
      '</tr>').join('');
    return '<table class="operators grid compact"><thead>' + headRow(OP_COLS, OP_NUM) + '</thead><tbody>' + rows + '</tbody></table>';
  }

  // ---------------------------------------------------------------- timeline

  // run key -> { data, at, final, inflight, error }. Cleared when the shown job changes.
  const spanCache = new Map();

  // Fetch spans for a run that is on screen: every SPANS_POLL_MS while it runs
  // (at once when the first arrive), once more after it has ended (a fetch
  // issued after the end is final).
  function ensureSpans(e) {
    const key = e.jobId + '\u0000' + e.run.id;
    let c = spanCache.get(key);
    if (!c) { c = { data: null, at: 0, final: false, inflight: false, error: '' }; spanCache.set(key, c); }
    if (c.inflight || c.final) return c;
    // The throttle waits unless the timeline is empty and the run now has spans.
    const empty = !c.data || !c.data.spans || c.data.spans.length === 0;
    if (Date.now() - c.at < SPANS_POLL_MS && !(empty && e.run.spans > 0)) return c;
    const ended = e.run.state !== 'running';
    c.inflight = true;
    api(runPath(e.jobId, e.run.id) + '/spans')
      .then((d) => { c.data = d || { spans: [] }; c.final = ended; c.error = ''; })
      .catch((err) => { c.error = err instanceof AuthError ? '' : err.message; })
      .then(() => {
        c.inflight = false;
        c.at = Date.now();
        if (e.section.isConnected) renderTimeline(e);
      });
    return c;
  }

  function renderTimeline(e) {
    const c = ensureSpans(e);
    const el = e.parts.timeline;
    const width = Math.max(480, el.clientWidth || 1100);
    const ops = e.run.operators || [];
    // Rebuilding thousands of rects every second is wasteful: redraw only on new data or width.
    const key = c.at + '|' + width + '|' + ops.length + '|' + c.error;
    if (e.tlKey === key) return;
    e.tlKey = key;
    if (!c.data) {
      patch(el, '<div class="tl-head">Timeline</div><p class="muted">' +
        (c.error ? 'Spans unavailable: ' + esc(c.error) : 'Loading spans…') + '</p>');
      return;
    }
    patch(el, timelineHTML(c.data, ops, e.run, width) +
      (c.error ? '<p class="muted">Last refresh failed: ' + esc(c.error) + '</p>' : ''));
  }

  // 1-2-5 step so that ticks are about `px` pixels apart.
  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }

  function fmtTick(us, inSeconds) {
    if (inSeconds) return +(us / 1e6).toFixed(3) + ' s';
    return +(us / 1e3).toFixed(3) + ' ms';
  }

  const LABEL_W = 130, LANE_H = 16, LANE_GAP = 4, AXIS_H = 22;

  function timelineHTML(data, ops, run, width) {
    const spans = Array.isArray(data.spans) ? data.spans : [];
    const lanes = Array.from(new Set(spans.map((s) => String(s.lane))))
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const laneIdx = new Map(lanes.map((l, i) => [l, i]));
    let tmax = isNum(run.wall_seconds) ? run.wall_seconds * 1e6 : 0;
    for (const s of spans) if (isNum(s.end_us) && s.end_us > tmax) tmax = s.end_us;
    tmax = Math.max(tmax, 1);
    const plotW = width - LABEL_W - 16;
    const height = AXIS_H + Math.max(1, lanes.length) * (LANE_H + LANE_GAP) + 4;
    const X = (us) => LABEL_W + Math.max(0, Math.min(1, us / tmax)) * plotW;

    let svg = '';
    lanes.forEach((l, i) => {
      const y = AXIS_H + i * (LANE_H + LANE_GAP);
      svg += '<rect class="lane-bg" x="' + LABEL_W + '" y="' + y + '" width="' + plotW + '" height="' + LANE_H + '"/>' +
        '<text class="lane-label" x="' + (LABEL_W - 8) + '" y="' + (y + LANE_H - 4) + '" text-anchor="end"><title>' +
        esc(l) + '</title>' + esc(trim(l, 20)) + '</text>';
    });
    const inSeconds = tmax >= 2e6;
    const step = niceStep(tmax, Math.floor(plotW / 90));
    for (let t = 0; spans.length && t <= tmax + 1e-9; t += step) { // no axis without spans
      const x = X(t).toFixed(1);
      const anchor = x > width - 40 ? 'end' : 'middle'; // keep the last label inside the svg
      svg += '<line class="tick" x1="' + x + '" x2="' + x + '" y1="' + (AXIS_H - 4) + '" y2="' + height + '"/>' +
        '<text class="tick-label" x="' + x + '" y="' + (AXIS_H - 8) + '" text-anchor="' + anchor + '">' + esc(fmtTick(t, inSeconds)) + '</text>';
    }
    let drawn = 0;
    for (const s of spans) {
      if (!isNum(s.start_us) || !isNum(s.end_us)) continue;
      const x = X(s.start_us);
      const w = Math.max(1, X(s.end_us) - x);
      const y = AXIS_H + laneIdx.get(String(s.lane)) * (LANE_H + LANE_GAP);
      const op = ops[s.op];
      const tip = '#' + s.op + ' ' + (op ? op.short || op.name : '?') + ' · task ' + s.index + ' · ' + s.lane + ' · ' +
        fmtDuration((s.end_us - s.start_us) / 1e6) + (s.attempts > 1 ? ' · ' + s.attempts + ' attempts' : '') +
        (s.failed ? ' · FAILED' : '');
      svg += '<rect class="span' + (s.failed ? ' failed' : '') + '" x="' + x.toFixed(1) + '" y="' + (y + 1) +
        '" width="' + w.toFixed(1) + '" height="' + (LANE_H - 2) + '" fill="' + opColor(s.op | 0) + '"' +
        (s.failed ? ' stroke="' + FAIL_COLOR + '" stroke-width="1.5"' : '') + '><title>' + esc(tip) + '</title></rect>';
      drawn++;
    }
    if (!spans.length) {
      svg += '<text class="muted-text" x="' + (LABEL_W + 8) + '" y="' + (AXIS_H + 12) + '">No spans recorded yet</text>';
    }
    const legend = ops.map((op, i) =>
      '<span class="lg" title="' + esc(op.name) + '">' + swatch(opColor(i)) + '#' + i + ' ' +
      esc(trim(op.short || op.name, 40)) + '</span>').join('') +
      '<span class="lg">' + swatch('#fff', FAIL_COLOR) + 'failed span</span>';
    return '<div class="tl-head">Timeline <span class="muted">' + esc(fmtNum(drawn)) + ' spans · ' + esc(fmtNum(lanes.length)) +
      ' lanes' + (data.truncated ? ' · truncated by the server' : '') + '</span></div>' +
      '<svg class="tl" width="' + width + '" height="' + height + '" data-spans="' + drawn +
      '" xmlns="http://www.w3.org/2000/svg">' + svg + '</svg><div class="legend">' + legend + '</div>';
  }

  // ---------------------------------------------------------------- nodes view

  const NODE_COLS = ['ID', 'Address', 'State', 'CPUs', 'GPUs', 'Memory', 'Object store', 'Spilled', 'Objects',
    'Tasks running', 'Actors', 'Last heartbeat'];
  const NODE_NUM = [3, 4, 5, 7, 8, 9, 10];

  function storeCell(n) {
    const used = n.store_memory_bytes;
    const budget = n.store_budget_bytes;
    if (!(isNum(budget) && budget > 0)) return esc(fmtBytes(used));
    const f = Math.max(0, Math.min(1, (used || 0) / budget));
    const cls = f > 0.9 ? 'hot' : f > 0.7 ? 'warm' : '';
    // SVG bar: presentation attributes, so no inline style is needed.
    return '<span class="store"><svg class="store-bar ' + cls + '" width="90" height="8"><rect class="bg" width="90" height="8" rx="4"/>' +
      '<rect class="fg" width="' + (90 * f).toFixed(1) + '" height="8" rx="4"/></svg>' +
      esc(fmtBytes(used) + ' / ' + fmtBytes(budget)) + '</span>';
  }

  function renderNodes(nodes) {
    let st = viewState;
    if (!st.tbody) {
      $view.innerHTML = '<h1>Nodes</h1><div class="table-wrap"><table id="nodes-table" class="grid"><thead>' +
        headRow(NODE_COLS, NODE_NUM) + '</thead><tbody></tbody></table></div>';
      st.tbody = $view.querySelector('#nodes-table tbody');
    }
    const num = (v) => '<td class="num">' + esc(v) + '</td>';
    const rows = nodes.map((n) =>
      '<tr class="node" data-node-id="' + esc(n.id) + '" data-state="' + esc(n.state) + '">' +
      '<td class="mono">' + esc(n.id) + '</td>' +
      '<td class="mono">' + esc(n.address) + '</td>' +
      '<td>' + badge(n.state) + '</td>' +
      num(fmtNum(n.cpus)) + num(fmtNum(n.gpus)) +
      num(n.memory_bytes ? fmtBytes(n.memory_bytes) : '—') +
      '<td class="nowrap">' + storeCell(n) + '</td>' +
      num(n.store_spilled_bytes ? fmtBytes(n.store_spilled_bytes) : '—') +
      num(fmtNum(n.objects)) + num(fmtNum(n.tasks_running)) + num(fmtNum(n.actors)) +
      '<td class="nowrap" title="' + esc(n.last_heartbeat || '') + '">' + esc(fmtAgo(n.last_heartbeat)) + '</td></tr>').join('');
    patch(st.tbody, rows || '<tr class="empty-row"><td colspan="' + NODE_COLS.length + '" class="empty">No nodes</td></tr>');
  }

  // ---------------------------------------------------------------- start

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    // Timelines are drawn to the container width; redraw once resizing settles.
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (lastData) render(parseRoute(), lastData); }, 150);
  });
  window.addEventListener('hashchange', onRouteChange);
  if (!location.hash) history.replaceState(null, '', '#/jobs');
  onRouteChange();
})();
