import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ensureDir,
  FileAccessError,
  FileExistsError,
  fileMode,
  MissingFileError,
  pathExists,
  readPemFile,
  writePemFile,
} from "./pem_files.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-pem-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readPemFile names what is missing and where", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "y.pem");
    await assert.rejects(
      () => readPemFile("certificate", path),
      (error: Error) =>
        error instanceof MissingFileError && error.path === path &&
        error.message === `Cannot read certificate ${path} as it does not exist`,
    );
    await assert.rejects(() => readPemFile("certificate", dir), FileAccessError);
  });
});

Deno.test("writePemFile makes secret files 0600 whatever the umask and old mode", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "k.pem");
    await writePemFile(path, "one", { what: "private key", secret: true });
    assert.equal(await fileMode(path), 0o600);
    await Deno.chmod(path, 0o644);
    await writePemFile(path, "two", { what: "private key", secret: true, force: true });
    assert.equal(await fileMode(path), 0o600);
    assert.equal(await Deno.readTextFile(path), "two");
    await writePemFile(join(dir, "c.pem"), "c", { what: "certificate" });
    assert.equal(await fileMode(join(dir, "c.pem")), 0o644);
  });
});

Deno.test("writePemFile refuses to replace a file unless forced", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "k.pem");
    await writePemFile(path, "one", { what: "private key", secret: true });
    await assert.rejects(
      () => writePemFile(path, "two", { what: "private key", secret: true }),
      (error: Error) =>
        error instanceof FileExistsError &&
        error.message === `Cannot write private key ${path} as it already exists`,
    );
    assert.equal(await Deno.readTextFile(path), "one");
    await assert.rejects(
      () => writePemFile(join(dir, "no", "c.pem"), "c", { what: "certificate" }),
      /as its directory .* does not exist/,
    );
  });
});

Deno.test("ensureDir makes nested directories with the mode asked for", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a", "b");
    await ensureDir(path, 0o700);
    assert.equal(await fileMode(path), 0o700);
    assert.ok(await pathExists(path));
    assert.ok(!(await pathExists(join(dir, "c"))));
  });
});
