import assert from "node:assert/strict";
import { coerce, type ConfigKey, loadConfig } from "./config.ts";

const KEYS: ConfigKey[] = [
  { key: "listen", type: "string", default: "0.0.0.0:4222", env: "T_LISTEN", doc: "" },
  { key: "max_payload", type: "size", default: 1024, env: "T_MAX", doc: "" },
  { key: "tls.timeout", type: "duration", default: 2000, env: "T_TLS_TIMEOUT", doc: "" },
  { key: "insecure", type: "boolean", default: false, doc: "" },
  { key: "permissions", type: "object", default: {}, doc: "" },
];

Deno.test("loadConfig applies defaults < file < environment < flags", () => {
  const env: Record<string, string> = { T_MAX: "2KB", T_LISTEN: "127.0.0.1:1" };
  const { values, problems } = loadConfig(KEYS, {
    file: { path: "b.yaml", text: "listen: 10.0.0.1:5\nmax_payload: 100\ntls:\n  timeout: 5s\n" },
    env: (name) => env[name],
    flags: { listen: "127.0.0.1:2", insecure: undefined },
  });
  assert.deepEqual(problems, []);
  assert.equal(values.listen, "127.0.0.1:2");
  assert.equal(values.max_payload, 2048);
  assert.equal(values["tls.timeout"], 5000);
  assert.equal(values.insecure, false);
});

Deno.test("loadConfig reports every problem at once", () => {
  const { problems } = loadConfig(KEYS, {
    file: {
      path: "b.yaml",
      text: "max_payload: lots\nbogus: 1\ntls:\n  timeout: soon\ninsecure: maybe\n",
    },
  });
  assert.equal(problems.length, 4, problems.join("\n"));
  assert.ok(problems.some((p) => p.includes("'max_payload'") && p.includes('"lots"')));
  assert.ok(problems.some((p) => p.includes("unknown setting 'bogus'")));
  assert.ok(problems.some((p) => p.includes("'tls.timeout'")));
  assert.ok(problems.some((p) => p.includes("'insecure'")));
});

Deno.test("loadConfig rejects YAML that is broken or not a mapping", () => {
  assert.match(
    loadConfig(KEYS, { file: { path: "x", text: "a: [1" } }).problems[0]!,
    /not valid YAML/,
  );
  assert.match(
    loadConfig(KEYS, { file: { path: "x", text: "- 1\n- 2\n" } }).problems[0]!,
    /mapping/,
  );
  assert.deepEqual(loadConfig(KEYS, { file: { path: "x", text: "" } }).problems, []);
});

Deno.test("coerce understands durations, sizes, integers and lists", () => {
  assert.deepEqual(coerce("duration", "500ms"), { value: 500 });
  assert.deepEqual(coerce("duration", "2m"), { value: 120_000 });
  assert.deepEqual(coerce("duration", 3), { value: 3_000 });
  assert.deepEqual(coerce("size", "64MB"), { value: 67_108_864 });
  assert.deepEqual(coerce("size", 4096), { value: 4096 });
  assert.deepEqual(coerce("integer", "12"), { value: 12 });
  assert.deepEqual(coerce("list", "a, b"), { value: ["a", "b"] });
  assert.ok("problem" in coerce("integer", "1.5"));
  assert.ok("problem" in coerce("size", "-1"));
  assert.ok("problem" in coerce("duration", "10 parsecs"));
});
