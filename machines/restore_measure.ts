/**
 * Measures how soon the keep_file machine restores a deleted file (15 deletions at random times)
 * and what 100 machines with 1-second file watchers cost a node in CPU:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run=/usr/bin/cp --allow-env --allow-sys machines/restore_measure.ts
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { cpuUsage } from "node:process";
import { defaultPlugins, MachineHost } from "./mod.ts";
const store = await Deno.makeTempDir();
await Deno.mkdir(join(store, "keep_file"));
for (const f of ["machine.yaml", "golden.txt"]) {
  await Deno.copyFile(
    new URL(`./testdata/store/keep_file/${f}`, import.meta.url),
    join(store, "keep_file", f),
  );
}
const host = new MachineHost({ store, identity: "m", plugins: defaultPlugins(), pollMs: 0 });
await host.start();
const file = join(store, "keep_file", "managed.txt");
const exists = () => Deno.stat(file).then(() => true, () => false);
while (!(await exists())) await new Promise((r) => setTimeout(r, 10));
const times: number[] = [];
for (let i = 0; i < 15; i++) {
  await new Promise((r) => setTimeout(r, 1500 + Math.random() * 500));
  await Deno.remove(file);
  const t = performance.now();
  while (!(await exists())) await new Promise((r) => setTimeout(r, 5));
  times.push(Math.round(performance.now() - t));
}
times.sort((a, b) => a - b);
console.log("restore ms: min", times[0], "median", times[7], "max", times.at(-1));
await host.stop();
// Idle cost of 100 file-watching machines at 1s.
const many = await Deno.makeTempDir();
const text =
  (await Deno.readTextFile(new URL("./testdata/store/keep_file/machine.yaml", import.meta.url)))
    .replace(/\n {2}- name: restore[\s\S]*$/, "\n");
for (let i = 0; i < 100; i++) {
  await Deno.mkdir(join(many, `m${i}`));
  await Deno.writeTextFile(
    join(many, `m${i}`, "machine.yaml"),
    text.replace("name: keep_file", `name: k${i}`),
  );
  await Deno.writeTextFile(join(many, `m${i}`, "managed.txt"), "x");
}
const h2 = new MachineHost({
  store: many,
  identity: "m",
  plugins: defaultPlugins(),
  pollMs: 10_000,
  splay: false,
});
await h2.start();
await new Promise((r) => setTimeout(r, 2000));
const before = cpuUsage();
await new Promise((r) => setTimeout(r, 10_000));
const used = cpuUsage(before);
console.log(
  "100 machines, file watchers at 1s: CPU",
  ((used.user + used.system) / 1e6 / 10 * 100).toFixed(2),
  "% of a core",
);
await h2.stop();
await Deno.remove(store, { recursive: true });
await Deno.remove(many, { recursive: true });
