import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { join } from "node:path";
import {
  StoreCorruptError,
  StoreLockedError,
  StreamConfigError,
  StreamNotFoundError,
  StreamStore,
  subjectMatches,
} from "./store.ts";
import { within } from "../tests/harness/wait.ts";

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "chorale-store-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("subjectMatches follows NATS wildcards", () => {
  assert(subjectMatches("a.*.c", "a.b.c"));
  assert(subjectMatches("a.>", "a.b.c"));
  assert(!subjectMatches("a.>", "a"));
  assert(!subjectMatches("a.*", "a.b.c"));
  assert(!subjectMatches("a.b", "a.b.c"));
});

Deno.test("StreamStore numbers messages and replays from a sequence, a time and last per subject", () => {
  let now = 1_000;
  using store = StreamStore.open(":memory:", { now: () => now });
  store.addStream({ name: "EV", subjects: ["ev.>"] });
  store.append("ev.a", text("1"));
  now = 2_000;
  store.append("ev.b", text("2"));
  store.append("ev.a", text("3"));
  assertEquals(store.fetch("EV", { from: { seq: 2 } }).map((m) => read(m.data)), ["2", "3"]);
  assertEquals(store.fetch("EV", { from: { timeMs: 1_500 } }).map((m) => m.seq), [2, 3]);
  assertEquals(
    store.fetch("EV", { from: { lastPerSubject: true } }).map((m) => [m.subject, read(m.data)]),
    [["ev.b", "2"], ["ev.a", "3"]],
  );
  assertEquals(store.fetch("EV", { subject: "ev.b" }).map((m) => m.seq), [2]);
  assertEquals(store.fetch("EV", { limit: 1 }).length, 1);
});

Deno.test("StreamStore applies retention by age, count, bytes and per subject", () => {
  let now = 0;
  using store = StreamStore.open(":memory:", { now: () => now });
  store.addStream({ name: "AGE", subjects: ["age"], maxAgeMs: 1_000 });
  store.addStream({ name: "COUNT", subjects: ["count"], maxMsgs: 2 });
  store.addStream({ name: "BYTES", subjects: ["bytes"], maxBytes: 10 });
  store.addStream({ name: "LAST", subjects: ["last.*"], maxMsgsPerSubject: 1 });
  store.append("age", text("old"));
  now = 1_500;
  store.append("age", text("new"));
  assertEquals(store.fetch("AGE").map((m) => read(m.data)), ["new"]);
  for (const n of ["1", "2", "3"]) store.append("count", text(n));
  assertEquals(store.fetch("COUNT").map((m) => read(m.data)), ["2", "3"]);
  assertEquals(store.info("COUNT").messages, 2);
  for (const n of ["aaaa", "bbbb", "cccc"]) store.append("bytes", text(n));
  assertEquals(store.fetch("BYTES").map((m) => read(m.data)), ["bbbb", "cccc"]);
  assertEquals(store.info("BYTES").bytes, 8);
  store.append("last.n1", text("a"));
  store.append("last.n2", text("b"));
  store.append("last.n1", text("c"));
  assertEquals(store.fetch("LAST").map((m) => [m.seq, read(m.data)]), [[2, "b"], [3, "c"]]);
  now = 10_000;
  assertEquals(store.sweepAge(), 1);
  assertEquals(store.info("AGE").messages, 0);
});

Deno.test("StreamStore keeps messages and sequences across a reopen, even after a purge", async () => {
  await using dir = await tempDir();
  {
    using store = StreamStore.open(dir.path);
    store.addStream({ name: "EV", subjects: ["ev"] });
    store.appendBatch([{ subject: "ev", data: text("a") }, { subject: "ev", data: text("b") }]);
    assertEquals(store.purge("EV"), 2);
    store.append("ev", text("c"));
  }
  using store = StreamStore.open(dir.path);
  assertEquals(store.fetch("EV").map((m) => [m.seq, read(m.data)]), [[3, "c"]]);
  assertEquals(store.info("EV").lastSeq, 3);
});

Deno.test("StreamStore refuses unknown subjects, oversize messages and bad configurations", () => {
  using store = StreamStore.open(":memory:", { maxMessageBytes: 4 });
  store.addStream({ name: "EV", subjects: ["ev.>"] });
  assertThrows(() => store.append("other", text("x")), StreamNotFoundError);
  assertThrows(() => store.append("ev.a", text("12345")), /is 5 bytes: the limit is 4/);
  assertThrows(
    () => store.addStream({ name: "bad name", subjects: ["a..b"], maxAgeMs: -1 }),
    (e: Error) =>
      e instanceof StreamConfigError && /'name'/.test(e.message) &&
      /'subjects'/.test(e.message) && /'maxAgeMs'/.test(e.message),
  );
  assertThrows(
    () => store.addStream({ name: "OVER", subjects: ["ev.x"] }),
    /overlaps 'ev.>' of stream 'EV'/,
  );
  // A failed batch stores nothing.
  assertThrows(() =>
    store.appendBatch([{ subject: "ev.a", data: text("1") }, { subject: "nope", data: text("2") }])
  );
  assertEquals(store.info("EV").messages, 0);
});

Deno.test("StreamStore says a file that is not a store is not one", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "streams.db"), "this is not a database ".repeat(100));
  assertThrows(() => StreamStore.open(dir.path), StoreCorruptError);
});

Deno.test("StreamStore refuses a store another process holds", async () => {
  await using dir = await tempDir();
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { StreamStore } from ${JSON.stringify(new URL("./store.ts", import.meta.url).href)};
       const s = StreamStore.open(${JSON.stringify(dir.path)});
       console.log("open");
       await new Promise((r) => setTimeout(r, 20000));`,
    ],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  try {
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await within(reader.read(), "the other process to open the store", 10_000);
    assertThrows(
      () => StreamStore.open(dir.path),
      (e: Error) => e instanceof StoreLockedError && /another process holds it/.test(e.message),
    );
    reader.releaseLock();
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
  }
  // Once the holder is gone the store opens and is intact.
  using store = StreamStore.open(dir.path);
  assertEquals(store.streamNames(), []);
});
