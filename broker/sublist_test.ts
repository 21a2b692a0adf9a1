import assert from "node:assert/strict";
import { Sublist } from "./sublist.ts";

interface Sub {
  subject: string;
  queue: string | null;
  name: string;
}

const sub = (subject: string, name = subject, queue: string | null = null): Sub => ({
  subject,
  queue,
  name,
});
const names = (subs: Sub[]) => subs.map((s) => s.name).sort();

Deno.test("Sublist matches literal, * and > subscriptions", () => {
  const index = new Sublist<Sub>();
  for (const s of ["a.b.c", "a.*.c", "a.>", ">", "*.b.*", "a.b", "a.b.c.d", "b.>"]) {
    index.insert(sub(s));
  }
  assert.deepEqual(names(index.match("a.b.c").plain), ["*.b.*", ">", "a.*.c", "a.>", "a.b.c"]);
  assert.deepEqual(names(index.match("a").plain), [">"]);
  assert.deepEqual(names(index.match("a.b").plain), [">", "a.>", "a.b"]);
  assert.deepEqual(names(index.match("b.x").plain), [">", "b.>"]);
  assert.deepEqual(names(index.match("c").plain), [">"]);
});

Deno.test("Sublist groups queue subscribers by queue name", () => {
  const index = new Sublist<Sub>();
  index.insert(sub("q.x", "w1", "workers"));
  index.insert(sub("q.*", "w2", "workers"));
  index.insert(sub("q.x", "o1", "others"));
  index.insert(sub("q.x", "plain"));
  const result = index.match("q.x");
  assert.deepEqual(names(result.plain), ["plain"]);
  assert.deepEqual(result.groups.map((g) => names(g)).sort(), [["o1"], ["w1", "w2"]]);
});

Deno.test("Sublist invalidates cached results when subscriptions change", () => {
  const index = new Sublist<Sub>();
  const a = sub("x.y", "a");
  index.insert(a);
  assert.equal(index.match("x.y").plain.length, 1);
  const wild = sub("x.*", "wild");
  index.insert(wild);
  assert.equal(index.match("x.y").plain.length, 2, "wildcard insert must invalidate");
  index.remove(a);
  assert.deepEqual(names(index.match("x.y").plain), ["wild"]);
  index.remove(wild);
  assert.equal(index.match("x.y").plain.length, 0);
  assert.equal(index.count, 0);
});

Deno.test("Sublist remove reports missing subscriptions and prunes branches", () => {
  const index = new Sublist<Sub>();
  const s = sub("a.b.c");
  assert.equal(index.remove(s), false);
  index.insert(s);
  assert.equal(index.remove(s), true);
  assert.equal(index.remove(s), false);
  assert.deepEqual([...index.all()], []);
});

Deno.test("Sublist keeps the cache bounded", () => {
  const index = new Sublist<Sub>({ cacheSize: 10 });
  index.insert(sub(">"));
  for (let i = 0; i < 100; i++) index.match(`s.${i}`);
  assert.ok(index.cacheEntries <= 10);
});

Deno.test("Sublist matches 50,000 subscribers of one subject", () => {
  const index = new Sublist<Sub>();
  for (let i = 0; i < 50_000; i++) {
    index.insert(sub("mcollective.broadcast.agent.rpcutil", `n${i}`));
  }
  assert.equal(index.match("mcollective.broadcast.agent.rpcutil").plain.length, 50_000);
  assert.equal(index.match("mcollective.broadcast.agent.other").plain.length, 0);
});
