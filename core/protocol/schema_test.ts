// Conformance of every protocol v1 builder and decoder with Choria's JSON schemas: the copies
// go-choria enforces win; the published ones are checked too where they agree (they differ only in
// the request's compound filter, which the README lists as a known disagreement).
import AjvDraft04 from "ajv-draft-04";
import assert from "node:assert/strict";
import { CertificateAuthority } from "../security/ca.ts";
import { createSigner } from "../security/signing.ts";
import { ProtocolError } from "./errors.ts";
import { createReply, decodeReply, encodeReply } from "./reply.ts";
import { createRequest, decodeRequest, encodeRequest, requestBody } from "./request.ts";
import { createSecureReply, decodeSecureReply, encodeSecureReply } from "./secure_reply.ts";
import { createSecureRequest, decodeSecureRequest, encodeSecureRequest } from "./secure_request.ts";
import { createTransport, decodeTransport, encodeTransport, transportData } from "./transport.ts";

// A CommonJS package: under Deno the default import is module.exports, whose .default is the class.
const Ajv = AjvDraft04.default;
const SHARED = new URL("../../../shared/choria/", import.meta.url);
const NAMES = ["transport", "secure_request", "secure_reply", "request", "reply"] as const;
type Name = (typeof NAMES)[number];
type Validate = (text: string) => string[];

function load(base: string): Record<Name, Validate> {
  const out = {} as Record<Name, Validate>;
  for (const name of NAMES) {
    const schema = JSON.parse(
      Deno.readTextFileSync(new URL(`${base}/choria/protocol/v1/${name}.json`, SHARED)),
    );
    // One Ajv per schema: the published schemas carry ids that would clash across sets.
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    out[name] = (text) =>
      validate(JSON.parse(text))
        ? []
        : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) =>
          `${e.instancePath} ${e.message}`
        );
  }
  return out;
}

const enforced = load("schemas/go-choria-enforced");
const published = load("schemas");

function assertValid(name: Name, text: string, options: { published?: boolean } = {}) {
  assert.deepEqual(enforced[name](text), [], `${name} against the enforced schema`);
  if (options.published ?? true) {
    assert.deepEqual(published[name](text), [], `${name} against the published schema`);
  }
}

const ca = await CertificateAuthority.create();
const client = await ca.issue("client", "alice.mcollective");
const server = await ca.issue("server", "n1.example.net");
const clientSigner = createSigner(client.cert, client.key);
const serverSigner = createSigner(server.cert, server.key);

Deno.test("Request builders produce messages the enforced schemas accept", async () => {
  const plain = createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: "choria=alice.mcollective",
    senderid: "ws1",
    message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {} }),
    filter: {
      fact: [{ fact: "country", operator: "==", value: "mt" }],
      cf_class: ["apache"],
      agent: ["rpcutil"],
      identity: ["/n\\d/"],
    },
  });
  assertValid("request", encodeRequest(plain));
  const compound = createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: "choria=alice.mcollective",
    senderid: "ws1",
    message: "{}",
    filter: { compound: [[{ expr: "with('apache') and country=mt" }]] },
  });
  assertValid("request", encodeRequest(compound), { published: false });
  assert.match(published.request(encodeRequest(compound)).join(), /must be string/);

  const secure = await createSecureRequest(plain, clientSigner);
  assertValid("secure_request", encodeSecureRequest(secure));
  const transport = createTransport(secure, {
    replyTo: "mcollective.reply.0f.abc",
    sender: "ws1",
    seenBy: [["", "ws1", "nats://b1:4222"], ["nats://b1:4222", "fed1", "nats://b2:4222"]],
    federation: {
      req: plain.envelope.requestid,
      "reply-to": "mcollective.reply.0f.abc",
      target: ["n1.example.net"],
    },
  });
  assertValid("transport", encodeTransport(transport));
});

