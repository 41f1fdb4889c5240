// Consistency with the published checkpoint history (data/checkpoints.json): for every
// checkpoint, an RFC 6962 consistency proof from its size to the current tree is generated
// from the records' leaf hashes and verified against both roots (RFC 9162 section 2.1.4.2),
// the same check as `factory evidence verify`, with no server.

import { sha256, toHex, fromHex } from "./hash.js";

async function nodeHash(left, right) {
  const data = new Uint8Array(65);
  data[0] = 0x01;
  data.set(left, 1);
  data.set(right, 33);
  return sha256(data);
}

const log2 = (powerOfTwo) => 31 - Math.clz32(powerOfTwo); // exact, for sizes below 2**31
const largestPowerOfTwoBelow = (n) => 2 ** log2(n - 1);
const isPowerOfTwo = (n) => n > 0 && (n & (n - 1)) === 0;
const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// Every level of the tree over `leaves` (complete pairs only), so any subtree is a lookup.
export class MerkleLevels {
  static async build(leaves) {
    const tree = new MerkleLevels();
    tree.size = leaves.length;
    tree.levels = [leaves];
    while (tree.levels[tree.levels.length - 1].length > 1) {
      const below = tree.levels[tree.levels.length - 1];
      const next = [];
      for (let i = 0; i + 1 < below.length; i += 2) next.push(nodeHash(below[i], below[i + 1]));
      tree.levels.push(await Promise.all(next));
    }
    return tree;
  }

  async subtree(start, end) {
    const width = end - start;
    if (width <= 0) return sha256(new Uint8Array(0));
    if (isPowerOfTwo(width) && start % width === 0) return this.levels[log2(width)][start / width];
    const k = largestPowerOfTwoBelow(width);
    return nodeHash(await this.subtree(start, start + k), await this.subtree(start + k, end));
  }

  root(size = this.size) {
    return this.subtree(0, size);
  }

  // PROOF(m, D[n]) of RFC 6962 section 2.1.2.
  async consistencyProof(m, n = this.size) {
    if (m === 0 || m === n) return [];
    const proof = [];
    const sub = async (m, start, end, complete) => {
      const width = end - start;
      if (m === width) {
        if (!complete) proof.push(await this.subtree(start, end));
        return;
      }
      const k = largestPowerOfTwoBelow(width);
      if (m <= k) {
        await sub(m, start, start + k, complete);
        proof.push(await this.subtree(start + k, end));
      } else {
        await sub(m - k, start + k, end, false);
        proof.push(await this.subtree(start, start + k));
      }
    };
    await sub(m, 0, n, true);
    return proof;
  }
}

export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize < 0 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0;
  if (!proof.length || proof.some((node) => node.length !== 32)) return false;
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  // Sizes reach 2**53 before bit operations would overflow; halve with Math.floor instead.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  const half = (x) => Math.floor(x / 2);
  while (fn % 2 === 1) { fn = half(fn); sn = half(sn); }
  let fr = path[0];
  let sr = path[0];
  for (const node of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(node, fr);
      sr = await nodeHash(node, sr);
      if (fn % 2 === 0) while (fn !== 0 && fn % 2 === 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = await nodeHash(sr, node);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return equalBytes(fr, oldRoot) && equalBytes(sr, newRoot) && sn === 0;
}

// { checked, failure } where failure names the first checkpoint the tree no longer extends.
export async function checkHistory(history, leaves) {
  const entries = (history && history.checkpoints) || [];
  if (!entries.length) return { checked: 0, failure: null };
  const tree = await MerkleLevels.build(leaves);
  const root = await tree.root();
  for (let i = 0; i < entries.length; i++) {
    const cp = entries[i];
    const where = `checkpoint #${i + 1} (size ${cp.tree_size}, root ${cp.root}${cp.head_id ? `, head ${cp.head_id}` : ""})`;
    if (!Number.isSafeInteger(cp.tree_size) || !/^[0-9a-f]{64}$/.test(cp.root || "")) {
      return { checked: i, failure: `${where}: not a valid checkpoint entry` };
    }
    if (cp.tree_size > tree.size) {
      return { checked: i, failure: `${where} no longer holds: the records are ${tree.size}, fewer than the ${cp.tree_size} published` };
    }
    const proof = await tree.consistencyProof(cp.tree_size);
    if (!(await verifyConsistency(cp.tree_size, tree.size, fromHex(cp.root), root, proof))) {
      return { checked: i, failure: `${where} no longer holds: the consistency proof from size ${cp.tree_size} to ${tree.size} does not verify against root ${toHex(root)}` };
    }
  }
  return { checked: entries.length, failure: null };
}
