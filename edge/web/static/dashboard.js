// edge dashboard: polls the admin API every 2 s with the token the user gave (kept in this
// tab's sessionStorage only) and draws what it returns. No library, no build step.
"use strict";

(() => {
  const POLL_MS = 2000;
  const KEEP_S = 600; // the charts cover up to the last 10 minutes
  const LATENCY_WINDOW_S = 30;
  const TOKEN_KEY = "edge.admin.token";
  const HISTORY_KEY = "edge.dashboard.history";

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let history = loadHistory();
  let entriesPrefix = "";
  let lastStats = null;

  // -- formatting -----------------------------------------------------------------------
  const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : (100 * x).toFixed(1) + " %");
  const num = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US"));
  const rate = (x) => (x === null || x === undefined ? "–" : x < 10 ? x.toFixed(2) : x.toFixed(0));
  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }
  function duration(s) {
    const a = Math.abs(s);
    const [n, unit] = a < 120 ? [a, "s"] : a < 7200 ? [a / 60, "min"] : a < 172800 ? [a / 3600, "h"]
      : a < 63072000 ? [a / 86400, "d"] : [a / 31536000, "y"];
    return (s < 0 ? "stale " : "") + n.toFixed(0) + " " + unit;
  }
  const short = (u) => u.replace(/^https?:\/\//, "");
  function seconds(s) {
    if (s === null || s === undefined) return "–";
    if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms";
    return s.toFixed(2) + " s";
  }

  // -- the API ----------------------------------------------------------------------------
  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    const answer = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
    if (answer.status === 401) throw new Unauthorized("wrong or missing token");
    let body = null;
    try { body = await answer.json(); } catch (e) { body = null; }
    if (!answer.ok) {
      const why = body && body.error ? body.error : answer.status + " " + answer.statusText;
      throw new Error(why);
    }
    return body;
  }

  // -- history (survives a reload of this tab, not a new tab) -----------------------------
  function loadHistory() {
    try {
      const raw = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(raw) ? raw : [];
    } catch (e) { return []; }
  }

  function remember(stats) {
    const t = Date.now() / 1000;
    const all = stats.latency && stats.latency.all ? stats.latency.all.counts : null;
    const sample = {
      t, name: stats.name, requests: stats.requests, hits: stats.hits, misses: stats.misses,
      stale: stats.stale, origin_requests: stats.origin_requests, origin_errors: stats.origin_errors,
      latency: Array.isArray(all) ? all : null,
    };
    const last = history[history.length - 1];
    // a restarted node (counters went down) or another node: start over
    if (last && (last.name !== sample.name || sample.requests < last.requests)) history = [];
    history.push(sample);
    history = history.filter((s) => s.t >= t - KEEP_S);
    try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history)); } catch (e) { /* full */ }
  }

  function intervals() {
    const out = [];
    for (let i = 1; i < history.length; i += 1) {
      const a = history[i - 1], b = history[i];
      const dt = b.t - a.t;
      if (dt <= 0) continue;
      const looked = (b.hits - a.hits) + (b.misses - a.misses) + (b.stale - a.stale);
      out.push({
        t: b.t,
        rps: (b.requests - a.requests) / dt,
        origin: (b.origin_requests - a.origin_requests) / dt,
        errors: (b.origin_errors - a.origin_errors) / dt,
        ratio: looked > 0 ? ((b.hits - a.hits) + (b.stale - a.stale)) / looked : null,
      });
    }
    return out;
  }

  // -- latency: quantiles from histogram buckets, interpolated as Prometheus does ----------
  function quantile(counts, bounds, q) {
    const total = counts.reduce((a, b) => a + b, 0);
    if (!total) return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < counts.length; i += 1) {
      if (seen + counts[i] >= rank && counts[i] > 0) {
        if (i >= bounds.length) return bounds[bounds.length - 1]; // past the last bound
        const lower = i === 0 ? 0 : bounds[i - 1];
        return lower + (bounds[i] - lower) * ((rank - seen) / counts[i]);
      }
      seen += counts[i];
    }
    return bounds[bounds.length - 1];
  }

  function windowCounts(now) {
    const last = history[history.length - 1];
    if (!last || !last.latency) return null;
    let first = null;
    for (const s of history) {
      if (s.t >= now - LATENCY_WINDOW_S - 1 && s.latency && s.latency.length === last.latency.length) {
        first = s;
        break;
      }
    }
    if (!first || first === last) return null;
    return last.latency.map((n, i) => n - first.latency[i]);
  }

  // -- charts: a line per series on a canvas, sized for the screen's pixel ratio ----------
  function drawChart(canvas, lines, opts) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const left = 44, right = 6, top = 6, bottom = 18;
    const w = width - left - right, h = height - top - bottom;
    // the span shown grows with the history, from 1 to 10 minutes
    const now = Date.now() / 1000;
    const oldest = history.length ? history[0].t : now;
    const span = Math.min(KEEP_S, Math.max(60, Math.ceil((now - oldest) / 60) * 60));
    const from = now - span;
    let max = opts.max;
    if (max === undefined) {
      max = 0;
      for (const line of lines) for (const p of line.points) if (p.v !== null) max = Math.max(max, p.v);
      max = max > 0 ? niceCeiling(max) : 1;
    }
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#677085";
    g.strokeStyle = "#dde1e8";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const y = top + h - (h * i) / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + w, y + 0.5); g.stroke();
      g.textAlign = "right"; g.textBaseline = "middle";
      g.fillText(opts.format((max * i) / 4), left - 4, y);
    }
    g.textAlign = "left"; g.textBaseline = "top";
    g.fillText("−" + span / 60 + " min", left, top + h + 4);
    g.textAlign = "right";
    g.fillText("now", left + w, top + h + 4);
    for (const line of lines) {
      g.strokeStyle = line.color;
      g.lineWidth = 1.8;
      g.beginPath();
      let drawing = false;
      let lastXY = null;
      for (const p of line.points) {
        if (p.v === null || p.t < from) { drawing = false; continue; }
        const x = left + ((p.t - from) / span) * w;
        const y = top + h - (Math.min(p.v, max) / max) * h;
        if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
        drawing = true;
        lastXY = [x, y];
      }
      g.stroke();
      if (lastXY) { // the latest value, visible even before there is a line
        g.fillStyle = line.color;
        g.beginPath(); g.arc(lastXY[0], lastXY[1], 2.5, 0, 2 * Math.PI); g.fill();
      }
    }
    if (!lines.some((l) => l.points.length)) {
      g.textAlign = "center"; g.textBaseline = "middle"; g.fillStyle = "#677085";
      g.fillText("collecting…", left + w / 2, top + h / 2);
    }
  }

  function niceCeiling(x) {
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }

  // -- rendering ----------------------------------------------------------------------------
  function setText(id, text) { $(id).textContent = text; }

  function fillRows(table, rows) {
    const body = $(table).tBodies[0];
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        if (typeof cell === "object" && cell !== null) {
          td.textContent = cell.text;
          if (cell.cls) td.className = cell.cls;
          if (cell.title) td.title = cell.title;
        } else {
          td.textContent = cell;
        }
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  function showStats(stats) {
    setText("node-name", stats.name + (stats.workers > 1 ? " · " + stats.workers + " workers" : ""));
    setText("hit-ratio", pct(stats.hit_ratio));
    const steps = intervals();
    const last = steps[steps.length - 1];
    setText("hit-ratio-now", last ? (last.ratio === null ? "idle" : pct(last.ratio)) : "–");
    setText("rps", last ? rate(last.rps) : "–");
    setText("origin-rps", last ? rate(last.origin) : "–");
    setText("origin-requests", num(stats.origin_requests));
    setText("origin-errors", num(stats.origin_errors));
    setText("origin-errors-rate", last ? rate(last.errors) : "–");
    setText("collapsed", num(stats.collapsed));
    setText("revalidated", num(stats.revalidated));
    setText("stale", num(stats.stale));
    drawChart($("chart-hits"), [
      { color: "#2563eb", points: steps.map((s) => ({ t: s.t, v: s.ratio })) },
    ], { max: 1, format: (v) => (100 * v).toFixed(0) + "%" });
    drawChart($("chart-rps"), [
      { color: "#2563eb", points: steps.map((s) => ({ t: s.t, v: s.rps })) },
      { color: "#d97706", points: steps.map((s) => ({ t: s.t, v: s.origin })) },
    ], { format: (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0)) });
    showLatency(stats);
    showTiers(stats);
  }

  function showLatency(stats) {
    const bounds = stats.latency_buckets;
    const lat = stats.latency;
    if (!Array.isArray(bounds) || !bounds.length || !lat || !lat.all) {
      fillRows("latency", []);
      setText("latency-note", "This node reports no latency histograms.");
      return;
    }
    const rows = [];
    const recent = windowCounts(Date.now() / 1000);
    if (recent) {
      rows.push(["last " + LATENCY_WINDOW_S + " s"].concat(
        [0.5, 0.9, 0.99].map((q) => seconds(quantile(recent, bounds, q)))));
    }
    const label = { all: "all, since start" };
    for (const [outcome, l] of Object.entries(lat)) {
      if (!l || !l.count) continue;
      rows.push([label[outcome] || outcome, seconds(l.p50), seconds(l.p90), seconds(l.p99)]);
    }
    fillRows("latency", rows);
    setText("latency-note", "Request duration, head to last byte; quantiles interpolated in buckets.");
  }

  function showTiers(stats) {
    const store = stats.store || {};
    const out = [];
    for (const [tier, use] of Object.entries(stats.tiers || {})) {
      const max = store[tier + "_max_bytes"];
      const div = document.createElement("div");
      div.className = "tier";
      const name = document.createElement("div");
      name.className = "name";
      const left = document.createElement("span");
      const objects = use.objects || store[tier + "_rows"] || 0;
      left.textContent = tier + " · " + num(objects) + " objects";
      const right = document.createElement("span");
      right.textContent = bytes(use.bytes) + (max ? " of " + bytes(max) : "");
      name.append(left, right);
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      const share = max ? Math.min(1, use.bytes / max) : 0;
      fill.style.width = (100 * share).toFixed(1) + "%";
      if (share > 0.9) bar.classList.add("full");
      bar.title = max ? pct(share) + " of the budget" : "no budget";
      bar.appendChild(fill);
      div.append(name, bar);
      out.push(div);
    }
    $("tiers").replaceChildren(...out);
    const reason = store.degraded ? "Disk tier degraded: " + (store.degraded_reason || "unknown") : "";
    setText("degraded", reason);
  }

  function showTop(top) {
    const url = (u) => ({ text: short(u), cls: "url", title: u });
    fillRows("top-hits", top.by_hits.map((r) => [url(r.url), num(r.hits)]));
    fillRows("top-bytes", top.by_bytes.map((r) => [url(r.url), bytes(r.bytes)]));
  }

  function showCluster(c) {
    const state = (s) => ({
      text: s, cls: s === "behind" || s === "disconnected" ? "state-bad" : "state-good",
    });
    fillRows("nodes", c.nodes.map((n) => [
      { text: n.name + (n.this ? " (this)" : "") }, state(n.state),
      n.applied === null || n.applied === undefined ? "–" : num(n.applied),
      n.lag === null || n.lag === undefined ? "–" : num(n.lag),
    ]));
    $("parents").hidden = !c.parents.length;
    fillRows("parents", c.parents.map((p) => [
      { text: p.name, title: p.url }, state(p.up ? "up" : "down"), num(p.failures),
    ]));
    let note = c.mode === "standalone" ? "Standalone: no control plane configured." : "";
    if (c.mode === "nats") note = "Control plane " + (c.connected ? "connected" : "disconnected") + ".";
    if (c.error) note += " " + c.error;
    setText("cluster-note", note);
  }

  function showEntries(answer) {
    const url = (u) => ({ text: short(u), cls: "url", title: u });
    fillRows("entries", answer.entries.map((e) => [
      url(e.url + (e.variant ? " [" + e.variant + "]" : "")),
      e.invalidated ? "purged (soft)" : (e.tier || "–"), bytes(e.size), duration(e.ttl),
    ]));
    const shown = answer.entries.length;
    setText("entries-note", shown ? (answer.truncated ? "The first " + shown + " shown." : "") : "Nothing stored here.");
  }

  // -- the loop ---------------------------------------------------------------------------
  function status(text, ok) {
    const el = $("status");
    el.textContent = text;
    el.className = "status " + (ok ? "ok" : "bad");
  }

  async function refresh() {
    try {
      const stats = await api("/stats");
      remember(stats);
      lastStats = stats;
      showStats(stats);
      const prefix = entriesPrefix ? "&prefix=" + encodeURIComponent(entriesPrefix) : "";
      const [top, cluster, entries] = await Promise.all([
        api("/top?limit=8"), api("/cluster"), api("/entries?limit=15" + prefix),
      ]);
      showTop(top);
      showCluster(cluster);
      showEntries(entries);
      status("live · " + new Date().toLocaleTimeString(), true);
    } catch (e) {
      if (e instanceof Unauthorized) { signOut("The token was refused: sign in again."); return; }
      status("no answer: " + e.message, false);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      if (sessionStorage.getItem(TOKEN_KEY)) schedule();
    }, POLL_MS);
  }

  function signIn() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    refresh().then(() => { if (sessionStorage.getItem(TOKEN_KEY)) schedule(); });
  }

  function signOut(message) {
    clearTimeout(timer);
    sessionStorage.removeItem(TOKEN_KEY);
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    setText("login-error", message || "");
    status("signed out", false);
    $("token").focus();
  }

  async function tryToken(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    try {
      await api("/stats");
    } catch (e) {
      if (e instanceof Unauthorized) { signOut("That token was refused."); return; }
      setText("login-error", "The admin API did not answer: " + e.message);
      sessionStorage.removeItem(TOKEN_KEY);
      return;
    }
    setText("login-error", "");
    signIn();
  }

  async function purge(event) {
    event.preventDefault();
    const kind = $("purge-kind").value;
    const value = $("purge-value").value.trim();
    const out = $("purge-result");
    if (!value) return;
    const body = { soft: $("purge-soft").checked };
    body[kind] = [value];
    out.className = "result";
    out.textContent = "purging…";
    try {
      const answer = await api("/purge", {
        method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
      });
      const nodes = Object.entries(answer.nodes || {})
        .map(([n, ok]) => n + (ok ? " ✓" : " ✗ (not yet applied)")).join(", ");
      out.className = "result ok";
      out.textContent = (answer.soft ? "Soft-purged " : "Purged ") + answer.purged +
        (answer.purged === 1 ? " entry" : " entries") + (nodes ? " · nodes: " + nodes : "");
      await refresh();
    } catch (e) {
      if (e instanceof Unauthorized) { signOut("The token was refused: sign in again."); return; }
      out.className = "result bad";
      out.textContent = "Purge failed: " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", tryToken);
    $("purge-form").addEventListener("submit", purge);
    $("logout").addEventListener("click", () => signOut(""));
    $("entries-form").addEventListener("submit", (e) => { e.preventDefault(); entriesPrefix = $("entries-prefix").value.trim(); refresh(); });
    $("entries-prefix").addEventListener("change", () => { entriesPrefix = $("entries-prefix").value.trim(); refresh(); });
    window.addEventListener("resize", () => { if (lastStats && !$("board").hidden) showStats(lastStats); });
    if (sessionStorage.getItem(TOKEN_KEY)) signIn(); else signOut("");
  });
})();
