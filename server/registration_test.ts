import Ajv07 from "ajv";
import AjvDraft04 from "ajv-draft-04";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { deflateSync, gzipSync } from "node:zlib";
import type { AgentDdl } from "../agents/agent.ts";
import { ProtocolError, RequestExpiredError } from "../core/protocol/errors.ts";
import { createRequest } from "../core/protocol/request.ts";
import { createSecureRequest } from "../core/protocol/secure_request.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { CertificateAuthority } from "../core/security/ca.ts";
import { createSigner } from "../core/security/signing.ts";
import {
  CallerMismatchError,
  CertificateChainError,
  CertificateVerifier,
  SignatureError,
} from "../core/security/verify.ts";
import {
  buildInventory,
  createRegistrationMessage,
  decodeRegistration,
  decodeRegistrationContent,
  type DecodeRegistrationOptions,
  fileContent,
  type Inventory,
  inventoryContent,
  RegistrationCompressionError,
  RegistrationContentError,
  RegistrationError,
  registrationSchedule,
} from "./registration.ts";
import { serverStatus, StatusFileError } from "./status_file.ts";

// CommonJS packages: under Deno the default import is module.exports, whose .default is the class.
const Ajv4 = AjvDraft04.default;
const Ajv7 = Ajv07.default;
const SHARED = new URL("../../shared/choria/", import.meta.url);

function readShared(path: string): string {
  return Deno.readTextFileSync(new URL(path, SHARED));
}

function validator(schema: object, Ajv: typeof Ajv4 | typeof Ajv7) {
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  return (data: unknown) =>
    validate(data)
      ? []
      : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) =>
        `${e.instancePath} ${e.message}`
      );
}

const ca = await CertificateAuthority.create();
const node = await ca.issue("server", "n1.example.net");
const signer = createSigner(node.cert, node.key);
const verifier = new CertificateVerifier({ ca: ca.certPem });
const otherCa = await CertificateAuthority.create();
const stranger = await otherCa.issue("server", "n1.example.net");

const ddls = ["rpcutil", "package", "choria_util"].map((name) =>
  JSON.parse(readShared(`ddl/${name}.json`)) as AgentDdl
);
// Whole seconds, as request times are: certificates are only valid from about now.
const NOW = Math.floor(Date.now() / 1000) * 1000;

function sampleInventory(): Inventory {
  return buildInventory({
    agents: ddls,
    collectives: ["mcollective", "eu"],
    classes: ["apache", "roles::web"],
    facts: { country: "mt", os: { family: "Debian", release: { major: "12" } }, cpus: 4 },
    version: "0.1.0",
    sha: "a03744e",
    status: serverStatus({
      identity: "n1.example.net",
      startedAt: NOW - 3_600_000,
      now: NOW,
      connectedServer: "nats://broker.example.net:4222",
      stats: { total: 3, valid: 3, passed: 3, replies: 3 },
      certificateExpires: new Date(new X509Certificate(node.cert).validTo),
    }),
    machines: [{ name: "nagios", version: "1.0.0", state: "OK" }],
  });
}

const decodeOptions: DecodeRegistrationOptions = { verifier, now: NOW };

Deno.test("buildInventory keeps DDL metadata in go-choria's agents.Metadata order", () => {
  const inventory = sampleInventory();
  assert.deepEqual(inventory.agents.map((a) => a.name), ["rpcutil", "package", "choria_util"]);
  assert.deepEqual(
    Object.keys(inventory.agents[0] ?? {}),
    ["license", "author", "timeout", "name", "version", "url", "description"],
  );
  assert.deepEqual(Object.keys(inventory), [
    "agents",
    "classes",
    "facts",
    "status",
    "collectives",
    "build_info",
    "machines",
  ]);
  assert.equal(inventory.status?.identity, "n1.example.net");
  assert.deepEqual(inventory.build_info, { version: "0.1.0", sha: "a03744e" });
  const plain = buildInventory({ agents: [], collectives: ["mcollective"], version: "0.1.0" });
  assert.deepEqual(plain, {
    agents: [],
    classes: [],
    facts: {},
    status: null,
    collectives: ["mcollective"],
    build_info: { version: "0.1.0", sha: "" },
    machines: [],
  });
});

