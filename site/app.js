// The evidence dashboard. Data: data/summary.json (small, always loaded), data/metrics.json,
// and sequence blocks under data/timeline/ and data/records/, fetched only when a view needs them.
// Filters and the open record live in the query string, so every view has a URL.

import { el, clear, safeUrl, shortDigest, formatMs, formatTime } from "./dom.js";
import { barChart, lineChart } from "./charts.js";
import { contentDigestOf, verifyPublished } from "./integrity.js";
import { hasWebCrypto } from "./hash.js";

const PAGE = 50;
const FILTERS = ["service", "kind", "result", "from", "to"];
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const state = { summary: null, metrics: null, history: null, timeline: new Map(), records: new Map(), scan: null, verifying: false };
const $ = (id) => document.getElementById(id);

async function fetchJson(path) {
  const response = await fetch(path, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function cached(map, meta) {
  if (!map.has(meta.path)) map.set(meta.path, fetchJson(meta.path));
  return map.get(meta.path);
}

const timelineOf = (block) => cached(state.timeline, block.timeline).then((data) => data.records || []);
const recordsOf = (block) => cached(state.records, block.records);

// --- URL state ---------------------------------------------------------------

function readParams() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const key of FILTERS) {
    const value = params.get(key);
    if (!value) continue;
    if ((key === "from" || key === "to") && !DATE.test(value)) continue;
    filters[key] = value;
  }
  const record = Number.parseInt(params.get("record") || "", 10);
  return { filters, record: Number.isSafeInteger(record) && record > 0 ? record : null, verify: params.get("verify") === "1" };
}

function queryFor(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (filters[key]) params.set(key, filters[key]);
  for (const [key, value] of Object.entries(extra)) if (value !== null && value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "?";
}

function navigate(query) {
  history.pushState(null, "", query);
  return route();
}

// --- header, warnings, checkpoint ------------------------------------------

function publishedLine(published) {
  const entries = (published && published.checkpoints) || [];
  if (!entries.length) return "none yet: this build has not been published";
  const last = entries[entries.length - 1];
  return `${entries.length} · last: ${last.tree_size} records${last.published_at ? ` on ${formatTime(last.published_at)}` : ""}`;
}

function renderHeader(summary) {
  const cp = summary.checkpoint;
  const last = summary.range ? formatTime(summary.range.last) : "no records yet";
  $("checkpoint-line").textContent = `${cp.tree_size} records · latest ${last} · Merkle root ${cp.root.slice(0, 16)}…`;
  const warnings = clear($("warnings"));
  for (const text of summary.warnings || []) warnings.append(el("li", {}, text));
  const facts = clear($("checkpoint"));
  const rows = [
    ["Tree size", String(cp.tree_size)],
    ["Merkle root", cp.root],
    ["Head", cp.head ? `sequence ${cp.head.sequence} · ${cp.head.id}` : "–"],
    ["Hashing", cp.hash],
    ["Published checkpoints", publishedLine(state.history)],
  ];
  for (const [k, v] of rows) facts.append(el("dt", {}, k), el("dd", { class: "mono" }, v));
}

// --- service matrix ------------------------------------------------------------

function recordLink(line, text) {
  if (!line) return text || "–";
  return el("a", { href: queryFor(readParams().filters, { record: line.seq }), dataset: { seq: line.seq } }, text);
}

function verdictBadge(line) {
  if (!line) return "–";
  const verdict = line.verdict || line.result;
  const text = line.drift ? `${verdict} (drift)` : verdict;
  return el("span", { class: `badge v-${/^[a-z]+$/.test(verdict) ? verdict : "other"}`, title: line.drift ? "the application runs another image than the pin" : "" }, text);
}

// The queue cell: the lane's newest request as `factory release status` words it.
function queueCell(lane) {
  const cell = el("td", { title: lane.last_error || "" });
  if (!lane.state) {
    cell.append("–");
    return cell;
  }
  let where = lane.state;
  if (lane.waiting_since) where = "waiting for replication";
  else if (lane.awaiting_approval) where = "awaiting approval";
  cell.append(el("span", { class: "badge" }, where));
  if (lane.release) cell.append(" ", el("span", { class: "mono" }, lane.release));
  if (lane.waiting_since) cell.append(` since ${formatTime(lane.waiting_since)}`);
  if (lane.attempts) cell.append(` · attempt ${lane.attempts}`);
  if (lane.next_retry) cell.append(` · next ${formatTime(lane.next_retry)}`);
  return cell;
}

// One lane: `factory release status`'s row (`status`), linked to the records behind it.
function matrixRow(row) {
  const lane = row.status || {};
  const digest = lane.pinned;
  const isDigest = typeof digest === "string" && digest.startsWith("sha256:");
  const digestCell = el("td", { class: "mono", title: digest || "" }, digest ? (isDigest ? recordLink(row.pinned, shortDigest(digest)) : digest) : "–");
  if (row.pin_matches_evidence === false) {
    digestCell.append(" ", el("span", { class: "badge warn", title: "the pin differs from the last successful promotion record" }, "pin ≠ evidence"));
  }
  if (lane.target) digestCell.append(" ", el("span", { class: "badge warn", title: lane.target }, "no target"));
  const smoke = row.last_smoke;
  return el("tr", { dataset: { service: row.service, env: row.env || "dev" } },
    el("th", { scope: "row" }, el("a", { href: queryFor({ service: row.service }) }, row.service)),
    digestCell,
    el("td", {}, lane.tag || "–"),
    el("td", {}, (row.pinned && formatTime(row.pinned.finished_at)) || "–"),
    el("td", { class: "mono" }, lane.release_id || "–"),
    el("td", {}, smoke ? [verdictBadge(smoke), " ", recordLink(smoke, formatTime(smoke.finished_at))] : lane.smoke || "–"),
    queueCell(lane),
    el("td", { class: lane.hold ? "hold" : "" }, lane.hold ? "hold" : "–"),
  );
}

// One section per environment: "what runs in dev", "what runs in prod".
function renderMatrix(summary) {
  const table = clear($("matrix"));
  const head = ["Service", "Pinned digest", "Tag", "Promoted", "Release", "Last smoke", "Queue", "Hold"];
  table.append(el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))));
  const rows = summary.services;
  if (!rows.length) {
    table.append(el("tbody", {}, el("tr", {}, el("td", { colspan: head.length, class: "muted" }, "No services yet."))));
    return;
  }
  const envs = [...new Set(rows.map((row) => row.env || "dev"))];
  for (const env of envs) {
    const body = el("tbody", { dataset: { env } },
      el("tr", { class: "env-heading" }, el("th", { colspan: head.length, scope: "rowgroup" }, `What runs in ${env}`)));
    for (const row of rows) if ((row.env || "dev") === env) body.append(matrixRow(row));
    table.append(body);
  }
}

