import assert from "node:assert/strict";
import { join } from "node:path";
import { DdlError } from "../agents/ddl.ts";
import type { CliContext } from "./cli.ts";
import {
  BUILTIN_DDL_DIR,
  ddlDirs,
  findAction,
  findDdl,
  listAgents,
  UnknownAgentError,
} from "./ddl_store.ts";

function context(env: Record<string, string>): CliContext {
  return {
    stdout() {},
    stderr() {},
    env: (name) => env[name],
    cwd: () => "/work/here",
    uid: () => 1000,
    now: () => new Date(),
  };
}

Deno.test("ddlDirs searches --ddl-dir, then the user's directory, then the built-in one", () => {
  assert.deepEqual(ddlDirs(context({ HOME: "/home/a" }), ["local", "/abs"]), [
    "/work/here/local",
    "/abs",
    "/home/a/.config/chorale/ddl",
    BUILTIN_DDL_DIR,
  ]);
  assert.deepEqual(ddlDirs(context({ HOME: "/home/a", XDG_CONFIG_HOME: "/xdg" })), [
    "/xdg/chorale/ddl",
    BUILTIN_DDL_DIR,
  ]);
  assert.deepEqual(ddlDirs(context({})), [BUILTIN_DDL_DIR]);
});

Deno.test("findDdl takes the first directory's copy and names the agents when none has it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-ddl-" });
  try {
    const builtin = JSON.parse(await Deno.readTextFile(join(BUILTIN_DDL_DIR, "rpcutil.json")));
    builtin.metadata.version = "9.9.9";
    await Deno.writeTextFile(join(dir, "rpcutil.json"), JSON.stringify(builtin));
    await Deno.writeTextFile(join(dir, "broken.json"), "{");
    await Deno.writeTextFile(join(dir, "other.json"), JSON.stringify(builtin));
    await Deno.writeTextFile(join(dir, "README.txt"), "not a DDL");
    const dirs = [dir, BUILTIN_DDL_DIR];
    assert.equal((await findDdl(dirs, "rpcutil")).ddl.metadata.version, "9.9.9");
    assert.equal((await findDdl([BUILTIN_DDL_DIR], "rpcutil")).ddl.metadata.version, "0.29.4");
    assert.deepEqual(await listAgents(dirs), [
      "broken",
      "choria_registry",
      "choria_util",
      "discovery",
      "emulated",
      "other",
      "package",
      "rpcutil",
      "scout",
      "service",
    ]);
    await assert.rejects(() => findDdl(dirs, "broken"), DdlError);
    await assert.rejects(
      () => findDdl(dirs, "other"),
      /describes agent 'rpcutil', not 'other'/,
    );
    await assert.rejects(() => findDdl([BUILTIN_DDL_DIR], "nosuch"), (error) => {
      assert.ok(error instanceof UnknownAgentError);
      assert.equal(error.kind, "agent");
      assert.equal(
        error.message,
        "Cannot find agent 'nosuch': the agents with a DDL are choria_registry, choria_util, discovery, emulated, package, rpcutil, scout, service",
      );
      return true;
    });
    await assert.rejects(() => findDdl([BUILTIN_DDL_DIR], "../etc/passwd"), UnknownAgentError);
    assert.deepEqual(await listAgents([join(dir, "missing")]), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findAction names the actions an agent has", async () => {
  const { ddl } = await findDdl([BUILTIN_DDL_DIR], "discovery");
  assert.equal(findAction(ddl, "ping").action, "ping");
  assert.throws(() => findAction(ddl, "pong"), (error) => {
    assert.ok(error instanceof UnknownAgentError);
    assert.equal(error.kind, "action");
    assert.equal(
      error.message,
      "Cannot find action 'pong' in agent 'discovery': its actions are ping",
    );
    return true;
  });
});
