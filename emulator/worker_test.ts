import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { parseWorkerSpec } from "./worker.ts";

const spec = {
  caDir: "/tmp/ca",
  brokers: ["tls://127.0.0.1:4222"],
  first: 0,
  count: 2,
  replySize: 0,
  delayMs: 0,
  concurrency: 8,
  connectTimeoutMs: 1_000,
  logLevel: "warn",
};

Deno.test("parseWorkerSpec reads the supervisor's --spec", () => {
  assertEquals(parseWorkerSpec(["--spec", JSON.stringify(spec)]), spec);
});

Deno.test("parseWorkerSpec refuses a missing spec, an empty slice and an unknown log level", () => {
  assertThrows(() => parseWorkerSpec([]), /--spec is missing/);
  assertThrows(
    () => parseWorkerSpec(["--spec", JSON.stringify({ ...spec, count: 0 })]),
    /'count' must be a positive integer: current value is 0/,
  );
  assertThrows(
    () => parseWorkerSpec(["--spec", JSON.stringify({ ...spec, logLevel: "loud" })]),
    /'logLevel' must be debug, info, warn or error: current value is 'loud'/,
  );
});