Deno.test("Registration round-trips: build, gzip, sign, verify, decode gives the same inventory", async () => {
  const inventory = sampleInventory();
  const content = inventoryContent(inventory);
  assert.deepEqual(Object.keys(content), ["protocol", "zcontent"]);
  const message = await createRegistrationMessage(content, signer, {
    collective: "mcollective",
    now: NOW,
  });
  assert.equal(message.subject, "mcollective.broadcast.agent.registration");
  assert.deepEqual(message.transport.headers, {
    "reply-to": "dev.null",
    mc_sender: "n1.example.net",
  });
  assert.equal(message.request.envelope.agent, "registration");
  assert.equal(message.request.envelope.callerid, "choria=n1.example.net");
  assert.equal(message.request.envelope.senderid, "n1.example.net");
  assert.equal(message.request.message, JSON.stringify(content));

  const received = decodeRegistration(new TextEncoder().encode(message.payload), decodeOptions);
  assert.ok(received.type === "inventory");
  assert.deepEqual(received.inventory, inventory);
  assert.equal(received.compressed, true);
  assert.equal(received.signer?.certname, "n1.example.net");
  assert.equal(received.request.envelope.requestid, message.request.envelope.requestid);
});

Deno.test("Registration round-trips uncompressed inventories with inline content", async () => {
  const inventory = sampleInventory();
  const content = inventoryContent(inventory, { compress: false });
  assert.equal(content.content, inventory);
  const message = await createRegistrationMessage(content, signer, {
    collective: "eu",
    identity: "web1",
    target: "my.cmdb",
    now: NOW,
    ttl: 120,
  });
  assert.equal(message.subject, "my.cmdb");
  assert.equal(message.request.envelope.senderid, "web1");
  assert.equal(message.request.envelope.ttl, 120);
  const received = decodeRegistration(message.payload, decodeOptions);
  assert.ok(received.type === "inventory");
  assert.equal(received.compressed, false);
  assert.deepEqual(received.inventory, inventory);
});

Deno.test("Compressed inventory is gzip of the inventory JSON, smaller than it", () => {
  const inventory = sampleInventory();
  const zcontent = inventoryContent(inventory).zcontent ?? "";
  const gzip = Uint8Array.fromBase64(zcontent);
  assert.deepEqual([gzip[0], gzip[1]], [0x1f, 0x8b]);
  assert.ok(gzip.length < JSON.stringify(inventory).length);
});

Deno.test("Inventory payloads match the published inventorycontent schema once repaired", () => {
  const text = readShared("schemas/choria/registration/v1/inventorycontent.json");
  // Upstream is not valid JSON (a trailing comma) ...
  assert.throws(() => JSON.parse(text), SyntaxError);
  const schema = JSON.parse(text.replace(/,(\s*})/g, "$1"));
  // ... and requires file content's mtime and file, which go-choria never sends for inventories.
  assert.deepEqual(schema.required, ["mtime", "file", "protocol"]);
  schema.required = ["protocol"];
  // A draft-07 schema names its id `$id`.
  schema.$id = schema.id;
  delete schema.id;
  const validate = validator(schema, Ajv7);
  const compressed = inventoryContent(sampleInventory());
  assert.deepEqual(validate(JSON.parse(JSON.stringify(compressed))), []);
  // The schema says content is base64 text; go-choria sends json.RawMessage (inline JSON).
  const inline = inventoryContent(sampleInventory(), { compress: false });
  assert.deepEqual(validate(JSON.parse(JSON.stringify(inline))), ["/content must be string"]);
});

