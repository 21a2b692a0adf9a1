import assert from "node:assert/strict";
import { AuditError, type AuditLine, AuditLog, formatAuditLine } from "./audit.ts";

const ENTRY = {
  requestId: "6a7f1e0b2c3d4e5f6a7b8c9d0e1f2a3b",
  requestTime: new Date("2024-05-01T09:59:59.000Z"),
  caller: "choria=rip.mcollective",
  sender: "client.example.net",
  agent: "service",
  action: "restart",
  data: { service: "nginx", force: true },
};
const NOW = new Date("2024-05-01T10:00:00.123Z");
const POSIX = Deno.build.os !== "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale_audit_" });
  try {
    await fn(dir);
  } finally {
    await Deno.chmod(dir, 0o700).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function readLines(path: string): Promise<AuditLine[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"), "the log ends with a newline");
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line) as AuditLine);
}

async function permissions(path: string): Promise<number> {
  return ((await Deno.stat(path)).mode ?? 0) & 0o777;
}

Deno.test("formatAuditLine writes Choria's fields with RFC 3339 times", () => {
  assert.equal(
    formatAuditLine(ENTRY, NOW, { timeFormat: "rfc3339" }),
    '{"timestamp":"2024-05-01T10:00:00.123Z","request_id":"6a7f1e0b2c3d4e5f6a7b8c9d0e1f2a3b",' +
      '"request_time":"2024-05-01T09:59:59.000Z","caller":"choria=rip.mcollective",' +
      '"sender":"client.example.net","agent":"service","action":"restart",' +
      '"data":{"service":"nginx","force":true}}\n',
  );
});

Deno.test("formatAuditLine writes go-choria's times by default", () => {
  const line = JSON.parse(formatAuditLine(ENTRY, NOW));
  assert.equal(line.timestamp, "2024-05-01T10:00:00.123000+0000");
  assert.equal(line.request_time, 1714557599);
});

Deno.test("formatAuditLine writes absent data as {} and keeps every line on one line", () => {
  const { data: _, ...bare } = ENTRY;
  assert.deepEqual(JSON.parse(formatAuditLine(bare, NOW)).data, {});
  const multiline = formatAuditLine({ ...ENTRY, data: { script: "a\nb\r\nc" } }, NOW);
  assert.equal(multiline.indexOf("\n"), multiline.length - 1);
});

Deno.test("formatAuditLine refuses invalid dates and data that is not JSON", () => {
  assert.throws(
    () => formatAuditLine({ ...ENTRY, requestTime: new Date("nope") }, NOW),
    /Cannot format the audit line of request '6a7f.*' as its request time is not a valid date/,
  );
  assert.throws(
    () => formatAuditLine({ ...ENTRY, data: { big: 1n } }, NOW),
    (e) =>
      e instanceof TypeError && /data cannot be written as JSON/.test(e.message) &&
      e.cause instanceof TypeError,
  );
});

Deno.test("AuditLog records a line before record resolves, timestamped by its clock", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await using audit = await AuditLog.open(path, { now: () => NOW });
    await audit.record(ENTRY);
    assert.deepEqual(await readLines(path), [JSON.parse(formatAuditLine(ENTRY, NOW))]);
    await audit.record({ ...ENTRY, requestId: "second" });
    assert.deepEqual((await readLines(path)).map((l) => l.request_id), [ENTRY.requestId, "second"]);
  });
});

Deno.test("AuditLog creates the file with mode 0600", { ignore: !POSIX }, async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await (await AuditLog.open(path)).close();
    assert.equal(await permissions(path), 0o600);
  });
});

Deno.test(
  "AuditLog narrows a wider existing file and appends to it",
  { ignore: !POSIX },
  async () => {
    await withDir(async (dir) => {
      const path = `${dir}/rpcaudit.log`;
      await Deno.writeTextFile(path, '{"request_id":"old"}\n', { mode: 0o644 });
      await Deno.chmod(path, 0o644);
      {
        await using audit = await AuditLog.open(path);
        assert.equal(await permissions(path), 0o600);
        await audit.record(ENTRY);
      }
      assert.deepEqual((await readLines(path)).map((l) => l.request_id), ["old", ENTRY.requestId]);
    });
  },
);

Deno.test(
  "AuditLog honours a configured mode and never widens a file",
  { ignore: !POSIX },
  async () => {
    await withDir(async (dir) => {
      const wide = `${dir}/wide.log`;
      await Deno.writeTextFile(wide, "");
      await Deno.chmod(wide, 0o666);
      await (await AuditLog.open(wide, { mode: 0o640 })).close();
      assert.equal(await permissions(wide), 0o640);

      const narrow = `${dir}/narrow.log`;
      await Deno.writeTextFile(narrow, "");
      await Deno.chmod(narrow, 0o600);
      await (await AuditLog.open(narrow, { mode: 0o640 })).close();
      assert.equal(await permissions(narrow), 0o600);
    });
  },
);

Deno.test("AuditLog writes 1,000 concurrent records as 1,000 whole lines in call order", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await using audit = await AuditLog.open(path);
    const ids = Array.from({ length: 1000 }, (_, i) => `request-${String(i).padStart(4, "0")}`);
    // Varied sizes so that a torn or interleaved write would show.
    await Promise.all(
      ids.map((requestId, i) =>
        audit.record({
          ...ENTRY,
          requestId,
          data: { index: i, padding: "x".repeat((i * 37) % 5000) },
        })
      ),
    );
    const lines = await readLines(path);
    assert.equal(lines.length, 1000);
    assert.deepEqual(lines.map((l) => l.request_id), ids);
    lines.forEach((line, i) => assert.equal((line.data as { index: number }).index, i));
  });
});

