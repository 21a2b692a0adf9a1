import assert from "node:assert/strict";
import { ReplayGuard } from "./replay_guard.ts";

Deno.test("ReplayGuard remembers keys until they expire", () => {
  const guard = new ReplayGuard();
  guard.add("a", 2_000, 0);
  assert.ok(guard.has("a", 1_000));
  assert.ok(guard.has("a", 2_000));
  assert.ok(!guard.has("a", 2_001));
  assert.ok(!guard.has("b", 0));
});

Deno.test("ReplayGuard drops expired entries and stays within its capacity", () => {
  const guard = new ReplayGuard({ capacity: 3 });
  guard.add("a", 10, 0);
  guard.add("b", 10, 0);
  guard.add("c", 100, 0);
  guard.add("d", 100, 50); // a and b expired: swept from the front
  assert.equal(guard.size, 2);
  guard.add("e", 100, 50);
  guard.add("f", 100, 50); // full of live entries: the oldest (c) goes
  assert.equal(guard.size, 3);
  assert.ok(!guard.has("c", 60));
  assert.ok(guard.has("d", 60) && guard.has("e", 60) && guard.has("f", 60));
  assert.throws(() => new ReplayGuard({ capacity: 0 }), /'capacity' must be a positive integer/);
});
