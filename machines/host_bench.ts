/**
 * `deno bench --allow-read --allow-write --allow-env machines/host_bench.ts`: what validating a
 * machine file costs, and loading and starting a directory of 100 machines (file watchers).
 */
import { join } from "node:path";
import { MachineHost } from "./host.ts";
import { loadManifest } from "./manifest.ts";
import { defaultPlugins } from "./watchers/mod.ts";

const plugins = defaultPlugins();
const text = await Deno.readTextFile(
  new URL("./testdata/store/keep_file/machine.yaml", import.meta.url),
);

Deno.bench("validate one machine file", () => {
  loadManifest(text, { plugins });
});

const store = await Deno.makeTempDir({ prefix: "chorale-bench-" });
for (let i = 0; i < 100; i++) {
  await Deno.mkdir(join(store, `m${i}`));
  await Deno.writeTextFile(
    join(store, `m${i}`, "machine.yaml"),
    text.replace("name: keep_file", `name: keep_file_${i}`).replace(
      /\n {2}- name: restore[\s\S]*$/,
      "\n",
    ),
  );
}

Deno.bench("load, validate and start 100 machines", async () => {
  const host = new MachineHost({ store, identity: "bench", plugins, pollMs: 0, splay: false });
  await host.start();
  if (host.machines().length !== 100) throw new Error(`loaded ${host.machines().length}`);
  await host.stop();
});

globalThis.addEventListener("unload", () => Deno.removeSync(store, { recursive: true }));