// --- queue health: what the repository's old dashboard showed, from the four-list queue ---

function renderHealth(summary) {
  const health = summary.queue_health;
  const panel = $("health-panel");
  panel.hidden = !health;
  if (!health) return;
  const facts = clear($("health"));
  const c = health.counts || {};
  const p = health.pending || {};
  const rows = [
    ["Entries", `${c.pending || 0} pending · ${c.promoted || 0} promoted · ${c.failed || 0} failed · ${c.superseded || 0} superseded`],
    ["Oldest pending", p.oldestCreatedAt ? `${formatTime(p.oldestCreatedAt)} (${formatMs((p.maxAgeSeconds || 0) * 1000)} old)` : "–"],
    [`Stale pending (> ${formatMs((p.staleThresholdSeconds || 0) * 1000)})`, (p.staleIds || []).join(", ") || "none"],
    ["Pending by service/env", Object.entries(p.byServiceEnv || {}).map(([k, n]) => `${k} ${n}`).join(", ") || "–"],
    ["Failed in the last 24 h", String((health.failed || {}).last24h || 0)],
    ["Superseded vs promoted", String((health.ratios || {}).supersededVsPromoted ?? 0)],
    ["As of", formatTime(health.generatedAt)],
  ];
  for (const [k, v] of rows) facts.append(el("dt", {}, k), el("dd", {}, v));
}

// --- pipeline: each release through the environments ---------------------------

