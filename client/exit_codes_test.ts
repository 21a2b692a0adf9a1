import assert from "node:assert/strict";
import { DdlError } from "../agents/ddl.ts";
import { ConfigError } from "../core/config.ts";
import { MissingFileError } from "../core/security/pem_files.ts";
import { MaterialExpiredError } from "../core/security/providers.ts";
import { CliError, describeError, ExitStatus } from "./cli.ts";
import { UnknownAgentError } from "./ddl_store.ts";
import { CertificateRejectedError, ConnectError, DiscoveryError, InputError } from "./errors.ts";
import { ExitCodes, rpcExitCode, toCliError } from "./exit_codes.ts";

const stats = (discovered: string[], responded: string[], failed = 0) => ({
  discovered,
  responded,
  noResponses: discovered.filter((n) => !responded.includes(n)),
  failed,
});

Deno.test("rpcExitCode gives Choria's codes, the worst outcome first", () => {
  assert.equal(rpcExitCode(stats([], [])), 1);
  assert.equal(rpcExitCode(stats(["a", "b"], [])), 4);
  assert.equal(rpcExitCode(stats(["a", "b"], ["a"], 1)), 3);
  assert.equal(rpcExitCode(stats(["a", "b"], ["a", "b"], 1)), 2);
  assert.equal(rpcExitCode(stats(["a", "b"], ["a", "b"])), 0);
});

Deno.test("toCliError gives each kind of failure its own exit code and one sentence", () => {
  const cases: [Error, number][] = [
    [new UnknownAgentError("Cannot find agent 'x': ...", "agent"), ExitCodes.unknownAgent],
    [
      new InputError("Cannot call a#b", {
        agent: "a",
        action: "b",
        problems: [
          { input: "x", statuscode: 4, message: "first" },
          { input: "y", statuscode: 3, message: "second" },
        ],
      }),
      ExitCodes.error,
    ],
    [new ConnectError("Cannot connect to tls://h:1"), ExitCodes.brokerUnreachable],
    [new CertificateRejectedError("refused", { side: "broker" }), ExitCodes.certificate],
    [new MaterialExpiredError("expired", new Date(0)), ExitCodes.certificate],
    [new MissingFileError("certificate", "/x.pem"), ExitCodes.certificate],
    [new ConfigError(["a: bad", "b: worse"]), ExitCodes.usage],
    [new DiscoveryError("Cannot discover"), ExitCodes.error],
    [new DdlError("Cannot load DDL", { file: "f", problems: [] }), ExitCodes.error],
  ];
  const codes = new Set<number>();
  for (const [error, code] of cases) {
    const cli = toCliError(error);
    assert.ok(cli instanceof CliError, error.name);
    assert.equal(cli.exitCode, code, error.name);
    assert.equal(cli.cause, error);
    codes.add(code);
  }
  assert.deepEqual([...codes].sort(), [1, 2, 5, 6, 7]);
  const input = toCliError(cases[1]![0]) as CliError;
  assert.equal(
    describeError(input),
    "chorale: first\nchorale: second\nchorale: hint: see 'chorale plugin doc a' for the inputs of b\n",
  );
  const config = toCliError(cases[6]![0]) as CliError;
  assert.match(
    describeError(config),
    /^chorale: Cannot use the configuration: a: bad\nchorale: b: worse\n/,
  );
  const plain = new Error("x");
  assert.equal(toCliError(plain), plain);
});

Deno.test("ExitStatus ends a command with its code and says nothing", () => {
  assert.equal(describeError(new ExitStatus(3)), "");
  assert.equal(new ExitStatus(3).exitCode, 3);
});
