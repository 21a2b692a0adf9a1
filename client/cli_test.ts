import assert from "node:assert/strict";
import { ConfigError } from "../core/config.ts";
import {
  caDir,
  type CliContext,
  CliError,
  collect,
  describeError,
  exitCodeOf,
  formatTable,
  parseDays,
  sslDir,
  UsageError,
  withHint,
} from "./cli.ts";

function context(env: Record<string, string>, uid = 1000): CliContext {
  return {
    stdout() {},
    stderr() {},
    env: (name) => env[name],
    cwd: () => "/work/here",
    uid: () => uid,
    now: () => new Date(),
  };
}

Deno.test("caDir takes --dir over CHORALE_CA_DIR over XDG_CONFIG_HOME over HOME", () => {
  const env = { HOME: "/home/a", XDG_CONFIG_HOME: "/xdg", CHORALE_CA_DIR: "/env/ca" };
  assert.equal(caDir(context(env), "flag/ca"), "/work/here/flag/ca");
  assert.equal(caDir(context(env), undefined), "/env/ca");
  assert.equal(
    caDir(context({ HOME: "/home/a", XDG_CONFIG_HOME: "/xdg" }), undefined),
    "/xdg/chorale/ca",
  );
  assert.equal(caDir(context({ HOME: "/home/a" }), undefined), "/home/a/.config/chorale/ca");
  // A relative XDG_CONFIG_HOME is ignored, as the XDG specification says.
  assert.equal(
    caDir(context({ HOME: "/home/a", XDG_CONFIG_HOME: "rel" }), undefined),
    "/home/a/.config/chorale/ca",
  );
  assert.throws(() => caDir(context({}), undefined), UsageError);
});

Deno.test("sslDir takes --ssl-dir over CHORALE_SSL_DIR over Puppet's directories", () => {
  assert.equal(sslDir(context({ CHORALE_SSL_DIR: "/env/ssl" }), "s"), "/work/here/s");
  assert.equal(sslDir(context({ CHORALE_SSL_DIR: "/env/ssl" }), undefined), "/env/ssl");
  assert.equal(
    sslDir(context({ HOME: "/home/a" }), undefined),
    "/home/a/.puppetlabs/etc/puppet/ssl",
  );
  assert.equal(sslDir(context({}, 0), undefined), "/etc/puppetlabs/puppet/ssl");
  assert.throws(() => sslDir(context({}), undefined), /HOME is not set/);
});

Deno.test("exitCodeOf gives 2 for usage and configuration errors, 1 for the rest", () => {
  assert.equal(exitCodeOf(new UsageError("x")), 2);
  assert.equal(exitCodeOf(new ConfigError(["x"])), 2);
  assert.equal(exitCodeOf(new CliError("x")), 1);
  assert.equal(exitCodeOf(new Error("x")), 1);
  const hinted = withHint(new Error("Cannot do it"), "try again");
  assert.equal(describeError(hinted), "chorale: Cannot do it\nchorale: hint: try again\n");
  assert.equal((hinted.cause as Error).message, "Cannot do it");
});

Deno.test("formatTable pads every column but the last", () => {
  assert.equal(
    formatTable(["NAME", "KIND"], [["n1.example.net", "server"], ["a", "client"]]),
    "NAME            KIND\nn1.example.net  server\na               client",
  );
});

Deno.test("parseDays accepts whole days from 1 to 36500", () => {
  assert.equal(parseDays("30"), 30);
  for (const bad of ["0", "-1", "1.5", "x", "36501", ""]) {
    assert.throws(() => parseDays(bad), /whole number of days/, bad);
  }
});

Deno.test("collect gathers repeated and comma-separated values", () => {
  assert.deepEqual(collect("b, c", collect("a", [])), ["a", "b", "c"]);
});
