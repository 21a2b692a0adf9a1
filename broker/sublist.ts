/**
 * The subject index: a trie of subscriptions by token, with `*` and `>` branches, and a cache of
 * match results by subject. A broadcast to 50,000 subscribers of one subject costs one cache hit
 * and a walk over one array.
 *
 * @module
 */
import { tokensMatch } from "./subject.ts";

/** What the index stores: anything with a subject and an optional queue group. */
export interface Indexed {
  readonly subject: string;
  readonly queue: string | null;
}

/** The subscriptions matching one subject: plain ones, and queue groups by name. */
export interface MatchResult<S extends Indexed> {
  plain: S[];
  /** One array of members per queue group (a message goes to one member of each). */
  groups: S[][];
}

class TrieNode<S extends Indexed> {
  children: Map<string, TrieNode<S>> | null = null;
  star: TrieNode<S> | null = null;
  rest: TrieNode<S> | null = null;
  plain: Set<S> | null = null;
  groups: Map<string, Set<S>> | null = null;

  isEmpty(): boolean {
    return !this.children?.size && !this.star && !this.rest && !this.plain?.size &&
      !this.groups?.size;
  }
}

/** Options for {@linkcode Sublist}. */
export interface SublistOptions {
  /** Subjects whose match results are kept. @default 4096 */
  cacheSize?: number;
}

/**
 * A subscription index.
 *
 * @example Match a wildcard subscription
 * ```ts
 * import { Sublist } from "./sublist.ts";
 * const index = new Sublist<{ subject: string; queue: string | null }>();
 * index.insert({ subject: "orders.*", queue: null });
 * console.log(index.match("orders.new").plain.length); // 1
 * ```
 */
export class Sublist<S extends Indexed> {
  readonly #root = new TrieNode<S>();
  readonly #cache = new Map<string, MatchResult<S>>();
  readonly #cacheSize: number;
  #count = 0;

  constructor(options: SublistOptions = {}) {
    this.#cacheSize = options.cacheSize ?? 4096;
  }

  /** How many subscriptions the index holds. */
  get count(): number {
    return this.#count;
  }

  /** How many subjects have cached results. */
  get cacheEntries(): number {
    return this.#cache.size;
  }

  /** Adds a subscription. The subject must be valid. */
  insert(sub: S): void {
    let node = this.#root;
    for (const token of sub.subject.split(".")) {
      if (token === "*") node = node.star ??= new TrieNode();
      else if (token === ">") node = node.rest ??= new TrieNode();
      else {
        node.children ??= new Map();
        let next = node.children.get(token);
        if (!next) {
          next = new TrieNode();
          node.children.set(token, next);
        }
        node = next;
      }
    }
    if (sub.queue === null) (node.plain ??= new Set()).add(sub);
    else {
      node.groups ??= new Map();
      let group = node.groups.get(sub.queue);
      if (!group) {
        group = new Set();
        node.groups.set(sub.queue, group);
      }
      group.add(sub);
    }
    this.#count++;
    this.#invalidate(sub.subject);
  }

  /** Removes a subscription; returns whether it was there. Empty branches are pruned. */
  remove(sub: S): boolean {
    const tokens = sub.subject.split(".");
    const path: [TrieNode<S>, string][] = [];
    let node: TrieNode<S> | null | undefined = this.#root;
    for (const token of tokens) {
      path.push([node, token]);
      if (token === "*") node = node.star;
      else if (token === ">") node = node.rest;
      else node = node.children?.get(token);
      if (!node) return false;
    }
    let removed: boolean;
    if (sub.queue === null) removed = node.plain?.delete(sub) ?? false;
    else {
      const group = node.groups?.get(sub.queue);
      removed = group?.delete(sub) ?? false;
      if (group && group.size === 0) node.groups?.delete(sub.queue);
    }
    if (!removed) return false;
    this.#count--;
    for (let i = path.length - 1; i >= 0 && node.isEmpty(); i--) {
      const [parent, token]: [TrieNode<S>, string] = path[i]!;
      if (token === "*") parent.star = null;
      else if (token === ">") parent.rest = null;
      else parent.children?.delete(token);
      node = parent;
    }
    this.#invalidate(sub.subject);
    return true;
  }

  /** The subscriptions matching a literal subject. The result is shared: do not change it. */
  match(subject: string): MatchResult<S> {
    const cached = this.#cache.get(subject);
    if (cached) return cached;
    const plain: S[] = [];
    const groups = new Map<string, S[]>();
    collect(this.#root, subject.split("."), 0, plain, groups);
    const result: MatchResult<S> = { plain, groups: [...groups.values()] };
    if (this.#cache.size >= this.#cacheSize) {
      // Drop the oldest entry; Map keeps insertion order.
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(subject, result);
    return result;
  }

  /** Every subscription in the index. */
  *all(): IterableIterator<S> {
    yield* walk(this.#root);
  }

  // A change to `pattern` invalidates cached subjects it matches. For a literal pattern that is
  // one entry; a wildcard pattern scans the cache (bounded by its size).
  #invalidate(pattern: string): void {
    if (this.#cache.size === 0) return;
    if (!pattern.includes("*") && !pattern.includes(">")) {
      this.#cache.delete(pattern);
      return;
    }
    const tokens = pattern.split(".");
    for (const subject of this.#cache.keys()) {
      if (tokensMatch(tokens, subject.split("."))) this.#cache.delete(subject);
    }
  }
}

function collect<S extends Indexed>(
  node: TrieNode<S>,
  tokens: string[],
  depth: number,
  plain: S[],
  groups: Map<string, S[]>,
): void {
  if (node.rest && depth < tokens.length) addAll(node.rest, plain, groups);
  if (depth === tokens.length) {
    addAll(node, plain, groups);
    return;
  }
  const next = node.children?.get(tokens[depth]!);
  if (next) collect(next, tokens, depth + 1, plain, groups);
  if (node.star) collect(node.star, tokens, depth + 1, plain, groups);
}

function addAll<S extends Indexed>(node: TrieNode<S>, plain: S[], groups: Map<string, S[]>): void {
  if (node.plain) { for (const s of node.plain) plain.push(s); }
  if (node.groups) {
    for (const [name, members] of node.groups) {
      let list = groups.get(name);
      if (!list) {
        list = [];
        groups.set(name, list);
      }
      for (const s of members) list.push(s);
    }
  }
}

function* walk<S extends Indexed>(node: TrieNode<S>): IterableIterator<S> {
  if (node.plain) yield* node.plain;
  if (node.groups) { for (const g of node.groups.values()) yield* g; }
  if (node.children) { for (const c of node.children.values()) yield* walk(c); }
  if (node.star) yield* walk(node.star);
  if (node.rest) yield* walk(node.rest);
}