Deno.test("AuditLog keeps whole lines when two logs append to one file at once", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await using first = await AuditLog.open(path);
    await using second = await AuditLog.open(path);
    const records = [];
    for (let i = 0; i < 500; i++) {
      records.push(
        first.record({ ...ENTRY, requestId: `a-${i}`, data: { pad: "a".repeat(i * 7) } }),
      );
      records.push(
        second.record({ ...ENTRY, requestId: `b-${i}`, data: { pad: "b".repeat(i * 5) } }),
      );
    }
    await Promise.all(records);
    const ids = new Set((await readLines(path)).map((l) => l.request_id));
    assert.equal(ids.size, 1000);
    for (let i = 0; i < 500; i++) assert.ok(ids.has(`a-${i}`) && ids.has(`b-${i}`), `request ${i}`);
  });
});

Deno.test("AuditLog.open says why the file cannot be opened", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      () => AuditLog.open(`${dir}/missing/rpcaudit.log`),
      (e) =>
        e instanceof AuditError && e.name === "AuditError" &&
        e.path === `${dir}/missing/rpcaudit.log` &&
        e.message ===
          `Cannot open audit log '${dir}/missing/rpcaudit.log' as its directory does not exist` &&
        e.cause instanceof Deno.errors.NotFound,
    );
    await assert.rejects(
      () => AuditLog.open(dir),
      (e) =>
        e instanceof AuditError &&
        e.message === `Cannot open audit log '${dir}' as it is a directory`,
    );
  });
});

// Root writes through a read-only directory, so the denial cannot be shown there.
function writesCanBeDenied(): boolean {
  if (!POSIX) return false;
  const dir = Deno.makeTempDirSync({ prefix: "chorale_audit_probe_" });
  try {
    Deno.chmodSync(dir, 0o500);
    Deno.writeTextFileSync(`${dir}/probe`, "");
    return false;
  } catch {
    return true;
  } finally {
    Deno.chmodSync(dir, 0o700);
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test(
  "AuditLog.open reports a directory it may not write to",
  { ignore: !writesCanBeDenied() },
  async () => {
    await withDir(async (dir) => {
      await Deno.chmod(dir, 0o500);
      await assert.rejects(
        () => AuditLog.open(`${dir}/rpcaudit.log`),
        (e) => e instanceof AuditError && /as permission was denied$/.test(e.message),
      );
    });
  },
);

Deno.test("AuditLog rejects a record it cannot write and goes on with the next", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await using audit = await AuditLog.open(path);
    await assert.rejects(
      () => audit.record({ ...ENTRY, requestId: "bad", data: { big: 1n } }),
      (e) =>
        e instanceof AuditError &&
        /^Cannot record request 'bad' in audit log '.*': Cannot format/.test(e.message),
    );
    await audit.record(ENTRY);
    assert.deepEqual((await readLines(path)).map((l) => l.request_id), [ENTRY.requestId]);
  });
});

Deno.test("AuditLog writes queued records on close and rejects records after it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    const audit = await AuditLog.open(path);
    const pending = audit.record(ENTRY);
    const closed = audit.close();
    assert.equal(audit.close(), closed, "close is idempotent");
    await Promise.all([pending, closed]);
    await audit[Symbol.asyncDispose]();
    assert.equal((await readLines(path)).length, 1);
    await assert.rejects(() => audit.record(ENTRY), /as the audit log '.*' is closed/);
    await assert.rejects(() => audit.reopen(), /Cannot reopen the audit log '.*' as it is closed/);
  });
});

Deno.test("AuditLog.reopen follows log rotation", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/rpcaudit.log`;
    await using audit = await AuditLog.open(path);
    await audit.record({ ...ENTRY, requestId: "before" });
    await Deno.rename(path, `${path}.1`);
    const late = audit.record({ ...ENTRY, requestId: "queued" });
    await audit.reopen();
    await late;
    await audit.record({ ...ENTRY, requestId: "after" });
    assert.deepEqual((await readLines(`${path}.1`)).map((l) => l.request_id), ["before", "queued"]);
    assert.deepEqual((await readLines(path)).map((l) => l.request_id), ["after"]);
    if (POSIX) assert.equal(await permissions(path), 0o600);
  });
});

Deno.test("AuditLog fails records after a failed reopen until one succeeds", async () => {
  await withDir(async (dir) => {
    const logs = `${dir}/logs`;
    await Deno.mkdir(logs);
    const path = `${logs}/rpcaudit.log`;
    await using audit = await AuditLog.open(path);
    await Deno.remove(logs, { recursive: true });
    await assert.rejects(() => audit.reopen(), /as its directory does not exist/);
    await assert.rejects(
      () => audit.record(ENTRY),
      (e) => e instanceof AuditError && /as its directory does not exist/.test(e.message),
    );
    await Deno.mkdir(logs);
    await audit.reopen();
    await audit.record(ENTRY);
    assert.equal((await readLines(path)).length, 1);
  });
});
