/**
 * The broker's log under a storm of closing connections: a few lines a second one by one, then a
 * summary by reason, so logging never holds up the broker.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { startBroker } from "./harness/broker_process.ts";

Deno.test("Broker sums up connection closes past 20 a second", async () => {
  await using broker = await startBroker({ flags: ["--insecure", "--listen", "127.0.0.1:0"] });
  // 60 clients break the protocol at once; each is closed with a protocol error.
  const sockets = Array.from({ length: 60 }, () => {
    const socket = net.connect({ host: "127.0.0.1", port: broker.port }, () => {
      socket.write("NONSENSE\r\n");
    });
    socket.on("error", () => {});
    return socket;
  });
  const summary = await broker.proc.waitForLine(
    (l) => l.includes('"message":"connections closed"'),
    "a summary of the closes that were not logged one by one",
  );
  const one = broker.proc.lines.filter((l) => l.includes('"message":"connection closed"')).length;
  const unlogged = (JSON.parse(summary) as { unlogged: Record<string, number> }).unlogged;
  assert.ok(one <= 40, `at most 20 a second one by one, got ${one}`);
  assert.equal(one + (unlogged["protocol error"] ?? 0) >= 60 - 20, true);
  assert.ok((unlogged["protocol error"] ?? 0) > 0);
  for (const socket of sockets) socket.destroy();
});
