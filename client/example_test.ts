/**
 * The library example of `client/mod.ts`, run for real: a configuration file, a broker and three
 * servers on loopback, then the ten lines a library user writes, printing what comes back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { brokerAvailable, startFleet } from "./_fleet_testing.ts";
import { Client, loadClientOptions, parseFilterArgs } from "./mod.ts";

Deno.test({
  name: "Library example discovers the web servers and pings them",
  ignore: !brokerAvailable("chorale"),
  async fn() {
    await using fleet = await startFleet("chorale");
    const project = await Deno.makeTempDir({ prefix: "chorale-example-" });
    const file = join(project, "chorale.yaml");
    await Deno.writeTextFile(
      file,
      stringify({
        brokers: [fleet.url],
        security: {
          certificate: fleet.pki.client.certFile,
          key: fleet.pki.client.keyFile,
          ca: fleet.pki.caFile,
        },
      }),
    );
    const lines: string[] = [];
    const print = (line: string) => {
      lines.push(line);
      console.log(line);
    };
    try {
      // The example: ten lines.
      const { client: options } = await loadClientOptions({ file });
      await using client = await Client.connect(options);
      const web = await client.discover({ filter: parseFilterArgs({ facts: ["role=web"] }) });
      const call = client.rpc({ agent: "rpcutil", action: "ping", nodes: web.nodes });
      for await (const reply of call) {
        print(`${reply.sender}: ${reply.statusmsg}, pong ${reply.data.pong}`);
      }
      const { stats } = await call.done();
      print(`${stats.ok} of ${stats.discovered.length} ok in ${stats.totalMs} ms`);
      if (stats.noResponses.length > 0) print(`no reply: ${stats.noResponses.join(", ")}`);
      // End of the example.

      assert.deepEqual(web.nodes, ["n1.example.net", "n3.example.net"]);
      assert.equal(lines.length, 3);
      assert.match(lines.sort()[2]!, /^n3\.example\.net: OK, pong \d+$/);
      assert.match(lines[0]!, /^2 of 2 ok in \d+ ms$/);
    } finally {
      await Deno.remove(project, { recursive: true });
    }
  },
});
