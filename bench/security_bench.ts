/**
 * `deno bench --allow-read bench/security_bench.ts`: signing and verification per key type
 * (node:crypto, the path Chorale uses, against Web Crypto), the protocol v1 envelopes, and full
 * request receipt with and without the verified-certificate cache.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { receiveRequest } from "../core/protocol/receive.ts";
import { createRequest } from "../core/protocol/request.ts";
import {
  createSecureRequest,
  decodeSecureRequest,
  openSecureRequest,
} from "../core/protocol/secure_request.ts";
import {
  createTransport,
  decodeTransport,
  encodeTransport,
  transportData,
} from "../core/protocol/transport.ts";
import { CertificateAuthority, type KeyAlgorithm, KeyAlgorithms } from "../core/security/ca.ts";
import { createSigner, type Signer, verifyBytes } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";

const FIXTURES = new URL("../../shared/choria/certs/choria-ruby-spec/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

function requestOf(signer: Signer) {
  return createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: `choria=${signer.certname}`,
    senderid: "ws1.example.net",
    message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {}, caller: "bench" }),
    filter: { compound: [[{ expr: "with('apache')" }]] },
  });
}

interface Subject {
  label: string;
  signer: Signer;
  ca: string;
  web: { key: CryptoKeyPair; params: AlgorithmIdentifier | EcdsaParams };
}

async function subject(label: string, algorithm: KeyAlgorithm): Promise<Subject> {
  const ca = await CertificateAuthority.create({ algorithm });
  const issued = await ca.issue("client", "bench.mcollective", { algorithm });
  // ca.ts's parameters serve both key generation and signing (ECDSA needs its hash named).
  const params = KeyAlgorithms[algorithm] as unknown as EcKeyGenParams & EcdsaParams;
  const key = await crypto.subtle.generateKey(params, false, ["sign", "verify"]);
  return {
    label,
    signer: createSigner(issued.cert, issued.key),
    ca: ca.certPem,
    web: { key, params },
  };
}

const subjects = [
  await subject("Ed25519", "ed25519"),
  await subject("RSA-2048", "rsa"),
  await subject("ECDSA P-256", "ecdsa"),
];
const rip = createSigner(fixture("rip.mcollective.pem"), fixture("rip.mcollective.key"));
const data = new TextEncoder().encode(JSON.stringify(requestOf(subjects[0]!.signer)));

for (const s of [...subjects, { label: "RSA-4096 fixture", signer: rip, ca: "", web: undefined }]) {
  const publicKey = new X509Certificate(s.signer.certificate).publicKey;
  const signature = await s.signer.sign(data);
  Deno.bench(
    `sign ${s.label} (node:crypto)`,
    { group: `sign ${s.label}`, baseline: true },
    async () => {
      await s.signer.sign(data);
    },
  );
  Deno.bench(
    `verify ${s.label} (node:crypto)`,
    { group: `verify ${s.label}`, baseline: true },
    () => {
      if (!verifyBytes(publicKey, data, signature)) throw new Error("bad signature");
    },
  );
  if (!s.web) continue;
  const web = s.web;
  const webSignature = await crypto.subtle.sign(web.params, web.key.privateKey, data);
  Deno.bench(`sign ${s.label} (Web Crypto)`, { group: `sign ${s.label}` }, async () => {
    await crypto.subtle.sign(web.params, web.key.privateKey, data);
  });
  Deno.bench(`verify ${s.label} (Web Crypto)`, { group: `verify ${s.label}` }, async () => {
    if (!await crypto.subtle.verify(web.params, web.key.publicKey, webSignature, data)) {
      throw new Error("bad signature");
    }
  });
}

const ed = subjects[0]!;
const secure = await createSecureRequest(requestOf(ed.signer), ed.signer);
const payload = encodeTransport(createTransport(secure, { replyTo: "r", sender: "ws1" }));

Deno.bench("encode request transport (Ed25519 pubcert)", { group: "envelope" }, () => {
  encodeTransport(createTransport(secure, { replyTo: "r", sender: "ws1" }));
});
Deno.bench("decode request transport to request", { group: "envelope" }, () => {
  openSecureRequest(decodeSecureRequest(transportData(decodeTransport(payload))));
});
Deno.bench("build, sign and encode an Ed25519 request", { group: "envelope" }, async () => {
  encodeTransport(createTransport(await createSecureRequest(requestOf(ed.signer), ed.signer)));
});

// Replay protection is off so the same payload can be received again and again.
const receivers: [string, string, string][] = [
  ["Ed25519", ed.ca, payload],
  [
    "RSA-4096 fixture",
    fixture("ca_crt.pem"),
    encodeTransport(createTransport(await createSecureRequest(requestOf(rip), rip))),
  ],
];
for (const [label, ca, wire] of receivers) {
  const cached = new CertificateVerifier({ ca });
  const uncached = new CertificateVerifier({ ca, cacheSize: 0 });
  Deno.bench(`receiveRequest ${label}, certificate cached`, {
    group: `receive ${label}`,
    baseline: true,
  }, () => {
    receiveRequest(wire, { verifier: cached, replayGuard: null });
  });
  Deno.bench(`receiveRequest ${label}, no certificate cache`, { group: `receive ${label}` }, () => {
    receiveRequest(wire, { verifier: uncached, replayGuard: null });
  });
}
