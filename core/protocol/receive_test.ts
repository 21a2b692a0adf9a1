import assert from "node:assert/strict";
import { CertificateAuthority, type KeyAlgorithm } from "../security/ca.ts";
import { createSigner, type Signer } from "../security/signing.ts";
import {
  CallerMismatchError,
  CertificateChainError,
  CertificateExpiredError,
  CertificateNameError,
  CertificateNotYetValidError,
  CertificateVerifier,
  SignatureError,
} from "../security/verify.ts";
import {
  Base64Error,
  MessageFieldError,
  MessageJsonError,
  MessageSizeError,
  ProtocolMismatchError,
  ReplayedRequestError,
  ReplyHashError,
  RequestExpiredError,
  RequestFromFutureError,
} from "./errors.ts";
import { checkRequestTime, receiveReply, receiveRequest } from "./receive.ts";
import { ReplayGuard } from "./replay_guard.ts";
import { createReply } from "./reply.ts";
import { createRequest, type CreateRequestOptions } from "./request.ts";
import { createSecureReply } from "./secure_reply.ts";
import { createSecureRequest, type SecureRequestV1 } from "./secure_request.ts";
import { createTransport, decodeTransport, encodeTransport, transportData } from "./transport.ts";

const SHARED = new URL("../../../shared/choria/", import.meta.url);
const fixture = (path: string) => Deno.readTextFileSync(new URL(path, SHARED));
const DAY = 86_400_000;
const BODY = JSON.stringify({ agent: "rpcutil", action: "ping", data: {}, caller: "x" });

function requestFor(signer: Signer, options: Partial<CreateRequestOptions> = {}) {
  return createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: `choria=${signer.certname}`,
    senderid: "ws1.example.net",
    message: BODY,
    ...options,
  });
}

function wire(secure: SecureRequestV1): string {
  return encodeTransport(
    createTransport(secure, { replyTo: "mcollective.reply.x.y", sender: "ws1.example.net" }),
  );
}

async function signedWire(signer: Signer, options: Partial<CreateRequestOptions> = {}) {
  return wire(await createSecureRequest(requestFor(signer, options), signer));
}

function secureOf(payload: string): SecureRequestV1 {
  return JSON.parse(transportData(decodeTransport(payload)));
}

Deno.test("receiveRequest verifies the Choria RSA-4096 fixture end to end against its CA only", async () => {
  const signer = createSigner(
    fixture("certs/choria-ruby-spec/rip.mcollective.pem"),
    fixture("certs/choria-ruby-spec/rip.mcollective.key"),
  );
  // Inside the fixture's validity (2024-07-01 to 2029-07-01), whatever the clock says.
  const now = Date.UTC(2026, 0, 1);
  const payload = await signedWire(signer, { time: now / 1000 });
  const verified = receiveRequest(payload, {
    verifier: new CertificateVerifier({ ca: fixture("certs/choria-ruby-spec/ca_crt.pem") }),
    replayGuard: new ReplayGuard(),
    now,
  });
  assert.equal(verified.signer.certname, "rip.mcollective");
  assert.equal(verified.request.envelope.callerid, "choria=rip.mcollective");
  assert.equal(verified.body, BODY);
  assert.equal(verified.expiresAt, now + 60_000);
  assert.throws(
    () =>
      receiveRequest(payload, {
        verifier: new CertificateVerifier({ ca: fixture("certs/choria-ruby-spec/other_ca.pem") }),
        replayGuard: new ReplayGuard(),
        now,
      }),
    (e: unknown) =>
      e instanceof CertificateChainError &&
      /'rip\.mcollective' as it does not chain to a trusted CA/.test(e.message),
  );
});

for (const algorithm of ["ed25519", "rsa", "ecdsa"] as KeyAlgorithm[]) {
  Deno.test(`receiveRequest round-trips requests signed with ${algorithm}`, async () => {
    const ca = await CertificateAuthority.create({ algorithm });
    const issued = await ca.issue("client", "alice.mcollective", { algorithm });
    const signer = createSigner(issued.cert, issued.key);
    const verified = receiveRequest(await signedWire(signer), {
      verifier: new CertificateVerifier({ ca: ca.certPem }),
      replayGuard: new ReplayGuard(),
    });
    assert.equal(verified.signer.keyType, algorithm);
    assert.equal(verified.body, BODY);
  });
}