Deno.test("File content payloads validate against the filecontent schema and match go-choria", () => {
  const validate = validator(
    JSON.parse(readShared("schemas/choria/registration/v1/filecontent.json")),
    Ajv4,
  );
  const sample = Deno.readFileSync(
    new URL("messages/registration-filecontent-sample-data.json", SHARED),
  );
  const plain = fileContent("testdata/sample.json", sample, { mtime: 1511865541, compress: false });
  // go-choria's file_content_test expects exactly this for its testdata/sample.json.
  assert.equal(
    JSON.stringify(plain),
    '{"mtime":1511865541,"file":"testdata/sample.json","updated":false,' +
      '"protocol":"choria:registration:filecontent:1","content":"eyJmaWxlIjogdHJ1ZX0="}',
  );
  const zipped = fileContent("testdata/sample.json", sample, { mtime: 1511865541, updated: true });
  for (const message of [plain, zipped]) {
    assert.deepEqual(validate(JSON.parse(JSON.stringify(message))), []);
    const data = decodeRegistrationContent(JSON.stringify(message));
    assert.ok(data.type === "file");
    assert.deepEqual(data.data, sample);
    assert.equal(data.file, "testdata/sample.json");
    assert.equal(data.mtime, 1511865541);
    assert.equal(data.compressed, message === zipped);
    assert.equal(data.updated, message === zipped);
  }
  assert.throws(
    () => fileContent("f", sample, { mtime: 1.5 }),
    /'mtime' must be an integer: current value is 1.5/,
  );
});

Deno.test("decodeRegistrationContent reads go-choria's gzip with sync flush and its nulls", () => {
  const data = decodeRegistrationContent(
    '{"mtime":1511865541,"file":"testdata/sample.json","updated":false,' +
      '"protocol":"choria:registration:filecontent:1",' +
      '"zcontent":"H4sIAAAAAAAA/6pWSsvMSVWyUigpKk2tBQAAAP//AQAA//9QwpuPDgAAAA=="}',
  );
  assert.ok(data.type === "file");
  assert.equal(new TextDecoder().decode(data.data), '{"file": true}');

  // A Go node with no agents, classes or facts, from before build_info and machines.
  const old = JSON.stringify({
    agents: null,
    classes: null,
    facts: null,
    status: null,
    collectives: ["mcollective"],
  });
  const zcontent = gzipSync(new TextEncoder().encode(old)).toBase64();
  const inventory = decodeRegistrationContent(
    JSON.stringify({ protocol: "choria:registration:inventorycontent:1", zcontent }),
  );
  assert.ok(inventory.type === "inventory");
  assert.deepEqual(inventory.inventory, {
    agents: [],
    classes: [],
    facts: {},
    status: null,
    collectives: ["mcollective"],
    build_info: null,
    machines: [],
  });
});

Deno.test("decodeRegistrationContent reads base64 content and zlib, as older senders wrote", () => {
  const inventory = sampleInventory();
  const json = new TextEncoder().encode(JSON.stringify(inventory));
  for (
    const message of [
      { protocol: "choria:registration:inventorycontent:1", content: json.toBase64() },
      {
        protocol: "choria:registration:inventorycontent:1",
        zcontent: deflateSync(json).toBase64(),
      },
    ]
  ) {
    const data = decodeRegistrationContent(JSON.stringify(message));
    assert.ok(data.type === "inventory");
    assert.deepEqual(data.inventory, inventory);
  }
});

Deno.test("decodeRegistrationContent passes other plugins' data through", () => {
  assert.deepEqual(decodeRegistrationContent('{"protocol":"acme:1","x":1}'), {
    type: "other",
    protocol: "acme:1",
    body: '{"protocol":"acme:1","x":1}',
  });
  assert.deepEqual(decodeRegistrationContent("hello"), {
    type: "other",
    protocol: null,
    body: "hello",
  });
});