// "soaking, 12 min of 30": counted here, from when the soak began, so the build stays the same.
function soakText(soak, now) {
  const unit = soak.required_ms < 120000 ? [1000, "s"] : [60000, "min"];  // seconds: the demo's
  const total = Math.floor(soak.required_ms / unit[0]);
  const restarted = soak.restarted_at
    ? ` (clock restarted by a ${soak.restarted_by} verdict at ${formatTime(soak.restarted_at)})` : "";
  if (!soak.began_at) return `soak starts at the next passed check${restarted}`;
  const done = Math.max(0, Math.floor((now - Date.parse(soak.began_at)) / unit[0]));
  return `soaking, ${Math.min(done, total)} ${unit[1]} of ${total}${restarted}`;
}

function pipelineCell(cell) {
  if (!cell || !cell.where) return el("td", { class: "muted" }, "–");
  if (cell.soak) {
    return el("td", { dataset: { env: cell.env }, title: cell.release_id || "" },
      el("span", { class: "badge" }, "soaking"), " ", soakText(cell.soak, Date.now()));
  }
  const parts = [el("span", { class: "badge" }, cell.where)];
  if (cell.where === "no target") return el("td", { class: "muted" }, parts);
  if (cell.healthy_at) parts.push(" healthy ", formatTime(cell.healthy_at));
  else if (cell.pinned_at) parts.push(" pinned ", formatTime(cell.pinned_at));
  else if (cell.since) parts.push(" since ", formatTime(cell.since));
  if (cell.approved_by) parts.push(` · approved by ${cell.approved_by}`);
  return el("td", { dataset: { env: cell.env }, title: cell.release_id || "" }, parts);
}

function renderPipeline(summary) {
  const pipeline = summary.pipeline || { stages: [], rows: [] };
  const panel = $("pipeline-panel");
  panel.hidden = !pipeline.stages.length;
  if (panel.hidden) return;
  const table = clear($("pipeline"));
  const head = ["Service", "Release", ...pipeline.stages, "Lead time (request → last stage healthy)"];
  table.append(el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const row of pipeline.rows) {
    body.append(el("tr", { dataset: { service: row.service } },
      el("th", { scope: "row" }, row.service),
      el("td", { class: "mono", title: row.digest || "" }, row.tag || shortDigest(row.digest) || "–"),
      ...row.cells.map(pipelineCell),
      el("td", {}, row.lead_time_ms === null || row.lead_time_ms === undefined ? "–" : formatMs(row.lead_time_ms)),
    ));
  }
  table.append(body);
}

// --- DORA -------------------------------------------------------------------

function tile(metric, label, value, sub) {
  return el("div", { class: "tile", dataset: { metric } }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), el("div", { class: "sub" }, sub));
}

function stat(s) {
  return s && s.count ? `median of ${s.count} · p90 ${formatMs(s.p90)}` : "no data in the window";
}

// The share of deployments that led to a failure (a deployment counts once, however many
// of its checks failed).
function failureRate(tiles) {
  const deploys = tiles.deployments || 0;
  return deploys ? `${((100 * (tiles.failed_deployments || 0)) / deploys).toFixed(1)} %` : "–";
}

function renderMetrics(metrics) {
  $("window-days").textContent = String(metrics.window_days);
  const t = metrics.tiles || {};
  const tiles = clear($("dora"));
  const deploys = t.deployments || 0;
  const perWeek = metrics.window_days ? (deploys * 7) / metrics.window_days : 0;
  tiles.append(
    tile("deployment_frequency", "Deployment frequency", `${perWeek.toFixed(1)} / week`, `${deploys} deployments`),
    tile("lead_time", "Lead time (request → pinned)", formatMs(t.lead_time_ms && t.lead_time_ms.median), stat(t.lead_time_ms)),
    tile("change_failure_rate", "Change failure rate", failureRate(t), `${t.failed_deployments || 0} of ${deploys} deployments led to a failure`),
    tile("time_to_restore", "Time to restore", formatMs(t.restore_ms && t.restore_ms.median), stat(t.restore_ms)),
    tile("pinned_to_healthy", "Pinned → healthy", formatMs(t.pinned_to_healthy_ms && t.pinned_to_healthy_ms.median), stat(t.pinned_to_healthy_ms)),
    tile("request_to_healthy", "Request → healthy", formatMs(t.request_to_healthy_ms && t.request_to_healthy_ms.median), stat(t.request_to_healthy_ms)),
  );
  renderEnvMetrics(metrics);
  const charts = clear($("charts"));
  const days = metrics.days || [];
  const s = metrics.series || {};
  if (!days.length) return;
  charts.append(
    el("figure", {}, el("figcaption", {}, "Deployments per day"), barChart("Deployments per day", days, s.deployments)),
    el("figure", {}, el("figcaption", {}, "Failed smokes per day"), barChart("Failed smokes per day", days, s.failed_smokes, "bar bad")),
    el("figure", {}, el("figcaption", {}, "Latency per step (daily median): request → pinned, pinned → healthy"),
      lineChart("Latency per step", days, [
        { name: "request → pinned", values: s.lead_time_ms, cls: "s1" },
        { name: "pinned → healthy", values: s.pinned_to_healthy_ms, cls: "s2" },
      ])),
    el("figure", {}, el("figcaption", {}, "Time to restore (daily median)"),
      lineChart("Time to restore", days, [{ name: "restore", values: s.restore_ms, cls: "s3" }])),
  );
}

