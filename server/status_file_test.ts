import assert from "node:assert/strict";
import {
  decodeServerStatus,
  encodeServerStatus,
  goTime,
  readStatusFile,
  serverStatus,
  StatusFileError,
  writeStatusFile,
  ZERO_TIME,
} from "./status_file.ts";

const STARTED = Date.UTC(2024, 0, 1);

Deno.test("serverStatus writes go-choria's InstanceStatus fields in its order", () => {
  const status = serverStatus({
    identity: "n1.example.net",
    startedAt: new Date(STARTED),
    now: STARTED + 90_999,
    connectedServer: "nats://broker.example.net:4222",
    lastMessage: STARTED + 80_500,
    provisioning: true,
    stats: { total: 10, valid: 9, invalid: 1, passed: 7, filtered: 2, replies: 7, ttlexpired: 1 },
    certificateExpires: new Date(Date.UTC(2029, 0, 1)),
  });
  assert.equal(
    encodeServerStatus(status),
    '{"identity":"n1.example.net","uptime":90,"connected_server":"nats://broker.example.net:4222",' +
      `"last_message":${Math.floor((STARTED + 80_500) / 1000)},"provisioning_mode":true,` +
      '"stats":{"total":10,"valid":9,"invalid":1,"passed":7,"filtered":2,"replies":7,' +
      '"ttlexpired":1,"events":0},"certificate_expires":"2029-01-01T00:00:00Z",' +
      '"token_expires":"0001-01-01T00:00:00Z"}',
  );
});

Deno.test("serverStatus defaults to a disconnected server that processed nothing", () => {
  const status = serverStatus({ identity: "n1", startedAt: STARTED, now: STARTED });
  assert.deepEqual(status, {
    identity: "n1",
    uptime: 0,
    connected_server: "",
    last_message: 0,
    provisioning_mode: false,
    stats: {
      total: 0,
      valid: 0,
      invalid: 0,
      passed: 0,
      filtered: 0,
      replies: 0,
      ttlexpired: 0,
      events: 0,
    },
    certificate_expires: ZERO_TIME,
    token_expires: ZERO_TIME,
  });
  // A clock stepping back never makes a negative uptime.
  assert.equal(serverStatus({ identity: "n1", startedAt: STARTED, now: STARTED - 5000 }).uptime, 0);
});

Deno.test("serverStatus refuses bad counters and times", () => {
  assert.throws(
    () => serverStatus({ identity: "n1", startedAt: 0, stats: { total: -1 } }),
    {
      name: "RangeError",
      message:
        "Cannot build server status as 'stats.total' must be a non-negative integer: current value is -1",
    },
  );
  assert.throws(
    () => serverStatus({ identity: "n1", startedAt: new Date("nope") }),
    /'startedAt' must be a valid time: current value is Invalid Date/,
  );
});

Deno.test("goTime formats as Go's encoding/json does", () => {
  assert.equal(goTime(Date.UTC(2018, 7, 24, 10, 36, 13)), "2018-08-24T10:36:13Z");
  assert.equal(goTime(Date.UTC(2018, 7, 24, 10, 36, 13, 500)), "2018-08-24T10:36:13.5Z");
  assert.equal(goTime(Date.UTC(2018, 7, 24, 10, 36, 13, 120)), "2018-08-24T10:36:13.12Z");
  assert.equal(goTime(null), "0001-01-01T00:00:00Z");
});

Deno.test("decodeServerStatus reads what serverStatus builds and fills Go's zero values", () => {
  const status = serverStatus({ identity: "n1", startedAt: 0, now: 5000, stats: { events: 2 } });
  assert.deepEqual(decodeServerStatus(encodeServerStatus(status)), status);
  const old = decodeServerStatus({
    identity: "n1",
    uptime: 5,
    connected_server: "",
    last_message: 0,
    provisioning_mode: false,
    stats: null,
  });
  assert.equal(old.token_expires, ZERO_TIME);
  assert.equal(old.stats.ttlexpired, 0);
});

Deno.test("decodeServerStatus gives StatusFileError naming the field", () => {
  const good = JSON.parse(encodeServerStatus(serverStatus({ identity: "n1", startedAt: 0 })));
  const cases: [unknown, RegExp][] = [
    ["{", /^Cannot decode server status as it is not JSON: /],
    [[], /'status' must be an object: found an array/],
    [{ ...good, identity: 1 }, /'identity' must be a string: found number 1/],
    [{ ...good, uptime: "5" }, /'uptime' must be an integer: found '5'/],
    [{ ...good, provisioning_mode: "no" }, /'provisioning_mode' must be a boolean/],
    [{ ...good, stats: { total: 1.5 } }, /'stats.total' must be an integer: found number 1.5/],
    [{ ...good, stats: [] }, /'stats' must be an object: found an array/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => decodeServerStatus(input), (e: unknown) => {
      assert.ok(e instanceof StatusFileError);
      assert.equal(e.name, "StatusFileError");
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("writeStatusFile replaces the file atomically with mode 0644", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/status.json`;
    await Deno.writeTextFile(path, "old contents");
    await Deno.chmod(path, 0o600);
    const inode = (await Deno.stat(path)).ino;
    const status = serverStatus({ identity: "n1", startedAt: 0, now: 1000 });
    await writeStatusFile(path, status);
    assert.equal(await Deno.readTextFile(path), encodeServerStatus(status));
    const info = await Deno.stat(path);
    if (Deno.build.os !== "windows") {
      assert.equal((info.mode ?? 0) & 0o777, 0o644);
      // A new file renamed over the old one, not the old one rewritten in place.
      assert.notEqual(info.ino, inode);
    }
    // No temporary files left behind.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["status.json"]);
    assert.deepEqual(await readStatusFile(path), status);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile honours mode whatever the umask", async () => {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/status.json`;
    const status = serverStatus({ identity: "n1", startedAt: 0 });
    // Under the usual umask 022 an open mode of 0666 alone would give 0644: the chmod sets it.
    await writeStatusFile(path, status, { mode: 0o666 });
    assert.equal(((await Deno.stat(path)).mode ?? 0) & 0o777, 0o666);
    await writeStatusFile(path, status, { mode: 0o600 });
    assert.equal(((await Deno.stat(path)).mode ?? 0) & 0o777, 0o600);
    await writeStatusFile(path, status);
    assert.equal(((await Deno.stat(path)).mode ?? 0) & 0o777, 0o644);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusFile fails with StatusFileError and cleans up", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const status = serverStatus({ identity: "n1", startedAt: 0 });
    await assert.rejects(
      () => writeStatusFile(`${dir}/missing/status.json`, status),
      (e: unknown) => {
        assert.ok(e instanceof StatusFileError);
        assert.ok(e.cause instanceof Deno.errors.NotFound);
        assert.match(e.message, /^Cannot write status file '.*\/missing\/status.json': /);
        return true;
      },
    );
    // The target is a directory: the rename fails after the temporary file was written.
    await Deno.mkdir(`${dir}/taken`);
    await Deno.writeTextFile(`${dir}/taken/x`, "");
    await assert.rejects(() => writeStatusFile(`${dir}/taken`, status), StatusFileError);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["taken"]);
    await assert.rejects(() => writeStatusFile(`${dir}/`, status), /names a directory/);
    await assert.rejects(() => readStatusFile(`${dir}/none.json`), StatusFileError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
