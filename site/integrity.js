// Recompute what the published checkpoint claims: every content digest (RFC 8785 of the
// record without `integrity`, SHA-256), the chain links, the RFC 6962 Merkle root over
// the digests in sequence order, the block files, and the summaries the page shows.

import { canonicalBytes, canonicalize } from "./jcs.js";
import { sha256, toHex, fromHex } from "./hash.js";
import { checkHistory } from "./consistency.js";

const LEAF = 0x00;
const NODE = 0x01;

async function leafHash(contentDigest) {
  const digest = fromHex(contentDigest.replace(/^sha256:/, ""));
  const data = new Uint8Array(33);
  data[0] = LEAF;
  data.set(digest, 1);
  return sha256(data);
}

async function nodeHash(left, right) {
  const data = new Uint8Array(65);
  data[0] = NODE;
  data.set(left, 1);
  data.set(right, 33);
  return sha256(data);
}

// The right edge of the tree: perfect-subtree roots with their heights, largest first.
export class MerkleFrontier {
  constructor() {
    this.size = 0;
    this.nodes = [];
  }

  // Append a perfect subtree of 2**height leaves; the tree size must be a multiple of that.
  async appendSubtree(node, height) {
    const width = 2 ** height;
    if (this.size % width !== 0) throw new Error("unaligned subtree");
    let carry = this.size / width;
    let h = height;
    while (carry & 1) {
      const left = this.nodes.pop();
      node = await nodeHash(left.node, node);
      carry = Math.floor(carry / 2);
      h += 1;
    }
    this.nodes.push({ node, height: h });
    this.size += width;
  }

  async root() {
    if (!this.nodes.length) return sha256(new Uint8Array(0));
    let root = this.nodes[this.nodes.length - 1].node;
    for (let i = this.nodes.length - 2; i >= 0; i--) root = await nodeHash(this.nodes[i].node, root);
    return root;
  }
}

// Leaves of a full power-of-two block hash level by level in parallel, then join the frontier once.
// Returns the leaf hashes (the consistency check builds its own tree from them).
async function appendLeaves(frontier, digests) {
  const leaves = await Promise.all(digests.map(leafHash));
  let level = leaves;
  const full = level.length > 0 && (level.length & (level.length - 1)) === 0;
  if (full && frontier.size % level.length === 0) {
    let height = 0;
    while (level.length > 1) {
      const next = [];
      for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
      level = await Promise.all(next);
      height += 1;
    }
    await frontier.appendSubtree(level[0], height);
    return leaves;
  }
  for (const leaf of level) await frontier.appendSubtree(leaf, 0);
  return leaves;
}

export async function contentDigestOf(record) {
  const body = {};
  for (const key of Object.keys(record)) if (key !== "integrity") body[key] = record[key];
  return "sha256:" + toHex(await sha256(canonicalBytes(body)));
}

// Where a summary field comes from in the record (anything else is a details field).
function recordValueFor(record, key) {
  const links = record.links || {};
  switch (key) {
    case "seq": return record.integrity && record.integrity.sequence;
    case "content_digest": return record.integrity && record.integrity.content_digest;
    case "commit": return links.commit;
    case "run_id": return links.dagster_run_id;
    case "id": case "kind": case "service": case "result": case "started_at": case "finished_at":
      return record[key];
    // Flags the index derives from details (evidence/index_scan.py), present only when true.
    case "drift": return (record.details || {}).error === "drift" ? true : undefined;
    case "rollback": {
      const details = record.details || {};
      return details.rollback_of || details.event === "rollback" ? true : undefined;
    }
    default: return (record.details || {})[key];
  }
}

function lineMatchesRecord(line, record) {
  for (const key of Object.keys(line)) {
    const value = recordValueFor(record, key);
    if (canonicalize(value === undefined ? null : value) !== canonicalize(line[key])) return key;
  }
  return null;
}

