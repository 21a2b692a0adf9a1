import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { CaExistsError, CaNotFoundError, caPaths, initCaStore, openCaStore } from "./ca_store.ts";
import { FileExistsError, fileMode } from "./pem_files.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-ca-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("initCaStore writes ca.pem, a 0600 ca.key and issued/ in a 0700 directory", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "deep", "ca");
    const store = await initCaStore(dir, { name: "Store CA", algorithm: "ecdsa", days: 30 });
    const paths = caPaths(dir);
    assert.equal(await fileMode(paths.key), 0o600);
    assert.equal(await fileMode(paths.cert), 0o644);
    assert.equal(await fileMode(dir), 0o700);
    assert.ok((await Deno.stat(paths.issued)).isDirectory);
    assert.equal(new X509Certificate(await Deno.readTextFile(paths.cert)).subject, "CN=Store CA");
    assert.equal(store.ca.algorithm, "ecdsa");
  });
});

Deno.test("initCaStore refuses an existing CA, and with force moves it aside", async () => {
  await withTempDir(async (dir) => {
    const first = await initCaStore(dir);
    await first.record("n1", (await first.ca.issue("server", "n1")).cert);
    const before = await Deno.readTextFile(caPaths(dir).cert);
    await assert.rejects(() => initCaStore(dir), CaExistsError);
    assert.equal(await Deno.readTextFile(caPaths(dir).cert), before);
    const second = await initCaStore(dir, { force: true });
    assert.notEqual(second.ca.certPem, before);
    assert.ok(second.replaced);
    assert.equal(await Deno.readTextFile(join(second.replaced, "ca.pem")), before);
    assert.equal(await fileMode(join(second.replaced, "ca.key")), 0o600);
    assert.ok((await Deno.stat(join(second.replaced, "issued", "n1.pem"))).isFile);
    assert.deepEqual((await second.list()).entries, []);
  });
});

Deno.test("openCaStore loads what initCaStore made, and says when there is none", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => openCaStore(join(dir, "none")),
      (error: Error) =>
        error instanceof CaNotFoundError && error.message.includes(join(dir, "none", "ca.pem")),
    );
    const made = await initCaStore(dir, { name: "Reopened" });
    const opened = await openCaStore(dir);
    assert.equal(opened.ca.name, "Reopened");
    assert.equal(opened.ca.certPem, made.ca.certPem);
  });
});

Deno.test("CaStore records issued certificates once and lists them by name", async () => {
  await withTempDir(async (dir) => {
    const store = await initCaStore(dir);
    const b = await store.ca.issue("server", "b.example.net");
    const a = await store.ca.issue("client", "a.mcollective", { algorithm: "rsa" });
    await store.record("b.example.net", b.cert);
    await store.record("a.mcollective", a.cert);
    await assert.rejects(() => store.record("a.mcollective", a.cert), FileExistsError);
    await store.record("a.mcollective", a.cert, { force: true });
    await Deno.writeTextFile(join(store.paths.issued, "junk.pem"), "junk");
    const { entries, problems } = await store.list();
    assert.deepEqual(entries.map((e) => [e.name, e.kind, e.algorithm]), [
      ["a.mcollective", "client", "rsa-2048"],
      ["b.example.net", "server", "ed25519"],
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /junk\.pem/);
    assert.ok(await store.has("a.mcollective"));
    assert.ok(!(await store.has("c")));
  });
});
