import assert from "node:assert/strict";
import { MessageFieldError, ProtocolMismatchError } from "./errors.ts";
import { createReply, decodeReply, encodeReply, replyBody } from "./reply.ts";

const ID = "bbb95c73eadb41c39f82a7eedffecee1";
const BASE = {
  requestid: ID,
  senderid: "n1.example.net",
  agent: "rpcutil",
  message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1 } }),
};

Deno.test("createReply builds what decodeReply reads back", () => {
  const reply = createReply({ ...BASE, time: 1700000000 });
  assert.deepEqual(Object.keys(reply.envelope), ["requestid", "senderid", "agent", "time"]);
  assert.deepEqual(decodeReply(encodeReply(reply)), reply);
  assert.equal(replyBody(reply), BASE.message);
  assert.equal(replyBody({ ...reply, message: btoa(BASE.message) }), BASE.message);
});

Deno.test("createReply and decodeReply refuse what the enforced schema refuses", () => {
  assert.throws(
    () => createReply({ ...BASE, requestid: "short" }),
    (e: unknown) =>
      e instanceof MessageFieldError &&
      /Cannot build reply to 'short' as its 'envelope\.requestid' must be exactly 32 characters/
        .test(e.message),
  );
  assert.throws(() => createReply({ ...BASE, message: "" }), /'message' must be at least 1/);
  const good = JSON.parse(encodeReply(createReply(BASE)));
  assert.throws(
    () => decodeReply(JSON.stringify({ ...good, protocol: "choria:request:1" })),
    ProtocolMismatchError,
  );
  assert.throws(
    () => decodeReply(JSON.stringify({ ...good, envelope: { ...good.envelope, time: "now" } })),
    /Cannot decode reply to '.{32}' as its 'envelope\.time' must be an integer: found a string/,
  );
  assert.throws(
    () => decodeReply(JSON.stringify({ ...good, envelope: { ...good.envelope, agent: "" } })),
    /'envelope\.agent' must be at least 1 character/,
  );
});
