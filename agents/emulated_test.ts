import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { NodeInfo } from "./agent.ts";
import { emulatedAgent, MAX_EMULATED_REPLY_BYTES } from "./emulated.ts";
import { runAction } from "./sdk.ts";

const node = { identity: "emulated-3" } as NodeInfo;
const request = (data: Record<string, unknown>) => ({
  requestId: "0123456789abcdef0123456789abcdef",
  callerid: "choria=alice.mcollective",
  senderid: "client",
  agent: "emulated",
  action: "generate",
  collective: "mcollective",
  data,
});

Deno.test("emulated generate replies with the configured size, or the size asked for", async () => {
  const agent = emulatedAgent({ replySize: 4 });
  const reply = await runAction(agent, request({}), { node });
  assertEquals(reply, {
    statuscode: 0,
    statusmsg: "OK",
    data: { message: "xxxx", size: 4, identity: "emulated-3" },
  });
  const asked = await runAction(agent, request({ size: 2 }), { node });
  assertEquals(asked.data.message, "xx");
});

Deno.test("emulated generate waits the delay before replying", async () => {
  const started = performance.now();
  const reply = await runAction(emulatedAgent({ delayMs: 50 }), request({}), { node });
  assertEquals(reply.statuscode, 0);
  assertEquals(performance.now() - started >= 45, true);
});

Deno.test("emulated generate refuses a size or delay out of range with status 4", async () => {
  const agent = emulatedAgent();
  const big = await runAction(agent, request({ size: MAX_EMULATED_REPLY_BYTES + 1 }), { node });
  assertEquals(big.statuscode, 4);
  assertEquals(
    big.statusmsg,
    `Cannot generate a reply of ${
      MAX_EMULATED_REPLY_BYTES + 1
    } bytes as 'size' must be between 0 and ${MAX_EMULATED_REPLY_BYTES}`,
  );
  const negative = await runAction(agent, request({ delay: -1 }), { node });
  assertEquals(negative.statuscode, 4);
  assertEquals(negative.statusmsg, "Cannot wait -1 ms as 'delay' must not be negative");
});