Deno.test("Reply builders produce messages the enforced schemas accept, signed or not", async () => {
  const reply = createReply({
    requestid: "bbb95c73eadb41c39f82a7eedffecee1",
    senderid: "n1.example.net",
    agent: "rpcutil",
    message: JSON.stringify({ statuscode: 0, statusmsg: "OK", data: { pong: 1 } }),
  });
  assertValid("reply", encodeReply(reply));
  for (const options of [{}, { signer: serverSigner }]) {
    const secure = await createSecureReply(reply, options);
    assertValid("secure_reply", encodeSecureReply(secure));
    assertValid(
      "transport",
      encodeTransport(createTransport(secure, { sender: "n1.example.net" })),
    );
  }
});

Deno.test("The 2017 capture validates and decodes layer by layer", () => {
  const read = (name: string) =>
    Deno.readTextFileSync(new URL(`messages/choriapi-2017-insecure-${name}.json`, SHARED)).trim();
  assertValid("transport", read("transport"));
  assertValid("secure_request", read("secure_request"));
  assertValid("request", read("request"));
  const secure = decodeSecureRequest(transportData(decodeTransport(read("transport"))));
  assert.equal(encodeSecureRequest(secure), read("secure_request"));
  const request = decodeRequest(secure.message);
  assert.equal(encodeRequest(request), read("request"));
  assert.equal(request.envelope.callerid, "choria=f35711d");
  assert.deepEqual(JSON.parse(requestBody(request)), {
    temperature: 18.8,
    humidy: 56.5,
    time: "2017-12-04T22:36:42.636619913Z",
  });
});

Deno.test("Decoders refuse what the enforced schemas refuse", async () => {
  const request = JSON.parse(
    encodeRequest(createRequest({
      agent: "rpcutil",
      collective: "mcollective",
      callerid: "choria=alice.mcollective",
      senderid: "ws1",
      message: "{}",
    })),
  );
  const reply = JSON.parse(encodeReply(createReply({
    requestid: "bbb95c73eadb41c39f82a7eedffecee1",
    senderid: "n1",
    agent: "rpcutil",
    message: "{}",
  })));
  const secureReply = JSON.parse(encodeSecureReply(
    await createSecureReply(createReply({
      requestid: "bbb95c73eadb41c39f82a7eedffecee1",
      senderid: "n1",
      agent: "rpcutil",
      message: "{}",
    })),
  ));
  const env = (patch: Record<string, unknown>) => ({
    ...request,
    envelope: { ...request.envelope, ...patch },
  });
  const filter = (patch: Record<string, unknown>) =>
    env({ filter: { ...request.envelope.filter, ...patch } });
  const bad: [Name, unknown, (text: string) => unknown][] = [
    ["request", env({ ttl: 29 }), decodeRequest],
    ["request", env({ requestid: "a".repeat(33) }), decodeRequest],
    ["request", env({ time: 1.5 }), decodeRequest],
    ["request", env({ callerid: "" }), decodeRequest],
    ["request", { ...request, message: "" }, decodeRequest],
    ["request", { ...request, protocol: "choria:request:2" }, decodeRequest],
    ["request", filter({ compound: ["with('x')"] }), decodeRequest],
    ["request", filter({ fact: [{ fact: "a", operator: "~", value: "b" }] }), decodeRequest],
    ["request", filter({ identity: undefined }), decodeRequest],
    ["reply", { ...reply, envelope: { ...reply.envelope, agent: "" } }, decodeReply],
    ["reply", { ...reply, envelope: { ...reply.envelope, time: "1" } }, decodeReply],
    ["secure_reply", { ...secureReply, hash: "" }, decodeSecureReply],
    [
      "secure_request",
      { protocol: "choria:secure:request:1", message: "{}", signature: "x" },
      decodeSecureRequest,
    ],
    ["transport", { protocol: "choria:transport:1", data: "e30=" }, decodeTransport],
    [
      "transport",
      { protocol: "choria:transport:1", data: "e30=", headers: { federation: {} } },
      decodeTransport,
    ],
    [
      "transport",
      { protocol: "choria:transport:1", data: "e30=", headers: { mc_sender: "" } },
      decodeTransport,
    ],
  ];
  for (const [name, message, decode] of bad) {
    const text = JSON.stringify(message);
    assert.notDeepEqual(enforced[name](text), [], `the schema refuses ${text}`);
    assert.throws(() => decode(text), ProtocolError, `the decoder refuses ${text}`);
  }
});