// DORA per environment: each env's deployments, lead time, failures and restores.
function renderEnvMetrics(metrics) {
  const table = clear($("dora-envs"));
  const byEnv = metrics.by_env || {};
  const envs = Object.keys(byEnv).sort();
  if (!envs.length) return;
  const head = ["Environment", "Deployments", "Lead time (median)", "Change failure rate", "Time to restore (median)"];
  table.append(el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const env of envs) {
    const t = byEnv[env] || {};
    const deploys = t.deployments || 0;
    body.append(el("tr", { dataset: { env } },
      el("th", { scope: "row" }, env),
      el("td", {}, String(deploys)),
      el("td", {}, formatMs(t.lead_time_ms && t.lead_time_ms.median)),
      el("td", {}, failureRate(t)),
      el("td", {}, formatMs(t.restore_ms && t.restore_ms.median)),
    ));
  }
  table.append(body);
}

// --- timeline -------------------------------------------------------------------

function lineMatches(line, f) {
  if (f.service && line.service !== f.service) return false;
  if (f.kind && line.kind !== f.kind) return false;
  if (f.result && line.result !== f.result) return false;
  const day = (line.finished_at || "").slice(0, 10);
  if (f.from && day < f.from) return false;
  if (f.to && day > f.to) return false;
  return true;
}

function blockMayMatch(meta, f) {
  if (f.service && meta.services && !meta.services.includes(f.service)) return false;
  if (f.kind && !meta.kinds.includes(f.kind)) return false;
  if (f.result && !meta.results.includes(f.result)) return false;
  if (f.from && meta.last_time.slice(0, 10) < f.from) return false;
  if (f.to && meta.first_time.slice(0, 10) > f.to) return false;
  return true;
}

// Newest first, block by block, skipping blocks whose summary rules them out.
class Scan {
  constructor(filters) {
    this.filters = filters;
    this.key = JSON.stringify(filters);
    this.next = state.summary.blocks.length - 1;
    this.matches = [];
    this.fetched = 0;
    this.limit = PAGE;
  }

  get done() {
    return this.next < 0;
  }

  async fill() {
    while (this.matches.length < this.limit && this.next >= 0) {
      const meta = state.summary.blocks[this.next--];
      if (!blockMayMatch(meta, this.filters)) continue;
      const lines = await timelineOf(meta);
      this.fetched++;
      for (let i = lines.length - 1; i >= 0; i--) if (lineMatches(lines[i], this.filters)) this.matches.push(lines[i]);
    }
  }
}

function fillSelect(select, values, current, label) {
  clear(select);
  select.append(el("option", { value: "" }, `all ${label}`));
  const options = new Set(values);
  if (current) options.add(current);
  for (const value of [...options].sort()) select.append(el("option", { value }, value));
  select.value = current || "";
}

function renderFilters(filters) {
  const form = $("filters");
  const f = state.summary.filters;
  fillSelect(form.elements.service, f.services, filters.service, "services");
  fillSelect(form.elements.kind, f.kinds, filters.kind, "kinds");
  fillSelect(form.elements.result, f.results, filters.result, "results");
  form.elements.from.value = filters.from || "";
  form.elements.to.value = filters.to || "";
}

