/**
 * Choosing a subset of discovered nodes (`--limit 5`, `--limit 10%`) and splitting targets into
 * batches. Pure: the seed is passed in, so the same seed and the same nodes give the same choice.
 *
 * @module
 */

/** A node count, or a share of the nodes as `"<percent>%"`. */
export type NodeLimit = number | `${number}%`;

/** Options for {@linkcode limitNodes}. */
export interface LimitNodesOptions {
  /** Seeds the choice; the same seed picks the same nodes from the same set. @default random */
  seed?: number;
}

/**
 * Throws a TypeError unless `limit` is a positive whole count or a percentage in (0, 100].
 *
 * @example Refuse a zero limit
 * ```ts
 * import { checkLimit } from "./limit.ts";
 * try {
 *   checkLimit(0);
 * } catch (error) {
 *   console.log((error as Error).message);
 *   // Cannot limit nodes as 'limit' must be a positive integer or a percentage: current value is 0
 * }
 * ```
 */
export function checkLimit(limit: NodeLimit): void {
  const ok = typeof limit === "number"
    ? Number.isInteger(limit) && limit > 0
    : /^\d+(\.\d+)?%$/.test(limit) && Number(limit.slice(0, -1)) > 0 &&
      Number(limit.slice(0, -1)) <= 100;
  if (!ok) {
    throw new TypeError(
      `Cannot limit nodes as 'limit' must be a positive integer or a percentage: current value is ${
        JSON.stringify(limit)
      }`,
    );
  }
}

/**
 * How many of `total` nodes a limit allows: a count as is (at most `total`), a percentage rounded
 * up, so any share of a non-empty set keeps at least one node.
 *
 * @example Half of three nodes
 * ```ts
 * import { limitCount } from "./limit.ts";
 * console.log(limitCount(3, "50%"), limitCount(3, 5)); // 2 3
 * ```
 */
export function limitCount(total: number, limit: NodeLimit): number {
  checkLimit(limit);
  if (typeof limit === "number") return Math.min(limit, total);
  return Math.min(total, Math.ceil((total * Number(limit.slice(0, -1))) / 100));
}

// mulberry32: small, fast and good enough to pick nodes; not for secrets.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The nodes a limit keeps, sorted: the nodes are sorted, shuffled with a generator seeded by
 * `options.seed`, and the first {@linkcode limitCount} of them kept.
 *
 * @example The same seed picks the same node
 * ```ts
 * import { limitNodes } from "./limit.ts";
 * const nodes = ["n1", "n2", "n3", "n4"];
 * const a = limitNodes(nodes, 1, { seed: 42 });
 * const b = limitNodes([...nodes].reverse(), 1, { seed: 42 });
 * console.log(a.length, a[0] === b[0]); // 1 true
 * ```
 */
export function limitNodes(
  nodes: readonly string[],
  limit: NodeLimit,
  options: LimitNodesOptions = {},
): string[] {
  const count = limitCount(nodes.length, limit);
  const seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const random = prng(seed);
  const pool = [...new Set(nodes)].sort();
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count).sort();
}

/**
 * Splits nodes into batches of `size`; 0 means one batch of all.
 *
 * @example Batches of two
 * ```ts
 * import { batches } from "./limit.ts";
 * console.log(batches(["a", "b", "c"], 2)); // [ [ "a", "b" ], [ "c" ] ]
 * ```
 */
export function batches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 0) {
    throw new TypeError(
      `Cannot split into batches as 'batchSize' must be a non-negative integer: current value is ${size}`,
    );
  }
  if (size === 0 || items.length <= size) return items.length === 0 ? [] : [[...items]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