Deno.test("receiveRequest refuses the 2017 capture by its TTL", () => {
  const ca = fixture("certs/choria-ruby-spec/ca_crt.pem");
  assert.throws(
    () =>
      receiveRequest(fixture("messages/choriapi-2017-insecure-transport.json"), {
        verifier: new CertificateVerifier({ ca }),
        replayGuard: new ReplayGuard(),
      }),
    (e: unknown) =>
      e instanceof RequestExpiredError &&
      /request 'bbb95c73eadb41c39f82a7eedffecee1' as it expired at 2017-12-04T22:37:42\.000Z/
        .test(e.message),
  );
});

type ErrorClass = new (...args: never[]) => Error;
interface BadCase {
  name: string;
  payload: () => Promise<string>;
  error: ErrorClass;
  fragment: RegExp;
  options?: { maxBytes?: number; now?: number; allowedSkew?: number };
}

Deno.test("receiveRequest refuses each bad request with its own error", async () => {
  const ca = await CertificateAuthority.create();
  const otherCa = await CertificateAuthority.create({ name: "Other CA" });
  const signerOf = async (name: string, issuer = ca, options = {}) => {
    const issued = await issuer.issue("client", name, options);
    return createSigner(issued.cert, issued.key);
  };
  const alice = await signerOf("alice.mcollective");
  const mallory = await signerOf("mallory.mcollective");
  const nowS = Math.floor(Date.now() / 1000);
  const tamper = async (edit: (s: SecureRequestV1) => void) => {
    const secure = secureOf(await signedWire(alice));
    edit(secure);
    return wire(secure);
  };
  const cases: BadCase[] = [
    {
      name: "forged signature",
      payload: () =>
        tamper((s) => {
          s.pubcert = mallory.certificate;
        }),
      error: CallerMismatchError,
      fragment: /caller is choria=alice\.mcollective, signer is mallory\.mcollective/,
    },
    {
      name: "signature by another key under alice's certificate",
      payload: async () => {
        const secure = await createSecureRequest(requestFor(alice), mallory);
        return wire({ ...secure, pubcert: alice.certificate });
      },
      error: SignatureError,
      fragment: /as its signature does not match: signer is alice\.mcollective/,
    },
    {
      name: "truncated signature",
      payload: () =>
        tamper((s) => {
          s.signature = Uint8Array.fromBase64(s.signature).subarray(0, 32).toBase64();
        }),
      error: SignatureError,
      fragment: /signature does not match: signer is alice\.mcollective/,
    },
    {
      name: "tampered body",
      payload: () =>
        tamper((s) => {
          s.message = s.message.replace("ping", "pong");
        }),
      error: SignatureError,
      fragment: /signature does not match/,
    },
    {
      name: "certificate from another CA",
      payload: async () => signedWire(await signerOf("eve.mcollective", otherCa)),
      error: CertificateChainError,
      fragment:
        /'eve\.mcollective' as it does not chain to a trusted CA: it is issued by 'CN=Other CA'/,
    },
    {
      name: "expired certificate",
      payload: async () =>
        signedWire(
          await signerOf("old.mcollective", ca, {
            notBefore: new Date(Date.now() - 10 * DAY),
            notAfter: new Date(Date.now() - DAY),
          }),
        ),
      error: CertificateExpiredError,
      fragment: /'old\.mcollective' as it expired at/,
    },
    {
      name: "certificate not yet valid",
      payload: async () =>
        signedWire(
          await signerOf("early.mcollective", ca, {
            notBefore: new Date(Date.now() + DAY),
            notAfter: new Date(Date.now() + 10 * DAY),
          }),
        ),
      error: CertificateNotYetValidError,
      fragment: /'early\.mcollective' as it is not valid until/,
    },
    {
      name: "caller id mismatch",
      payload: () => signedWire(alice, { callerid: "choria=bob.mcollective" }),
      error: CallerMismatchError,
      fragment: /caller is choria=bob\.mcollective, signer is alice\.mcollective/,
    },
    {
      name: "name outside the allowed patterns",
      payload: async () => signedWire(await signerOf("n1.example.net")),
      error: CertificateNameError,
      fragment: /certificate 'n1\.example\.net' matches no allowed client pattern/,
    },
    {
      name: "request older than its TTL",
      payload: () => signedWire(alice, { time: nowS - 61, ttl: 60 }),
      error: RequestExpiredError,
      fragment: /as it expired at .* with a TTL of 60s, now is/,
    },
    {
      name: "request from the future",
      payload: () => signedWire(alice, { time: nowS + 120, ttl: 60 }),
      error: RequestFromFutureError,
      fragment: /as it is dated more than 60s in the future/,
    },
    {
      name: "request from beyond a configured skew",
      payload: () => signedWire(alice, { time: nowS + 15 }),
      error: RequestFromFutureError,
      fragment: /more than 10s in the future/,
      options: { allowedSkew: 10 },
    },
    {
      name: "oversize",
      payload: () => signedWire(alice),
      error: MessageSizeError,
      fragment: /Cannot decode transport as it is \d+ bytes: the limit is 1000/,
      options: { maxBytes: 1000 },
    },
    {
      name: "malformed JSON",
      payload: async () => (await signedWire(alice)).slice(0, -2),
      error: MessageJsonError,
      fragment: /Cannot decode transport as it is not JSON/,
    },
    {
      name: "invalid base64 data",
      payload: async () => {
        const t = decodeTransport(await signedWire(alice));
        return encodeTransport({ ...t, data: `${t.data.slice(0, 10)}#${t.data.slice(11)}` });
      },
      error: Base64Error,
      fragment: /Cannot decode transport as its 'data' is not valid base64/,
    },
    {
      name: "invalid base64 signature",
      payload: () =>
        tamper((s) => {
          s.signature = "%%%%";
        }),
      error: Base64Error,
      fragment: /secure request '[0-9a-f]{32}' as its 'signature' is not valid base64/,
    },
    {
      name: "a reply where a request belongs",
      payload: async () => {
        const reply = createReply({
          requestid: "bbb95c73eadb41c39f82a7eedffecee1",
          senderid: "n1",
          agent: "rpcutil",
          message: "{}",
        });
        return encodeTransport(createTransport(await createSecureReply(reply)));
      },
      error: ProtocolMismatchError,
      fragment: /secure request as its protocol is 'choria:secure:reply:1'/,
    },
    {
      name: "request without a filter",
      payload: () =>
        tamper((s) => {
          const r = JSON.parse(s.message);
          delete r.envelope.filter;
          s.message = JSON.stringify(r);
        }),
      error: MessageFieldError,
      fragment: /request '[0-9a-f]{32}' as it has no 'envelope\.filter'/,
    },
  ];
  for (const c of cases) {
    const payload = await c.payload();
    assert.throws(
      () =>
        receiveRequest(payload, {
          verifier: new CertificateVerifier({ ca: ca.certPem }),
          replayGuard: new ReplayGuard(),
          ...c.options,
        }),
      (e: unknown) => {
        assert.ok(e instanceof c.error, `${c.name}: expected ${c.error.name}, got ${e}`);
        assert.equal((e as Error).name, c.error.name, c.name);
        assert.match((e as Error).message, c.fragment, c.name);
        return true;
      },
    );
  }
});