function filtersFromForm() {
  const form = $("filters");
  const filters = {};
  for (const key of FILTERS) {
    const value = form.elements[key].value;
    if (value) filters[key] = value;
  }
  return filters;
}

// What a record says happened, in words; its verdict has a column of its own.
function eventOf(line) {
  const env = line.env || "dev";
  const by = line.requested_by;
  const ref = line.tag || shortDigest(line.digest);
  if (line.kind === "smoke") return ref ? `smoke check of ${ref}` : "smoke check";
  if (line.kind === "imported") return "imported legacy record";
  if (line.kind === "pages") return "dashboard published";
  if (line.kind !== "promotion") return line.kind;
  switch (line.event) {
    case "requested": return by ? `requested by ${by}` : "requested";
    // A stage request queued has its request time; a stage without a target gets none.
    case "handoff": return line.requested_at ? `handed off to ${env}` : `skipped: no ${env} target`;
    case "approved": return by ? `approved by ${by}` : "approved";
    case "rejected": return by ? `rejected by ${by}` : "rejected";
    case "waiting": return line.result === "failure" ? "gave up waiting for replication" : "waiting for replication";
    case "rollback":
      if (by === "factory-auto-rollback") return "automatic rollback after a confirmed failure";
      return by ? `rollback requested by ${by}` : "rollback requested";
    case "window_wait": return "waiting for its promotion window";
    case "window_open": return "its promotion window opened";
    case "superseded": return "superseded by a newer request";
    case "abandoned": return "abandoned";
    case "recovered": return "recovered after a crash";
    default: { // an attempt to pin, or its refusal
      const verb = ATTEMPT[line.result] || line.result;
      return ref ? `${verb} ${ref}` : verb;
    }
  }
}
const ATTEMPT = { success: "pinned", failure: "failed to pin", refused: "refused", superseded: "superseded", skipped: "skipped" };

// A verdict, never an id: a smoke check's, else the record's result; an event that is no
// attempt (a request, a handoff, an approval, a wait) has none.
const NO_VERDICT = new Set(["requested", "handoff", "approved", "waiting", "rollback", "window_wait", "window_open"]);
function verdictOf(line) {
  if (line.kind === "smoke") return verdictBadge(line);
  if (line.result === "skipped" && NO_VERDICT.has(line.event)) return "–";
  return el("span", { class: `badge r-${/^[a-z]+$/.test(line.result) ? line.result : "other"}` }, line.result);
}

function timelineRow(line, filters) {
  return el("tr", { dataset: { seq: line.seq, kind: line.kind, result: line.result } },
    el("td", { class: "num" }, el("a", { href: queryFor(filters, { record: line.seq }) }, String(line.seq))),
    el("td", {}, formatTime(line.finished_at)),
    el("td", {}, line.env && line.env !== "dev" ? `${line.service || "–"} @ ${line.env}` : line.service || "–"),
    el("td", {}, line.rollback ? [line.kind, " ", el("span", { class: "badge rollback", title: "a rollback to an earlier release" }, "rollback")] : line.kind),
    el("td", { class: "event" }, eventOf(line)),
    el("td", { class: "verdict" }, verdictOf(line)),
    el("td", { class: "mono small" }, line.id),
  );
}

