/**
 * How fast a client can take in a fleet's replies, without a broker or servers in the way: 2,000
 * signed `rpcutil ping` replies from 2,000 servers, each with its own certificate (as `chorale
 * emulate` runs them), checked with `receiveReply` as the client library checks them. Compares a
 * verifier whose certificate cache is too small for the fleet (the library's default, 1,024) with
 * one that holds every certificate, so the fleet benchmark's replies per second can be read
 * against the client's own ceiling.
 *
 * ```sh
 * deno bench --allow-read --allow-env bench/fleet_client_bench.ts
 * ```
 *
 * @module
 */
import { createReply } from "../core/protocol/reply.ts";
import { receiveReply } from "../core/protocol/receive.ts";
import { createSecureReply } from "../core/protocol/secure_reply.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { CertificateAuthority } from "../core/security/ca.ts";
import { createSigner } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";

const SERVERS = 2_000;
const ca = await CertificateAuthority.create({ name: "Fleet client bench CA" });
const replies: string[] = [];
for (let i = 0; i < SERVERS; i++) {
  const identity = `emulated-${i}`;
  const { cert, key } = await ca.issue("server", identity);
  const reply = createReply({
    requestid: "0123456789abcdef0123456789abcdef",
    senderid: identity,
    agent: "rpcutil",
    message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1795635717 } }),
  });
  const secure = await createSecureReply(reply, { signer: createSigner(cert, key) });
  replies.push(encodeTransport(createTransport(secure, { sender: identity })));
}

function receiveAll(verifier: CertificateVerifier): void {
  for (const wire of replies) receiveReply(wire, { verifier });
}

const small = new CertificateVerifier({ ca: ca.certPem });
const large = new CertificateVerifier({ ca: ca.certPem, cacheSize: 100_000 });
receiveAll(large); // fill the large cache

Deno.bench(`receive ${SERVERS} signed replies, cache of 1,024 (misses every one)`, () => {
  receiveAll(small);
});

Deno.bench(`receive ${SERVERS} signed replies, every certificate cached`, () => {
  receiveAll(large);
});