Deno.test("decodeRegistrationContent gives typed errors for bad payloads", () => {
  const inv = (fields: Record<string, unknown>) =>
    JSON.stringify({ protocol: "choria:registration:inventorycontent:1", ...fields });
  const gz = (value: unknown) =>
    gzipSync(new TextEncoder().encode(JSON.stringify(value))).toBase64();
  const cases: [string, new (...args: never[]) => Error, RegExp][] = [
    [inv({}), RegistrationContentError, /has neither 'zcontent' nor 'content'$/],
    [
      inv({ content: 5 }),
      RegistrationContentError,
      /'content' must be an object or base64 text: found number 5/,
    ],
    [inv({ zcontent: "!!!" }), RegistrationContentError, /'zcontent' is not base64/],
    [
      inv({ zcontent: "AQID" }),
      RegistrationCompressionError,
      /'zcontent' is not gzip or zlib data/,
    ],
    [
      inv({ zcontent: gzipSync(new Uint8Array([0xff])).toBase64() }),
      RegistrationContentError,
      /'zcontent' is not JSON text/,
    ],
    [
      inv({ zcontent: gz([]) }),
      RegistrationContentError,
      /inventory must be an object: found an array/,
    ],
    [
      inv({ content: { agents: {} } }),
      RegistrationContentError,
      /'agents' must be an array: found an object/,
    ],
    [
      inv({ content: { agents: [{ version: "1" }] } }),
      RegistrationContentError,
      /'agents\[0\]' must be agent metadata with a name/,
    ],
    [
      inv({ content: { classes: ["a", 1] } }),
      RegistrationContentError,
      /'classes\[1\]' must be a string: found number 1/,
    ],
    [
      inv({ content: { facts: [] } }),
      RegistrationContentError,
      /'facts' must be an object: found an array/,
    ],
    [
      inv({ content: { build_info: { sha: "x" } } }),
      RegistrationContentError,
      /'build_info' must have a version/,
    ],
    [
      inv({ content: { machines: [1] } }),
      RegistrationContentError,
      /'machines\[0\]' must be a machine state/,
    ],
    [
      JSON.stringify({ protocol: "choria:registration:filecontent:1", file: "f", mtime: "1" }),
      RegistrationContentError,
      /^Cannot decode file content registration 'f' as its 'mtime' must be an integer: found '1'$/,
    ],
    [
      JSON.stringify({ protocol: "choria:registration:filecontent:1", mtime: 1 }),
      RegistrationContentError,
      /'file' must be a string: found nothing/,
    ],
  ];
  for (const [body, type, message] of cases) {
    assert.throws(() => decodeRegistrationContent(body), (e: unknown) => {
      assert.ok(e instanceof type, `${body}: ${e}`);
      assert.ok(e instanceof RegistrationError);
      assert.equal(e.name, type.name);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(
    () => decodeRegistrationContent(inv({ content: { status: { identity: 1 } } })),
    (e: unknown) => e instanceof RegistrationContentError && e.cause instanceof StatusFileError,
  );
  const big = inventoryContent(sampleInventory());
  assert.throws(
    () => decodeRegistrationContent(JSON.stringify(big), { maxInflatedBytes: 100 }),
    (e: unknown) =>
      e instanceof RegistrationCompressionError && /inflates past 100 bytes/.test(e.message),
  );
});

Deno.test("decodeRegistration refuses tampered, foreign, impersonating and stale messages", async () => {
  const content = inventoryContent(sampleInventory());
  const good = await createRegistrationMessage(content, signer, {
    collective: "mcollective",
    now: NOW,
  });

  // Tampered: swap the signed message for another after signing.
  const secure = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(good.transport.data)));
  secure.message = secure.message.replace('"ttl":60', '"ttl":61');
  const tampered = encodeTransport({
    ...good.transport,
    data: new TextEncoder().encode(JSON.stringify(secure)).toBase64(),
  });
  assert.throws(() => decodeRegistration(tampered, decodeOptions), SignatureError);

  // Signed by a certificate from another CA.
  const foreign = await createRegistrationMessage(
    content,
    createSigner(stranger.cert, stranger.key),
    {
      collective: "mcollective",
      now: NOW,
    },
  );
  assert.throws(() => decodeRegistration(foreign.payload, decodeOptions), CertificateChainError);

  // Claims to come from another caller.
  const request = createRequest({
    agent: "registration",
    collective: "mcollective",
    callerid: "choria=n2.example.net",
    senderid: "n2.example.net",
    message: JSON.stringify(content),
    time: NOW / 1000,
  });
  const impersonating = encodeTransport(
    createTransport(await createSecureRequest(request, signer)),
  );
  assert.throws(
    () => decodeRegistration(impersonating, decodeOptions),
    (e: unknown) =>
      e instanceof CallerMismatchError &&
      /caller is choria=n2.example.net, signer is n1.example.net/.test(e.message),
  );

  // Stale, unless time checks are off.
  assert.throws(
    () => decodeRegistration(good.payload, { verifier, now: NOW + 61_000 }),
    RequestExpiredError,
  );
  const late = decodeRegistration(good.payload, { verifier, now: NOW + 61_000, checkTime: false });
  assert.equal(late.type, "inventory");

  // Not for the registration agent.
  const rpc = createRequest({
    agent: "rpcutil",
    collective: "mcollective",
    callerid: "choria=n1.example.net",
    senderid: "n1.example.net",
    message: "{}",
    time: NOW / 1000,
  });
  const wrongAgent = encodeTransport(createTransport(await createSecureRequest(rpc, signer)));
  assert.throws(
    () => decodeRegistration(wrongAgent, decodeOptions),
    (e: unknown) =>
      e instanceof RegistrationError &&
      /agent must be 'registration': current value is 'rpcutil'/.test(e.message),
  );

  // Not a transport at all.
  assert.throws(() => decodeRegistration("{", decodeOptions), ProtocolError);
});

Deno.test("decodeRegistration without a verifier decodes but does not verify", async () => {
  const foreign = await createRegistrationMessage(
    inventoryContent(sampleInventory()),
    createSigner(stranger.cert, stranger.key),
    { collective: "mcollective", now: NOW },
  );
  const received = decodeRegistration(foreign.payload, { verifier: null, now: NOW });
  assert.equal(received.signer, null);
  assert.equal(received.type, "inventory");
});

Deno.test("registrationSchedule draws the first delay within the splay", () => {
  assert.deepEqual(registrationSchedule(), { firstDelayMs: 0, intervalMs: 300_000 });
  assert.deepEqual(registrationSchedule({ interval: 60, splay: 30, random: () => 0 }), {
    firstDelayMs: 0,
    intervalMs: 60_000,
  });
  assert.equal(registrationSchedule({ splay: 30, random: () => 0.5 }).firstDelayMs, 15_000);
  assert.equal(
    registrationSchedule({ splay: 30, random: () => 0.9999999999 }).firstDelayMs,
    29_999,
  );
  // A faulty source stays within bounds.
  assert.equal(registrationSchedule({ splay: 30, random: () => 1 }).firstDelayMs, 29_999);
  assert.equal(registrationSchedule({ splay: 30, random: () => -3 }).firstDelayMs, 0);
  assert.equal(registrationSchedule({ splay: 30, random: () => Number.NaN }).firstDelayMs, 0);
  assert.equal(registrationSchedule({ splay: 0, random: () => 0.7 }).firstDelayMs, 0);
  for (let i = 0; i < 1000; i++) {
    const { firstDelayMs } = registrationSchedule({ interval: 300, splay: 300 });
    assert.ok(firstDelayMs >= 0 && firstDelayMs < 300_000 && Number.isInteger(firstDelayMs));
  }
  assert.throws(
    () => registrationSchedule({ interval: 0 }),
    {
      name: "RangeError",
      message:
        "Cannot schedule registration as 'interval' must be a positive number of seconds: current value is 0",
    },
  );
  assert.throws(() => registrationSchedule({ splay: -1 }), /'splay' must be zero or a positive/);
  assert.throws(() => registrationSchedule({ splay: Infinity }), RangeError);
});
