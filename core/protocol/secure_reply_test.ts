import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { CertificateAuthority } from "../security/ca.ts";
import { createSigner, verifyBytes } from "../security/signing.ts";
import { MessageFieldError, ReplyHashError } from "./errors.ts";
import { createReply, encodeReply } from "./reply.ts";
import {
  checkReplyHash,
  createSecureReply,
  decodeSecureReply,
  encodeSecureReply,
  openSecureReply,
  replyHash,
  secureReplySignature,
} from "./secure_reply.ts";

const reply = createReply({
  requestid: "bbb95c73eadb41c39f82a7eedffecee1",
  senderid: "n1.example.net",
  agent: "rpcutil",
  message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: "ünïcode" } }),
});

Deno.test("createSecureReply hashes the reply JSON as base64 SHA-256", async () => {
  const secure = await createSecureReply(reply);
  const text = encodeReply(reply);
  assert.equal(secure.message, text);
  assert.equal(
    secure.hash,
    createHash("sha256").update(new TextEncoder().encode(text)).digest("base64"),
  );
  assert.deepEqual(Object.keys(secure), ["protocol", "message", "hash"]);
  const decoded = decodeSecureReply(encodeSecureReply(secure));
  checkReplyHash(decoded);
  assert.deepEqual(openSecureReply(decoded), reply);
  assert.equal(secureReplySignature(decoded), undefined);
});

Deno.test("createSecureReply signs with the server's key beside the hash", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("server", "n1.example.net");
  const secure = await createSecureReply(reply, { signer: createSigner(issued.cert, issued.key) });
  assert.deepEqual(Object.keys(secure), ["protocol", "message", "hash", "signature", "pubcert"]);
  const signature = secureReplySignature(decodeSecureReply(encodeSecureReply(secure)));
  assert.ok(signature);
  assert.ok(
    verifyBytes(
      new X509Certificate(issued.cert).publicKey,
      new TextEncoder().encode(secure.message),
      signature,
    ),
  );
});

Deno.test("checkReplyHash refuses altered messages and accepts wrapped Ruby base64", async () => {
  const secure = await createSecureReply(reply);
  assert.throws(
    () => checkReplyHash({ ...secure, message: secure.message.replace("OK", "KO") }, "abc"),
    (e: unknown) =>
      e instanceof ReplyHashError &&
      e.message === "Cannot accept reply to 'abc' as its hash does not match its message",
  );
  assert.throws(() => checkReplyHash({ ...secure, hash: "!!" }), ReplyHashError);
  checkReplyHash({ ...secure, hash: `${secure.hash.slice(0, 20)}\n${secure.hash.slice(20)}\n` });
  assert.equal(replyHash("{}"), "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=");
});

Deno.test("decodeSecureReply refuses a signature without a certificate", () => {
  const base = { protocol: "choria:secure:reply:1", message: "{}", hash: "x" };
  assert.throws(
    () => decodeSecureReply(JSON.stringify({ ...base, signature: "AA==" })),
    (e: unknown) =>
      e instanceof MessageFieldError &&
      e.message === "Cannot decode secure reply as it has a 'signature' without a 'pubcert'",
  );
  assert.throws(() => decodeSecureReply(JSON.stringify({ ...base, hash: "" })), MessageFieldError);
});