async function fetchBytes(path) {
  const response = await fetch(path, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function checkedJson(meta, problems) {
  const bytes = await fetchBytes(meta.path);
  const hex = toHex(await sha256(bytes));
  if (hex !== meta.sha256) problems.push(`${meta.path}: sha256 is ${hex}, the summary says ${meta.sha256}`);
  return JSON.parse(new TextDecoder().decode(bytes));
}

// Verify everything; `onProgress({block, blocks, records})` after each block. Never throws for bad data.
// With the published checkpoint `history`, also prove the records extend every checkpoint in it.
export async function verifyPublished(summary, onProgress = () => {}, history = null) {
  const problems = [];
  const note = (text) => { if (problems.length < 200) problems.push(text); else problems.truncated = true; };
  const frontier = new MerkleFrontier();
  const checkpoint = summary.checkpoint || {};
  const linesBySeq = new Map();
  const wanted = new Set();
  for (const row of summary.services || []) {
    for (const key of ["pinned", "last_promotion", "last_smoke", "last"]) if (row[key]) wanted.add(row[key].seq);
  }
  let expected = 1;
  let prevDigest = null;
  let last = null;
  const leaves = [];
  const blocks = summary.blocks || [];
  for (let b = 0; b < blocks.length; b++) {
    const meta = blocks[b];
    let records, timeline;
    try {
      [records, timeline] = await Promise.all([
        checkedJson(meta.records, problems),
        checkedJson(meta.timeline, problems),
      ]);
    } catch (error) {
      note(`block ${meta.block}: ${error.message}`);
      break;
    }
    const lines = timeline.records || [];
    const digests = await Promise.all(records.map(contentDigestOf));
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      const integrity = record.integrity || {};
      const where = `sequence ${integrity.sequence} (${record.id})`;
      if (integrity.sequence !== expected) note(`${where}: expected sequence ${expected}`);
      if (integrity.content_digest !== digests[i]) {
        note(`${where}: content digest is ${integrity.content_digest}, the content hashes to ${digests[i]}`);
      }
      if ((integrity.prev_digest || null) !== prevDigest) note(`${where}: prev_digest does not link to the previous record`);
      const line = lines[i];
      if (!line) note(`${where}: no timeline entry`);
      else {
        const field = lineMatchesRecord(line, record);
        if (field) note(`${where}: timeline field ${field} differs from the record`);
        if (wanted.has(line.seq)) linesBySeq.set(line.seq, canonicalize(line));
      }
      prevDigest = digests[i];
      expected = (integrity.sequence || expected) + 1;
      last = { sequence: integrity.sequence, id: record.id, content_digest: digests[i] };
    }
    if (lines.length !== records.length) note(`block ${meta.block}: ${lines.length} timeline entries for ${records.length} records`);
    for (const leaf of await appendLeaves(frontier, digests)) leaves.push(leaf);
    onProgress({ block: b + 1, blocks: blocks.length, records: frontier.size });
  }
  const root = toHex(await frontier.root());
  if (frontier.size !== checkpoint.tree_size) note(`tree size is ${frontier.size}, the checkpoint says ${checkpoint.tree_size}`);
  if (root !== checkpoint.root) note(`Merkle root is ${root}, the checkpoint says ${checkpoint.root}`);
  const head = checkpoint.head || null;
  if (canonicalize(head) !== canonicalize(last)) note("the checkpoint head is not the last record");
  for (const row of summary.services || []) {
    for (const key of ["pinned", "last_promotion", "last_smoke", "last"]) {
      const line = row[key];
      if (line && linesBySeq.get(line.seq) !== canonicalize(line)) note(`service ${row.service}: ${key} differs from record ${line.seq}`);
    }
  }
  const consistency = await checkHistory(history, leaves);
  if (consistency.failure) note(consistency.failure);
  return {
    ok: problems.length === 0,
    problems,
    truncated: Boolean(problems.truncated),
    size: frontier.size,
    root,
    checkpoints: consistency.checked,
    consistent: !consistency.failure,
  };
}