Deno.test("receiveRequest lets a privileged signer sign for another caller", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "aaa.privileged.mcollective");
  const signer = createSigner(issued.cert, issued.key);
  const verified = receiveRequest(await signedWire(signer, { callerid: "choria=alice" }), {
    verifier: new CertificateVerifier({ ca: ca.certPem }),
    replayGuard: new ReplayGuard(),
  });
  assert.equal(verified.request.envelope.callerid, "choria=alice");
  assert.ok(verified.signer.privileged);
});

Deno.test("receiveRequest refuses replays within the TTL and the TTL refuses them after", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "alice.mcollective");
  const alice = createSigner(issued.cert, issued.key);
  const other = await ca.issue("client", "bob.mcollective");
  const bob = createSigner(other.cert, other.key);
  const options = {
    verifier: new CertificateVerifier({ ca: ca.certPem }),
    replayGuard: new ReplayGuard(),
  };
  const now = Date.now();
  const payload = await signedWire(alice, { time: Math.floor(now / 1000) });
  const { request } = receiveRequest(payload, { ...options, now });
  assert.throws(
    () => receiveRequest(payload, { ...options, now: now + 30_000 }),
    (e: unknown) =>
      e instanceof ReplayedRequestError &&
      e.message ===
        `Cannot accept request '${request.envelope.requestid}' as it was already received: caller is choria=alice.mcollective`,
  );
  assert.throws(
    () => receiveRequest(payload, { ...options, now: now + 61_000 }),
    RequestExpiredError,
  );
  // The same request id from another caller is another request.
  const bobs = await signedWire(bob, { requestid: request.envelope.requestid });
  receiveRequest(bobs, options);
  // Without a guard only the TTL protects.
  receiveRequest(payload, { ...options, replayGuard: null, now });
  receiveRequest(payload, { ...options, replayGuard: null, now });
});

