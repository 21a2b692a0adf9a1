import assert from "node:assert/strict";
import { CertificateAuthority } from "../security/ca.ts";
import { createSigner, verifyBytes } from "../security/signing.ts";
import { X509Certificate } from "node:crypto";
import { Base64Error, MessageFieldError, ProtocolMismatchError } from "./errors.ts";
import { createRequest, encodeRequest } from "./request.ts";
import {
  createSecureRequest,
  decodeSecureRequest,
  encodeSecureRequest,
  openSecureRequest,
  secureRequestSignature,
} from "./secure_request.ts";

Deno.test("createSecureRequest signs the exact UTF-8 bytes of the request JSON", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "alice.mcollective");
  const signer = createSigner(issued.cert, issued.key);
  const request = createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: "choria=alice.mcollective",
    senderid: "ws1",
    message: JSON.stringify({ data: { name: "naïve ✓ <&>" } }),
  });
  const secure = await createSecureRequest(request, signer);
  assert.equal(secure.message, encodeRequest(request));
  assert.equal(secure.pubcert, signer.certificate);
  const decoded = decodeSecureRequest(encodeSecureRequest(secure));
  assert.deepEqual(decoded, secure);
  assert.deepEqual(openSecureRequest(decoded), request);
  const bytes = new TextEncoder().encode(decoded.message);
  assert.ok(
    verifyBytes(new X509Certificate(issued.cert).publicKey, bytes, secureRequestSignature(decoded)),
  );
});

Deno.test("decodeSecureRequest refuses missing fields, wrong protocols and bad signatures", () => {
  const good = {
    protocol: "choria:secure:request:1",
    message: "{}",
    signature: "AA==",
    pubcert: "p",
  };
  assert.throws(
    () => decodeSecureRequest(JSON.stringify({ ...good, protocol: "choria:secure:reply:1" })),
    ProtocolMismatchError,
  );
  for (const field of ["message", "signature", "pubcert"]) {
    assert.throws(
      () => decodeSecureRequest(JSON.stringify({ ...good, [field]: "" })),
      (e: unknown) =>
        e instanceof MessageFieldError &&
        e.message ===
          `Cannot decode secure request as its '${field}' must be at least 1 character: current length is 0`,
    );
  }
  const bad = decodeSecureRequest(JSON.stringify({ ...good, signature: "@@@" }));
  assert.throws(
    () => secureRequestSignature(bad, "abc"),
    (e: unknown) =>
      e instanceof Base64Error &&
      e.message === "Cannot decode secure request 'abc' as its 'signature' is not valid base64" &&
      e.cause instanceof Error,
  );
});
