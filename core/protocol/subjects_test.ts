import assert from "node:assert/strict";
import {
  broadcastSubject,
  callerHash,
  callerId,
  directedSubject,
  federationSubject,
  lifecycleSubject,
  registrationSubject,
  replySubject,
} from "./subjects.ts";

Deno.test("Subjects follow Choria's names", () => {
  assert.equal(broadcastSubject("mcollective", "rpcutil"), "mcollective.broadcast.agent.rpcutil");
  assert.equal(directedSubject("mcollective", "n1.example.net"), "mcollective.node.n1.example.net");
  assert.equal(registrationSubject("mcollective"), "mcollective.broadcast.agent.registration");
  assert.equal(lifecycleSubject("startup", "server"), "choria.lifecycle.event.startup.server");
  assert.equal(federationSubject("fed1"), "choria.federation.fed1.federation");
});

Deno.test("Reply subjects carry the md5 hex of the caller id", () => {
  // md5("choria=rip.mcollective"), computed independently with coreutils md5sum.
  const expected = "37bdf08389145a56c13096c178802d3b"; // md5sum of "choria=rip.mcollective"
  assert.equal(callerHash(callerId("rip.mcollective")), expected);
  assert.equal(
    replySubject("mcollective", "choria=rip.mcollective", "abc"),
    `mcollective.reply.${expected}.abc`,
  );
});