async function renderTimeline(filters) {
  const key = JSON.stringify(filters);
  if (!state.scan || state.scan.key !== key) state.scan = new Scan(filters);
  const scan = state.scan;
  $("timeline-status").textContent = "Loading…";
  await scan.fill();
  if (state.scan !== scan) return;
  const table = clear($("timeline"));
  table.append(el("thead", {}, el("tr", {}, ["Seq", "Finished", "Service", "Kind", "Event", "Verdict", "Id"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const line of scan.matches.slice(0, scan.limit)) body.append(timelineRow(line, filters));
  table.append(body);
  const shown = Math.min(scan.limit, scan.matches.length);
  const total = state.summary.blocks.length;
  const scope = scan.done ? "all records searched" : `searched ${total - scan.next - 1} of ${total} blocks`;
  $("timeline-status").textContent = `${shown} shown · ${scope}`;
  $("timeline-more").hidden = scan.done && scan.matches.length <= scan.limit;
}

async function showMore() {
  if (!state.scan) return;
  state.scan.limit += PAGE;
  await renderTimeline(state.scan.filters);
}

// --- record detail --------------------------------------------------------------

function blockOfSeq(seq) {
  return state.summary.blocks.find((b) => b.first_seq <= seq && seq <= b.last_seq) || null;
}

function valueView(value) {
  if (value === null || value === undefined) return el("span", { class: "muted" }, "null");
  if (Array.isArray(value)) {
    if (!value.length) return el("span", { class: "muted" }, "none");
    return el("ol", { class: "tree" }, value.map((v) => el("li", {}, valueView(v))));
  }
  if (typeof value === "object") {
    const list = el("dl", { class: "tree" });
    for (const key of Object.keys(value).sort()) list.append(el("dt", {}, key), el("dd", {}, valueView(value[key])));
    return list;
  }
  return el("span", { class: "v" }, String(value));
}

function externalLink(text, url) {
  const safe = safeUrl(url);
  return safe ? el("a", { href: safe, rel: "noopener noreferrer", target: "_blank" }, text) : el("span", {}, text);
}

function linkRows(record) {
  const links = record.links || {};
  const cfg = state.summary.links || {};
  const rows = [];
  if (links.commit) {
    const url = cfg.commit ? cfg.commit.replaceAll("{commit}", encodeURIComponent(links.commit)) : null;
    rows.push(["Commit", externalLink(links.commit, url)]);
  }
  if (links.dagster_run_id) {
    const url = cfg.dagster ? `${cfg.dagster}/runs/${encodeURIComponent(links.dagster_run_id)}` : null;
    rows.push(["Dagster run", externalLink(links.dagster_run_id, url)]);
  }
  if (links.url) rows.push(["Workflow run", externalLink(links.url, links.url)]);
  for (const key of ["asset_key", "partition"]) if (links[key]) rows.push([key.replace("_", " "), links[key]]);
  return rows;
}

async function findSeqOfId(id, fromSeq) {
  const blocks = state.summary.blocks;
  for (let b = blocks.length - 1; b >= 0; b--) {
    if (blocks[b].first_seq > fromSeq) continue;
    const lines = await timelineOf(blocks[b]);
    const hit = lines.find((line) => line.id === id);
    if (hit) return hit.seq;
  }
  return null;
}

async function renderDetail(seq, filters) {
  const panel = $("detail");
  if (!seq) {
    panel.hidden = true;
    clear(panel);
    return;
  }
  panel.hidden = false;
  clear(panel).append(el("h2", {}, `Record ${seq}`), el("p", { class: "muted" }, "Loading…"));
  const meta = blockOfSeq(seq);
  const records = meta ? await recordsOf(meta) : [];
  const record = records.find((r) => r.integrity && r.integrity.sequence === seq);
  clear(panel);
  const close = el("a", { href: queryFor(filters), class: "close" }, "Close");
  if (!record) {
    panel.append(el("h2", {}, `Record ${seq}`), close, el("p", {}, "No record with this sequence number is published."));
    return;
  }
  const integrity = record.integrity || {};
  const check = el("span", { id: "detail-digest", class: "badge", dataset: { state: "running" } }, "checking…");
  const facts = el("dl", { class: "facts" });
  const rows = [
    ["Id", record.id],
    ["Kind", record.kind],
    ["Service", record.service || "–"],
    ["Result", record.result],
    ["Started", formatTime(record.started_at)],
    ["Finished", formatTime(record.finished_at)],
    ["Producer", record.producer ? `${record.producer.name} ${record.producer.version}` : "–"],
    ...linkRows(record),
    ["Content digest", [el("span", { class: "mono" }, integrity.content_digest || "–"), " ", check]],
    ["Previous digest", integrity.prev_digest || "–"],
  ];
  for (const [k, v] of rows) facts.append(el("dt", {}, k), el("dd", {}, v));
  const subjects = el("ul", {}, (record.subject || []).map((s) => el("li", {}, el("span", {}, s.name), " ", el("span", { class: "mono" }, Object.entries(s.digest || {}).filter(([, v]) => v).map(([k, v]) => `${k}:${v}`).join(" ")))));
  const parents = el("ul", {}, (record.parents || []).map((p) => {
    const button = el("button", { type: "button", class: "link" }, "open");
    button.addEventListener("click", async () => {
      button.disabled = true;
      const found = await findSeqOfId(p.id, seq);
      if (found) navigate(queryFor(filters, { record: found }));
      else button.textContent = "not published";
    });
    return el("li", {}, el("span", { class: "mono" }, p.id), " ", el("span", { class: "mono muted" }, shortDigest(p.content_digest)), " ", button);
  }));
  panel.append(
    el("h2", {}, `Record ${seq} · ${record.kind}`), close, facts,
    el("h3", {}, "Subject"), (record.subject || []).length ? subjects : el("p", { class: "muted" }, "none"),
    el("h3", {}, "Parents"), (record.parents || []).length ? parents : el("p", { class: "muted" }, "none"),
    el("h3", {}, "Details"), valueView(record.details),
    el("details", {}, el("summary", {}, "Stored JSON"), el("pre", { class: "raw" }, JSON.stringify(record, null, 2))),
  );
  const digest = await contentDigestOf(record);
  const ok = digest === integrity.content_digest;
  check.dataset.state = ok ? "ok" : "fail";
  check.className = `badge ${ok ? "v-passed" : "v-failed"}`;
  check.textContent = ok ? "recomputed: matches" : `recomputed: ${digest} (does not match)`;
}

// --- integrity ------------------------------------------------------------------

async function runVerify() {
  if (state.verifying) return;
  state.verifying = true;
  const status = $("integrity-status");
  const progress = $("integrity-progress");
  const problems = clear($("integrity-problems"));
  $("verify").disabled = true;
  progress.hidden = false;
  status.dataset.state = "running";
  status.textContent = hasWebCrypto ? "Checking…" : "Checking (WebCrypto unavailable here: using the page's own SHA-256)…";
  try {
    const result = await verifyPublished(state.summary, ({ block, blocks, records }) => {
      progress.max = blocks;
      progress.value = block;
      status.textContent = `Checking… ${records} records (block ${block} of ${blocks})`;
    }, state.history);
    status.dataset.checkpoints = String(result.checkpoints);
    status.dataset.consistent = result.consistent ? "1" : "0";
    status.dataset.state = result.ok ? "ok" : "fail";
    status.className = result.ok ? "ok" : "fail";
    status.textContent = result.ok
      ? `The published checkpoint holds: ${result.size} records, every content digest recomputed, the chain links, Merkle root ${result.root} matches; consistent with ${result.checkpoints} published checkpoint(s).`
      : `The published checkpoint does NOT hold: ${result.problems.length}${result.truncated ? "+" : ""} problem(s).`;
    for (const text of result.problems) problems.append(el("li", {}, text));
  } catch (error) {
    status.dataset.state = "fail";
    status.className = "fail";
    status.textContent = `The check could not run: ${error.message}`;
  } finally {
    state.verifying = false;
    $("verify").disabled = false;
  }
}

// --- wiring -----------------------------------------------------------------------

async function route() {
  const { filters, record, verify } = readParams();
  renderFilters(filters);
  if (verify) runVerify(); // runs on; the first view does not wait for it
  await Promise.all([renderTimeline(filters), renderDetail(record, filters)]);
}

function wire() {
  const form = $("filters");
  form.addEventListener("change", () => navigate(queryFor(filtersFromForm())));
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    navigate("?");
  });
  $("timeline-more").addEventListener("click", showMore);
  $("verify").addEventListener("click", runVerify);
  window.addEventListener("popstate", route);
  // Links inside the page change the query only: keep it a single page (and the scan cache).
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href^='?']");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
}

async function main() {
  try {
    const [summary, metrics, checkpoints] = await Promise.all([
      fetchJson("data/summary.json"),
      fetchJson("data/metrics.json"),
      fetchJson("data/checkpoints.json").catch(() => null), // a build made before histories existed
    ]);
    state.summary = summary;
    state.metrics = metrics;
    state.history = checkpoints;
    renderHeader(summary);
    renderMatrix(summary);
    renderPipeline(summary);
    renderHealth(summary);
    renderMetrics(metrics);
    wire();
    await route();
    document.body.dataset.ready = "1";
    window.__factoryReadyAt = performance.now();
  } catch (error) {
    $("checkpoint-line").textContent = `The dashboard could not load its data: ${error.message}`;
    document.body.dataset.ready = "error";
  }
}

main();