Deno.test("receiveRequest does not let a refused forgery burn a genuine request id", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "alice.mcollective");
  const alice = createSigner(issued.cert, issued.key);
  const genuine = await signedWire(alice);
  const forged = secureOf(genuine);
  forged.message = forged.message.replace("ping", "shutdown");
  const options = {
    verifier: new CertificateVerifier({ ca: ca.certPem }),
    replayGuard: new ReplayGuard(),
  };
  assert.throws(() => receiveRequest(wire(forged), options), SignatureError);
  receiveRequest(genuine, options);
});

Deno.test("checkRequestTime uses go-choria's window: TTL behind, TTL ahead by default", () => {
  const envelope = { requestid: "x", ttl: 60, time: 1_000 };
  checkRequestTime({ envelope }, { now: 1_060_000 });
  assert.throws(() => checkRequestTime({ envelope }, { now: 1_060_001 }), RequestExpiredError);
  checkRequestTime({ envelope }, { now: 940_000 });
  assert.throws(() => checkRequestTime({ envelope }, { now: 939_999 }), RequestFromFutureError);
  checkRequestTime({ envelope }, { now: 995_000, allowedSkew: 5 });
  assert.throws(
    () => checkRequestTime({ envelope }, { now: 994_999, allowedSkew: 5 }),
    RequestFromFutureError,
  );
});

Deno.test("receiveReply checks hashes and, when signed, the sending server", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("server", "n1.example.net");
  const server = createSigner(issued.cert, issued.key);
  const verifier = new CertificateVerifier({ ca: ca.certPem });
  const reply = createReply({
    requestid: "bbb95c73eadb41c39f82a7eedffecee1",
    senderid: "n1.example.net",
    agent: "rpcutil",
    message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1 } }),
  });
  const signed = encodeTransport(
    createTransport(await createSecureReply(reply, { signer: server }), { sender: "n1" }),
  );
  const unsigned = encodeTransport(createTransport(await createSecureReply(reply)));
  assert.equal(receiveReply(signed, { verifier }).signer?.certname, "n1.example.net");
  assert.equal(receiveReply(unsigned).signer, undefined);
  assert.throws(
    () => receiveReply(unsigned, { verifier, requireSignature: true }),
    (e: unknown) =>
      e instanceof SignatureError &&
      e.message ===
        "Cannot verify reply to 'bbb95c73eadb41c39f82a7eedffecee1' as it is not signed: sender is n1.example.net",
  );
  const secure = JSON.parse(transportData(decodeTransport(signed)));
  const tampered = { ...secure, message: secure.message.replace("OK", "KO") };
  assert.throws(
    () => receiveReply(encodeTransport(createTransport(tampered)), { verifier }),
    ReplyHashError,
  );
  const spoofed = createReply({ ...reply.envelope, senderid: "n2.example.net", message: "{}" });
  const spoofedWire = encodeTransport(
    createTransport(await createSecureReply(spoofed, { signer: server })),
  );
  assert.throws(
    () => receiveReply(spoofedWire, { verifier }),
    (e: unknown) =>
      e instanceof CallerMismatchError && /sender is n2\.example\.net/.test(e.message),
  );
});
