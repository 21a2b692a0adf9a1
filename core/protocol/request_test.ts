import assert from "node:assert/strict";
import {
  Base64Error,
  MessageFieldError,
  MessageJsonError,
  MessageSizeError,
  ProtocolError,
  ProtocolMismatchError,
} from "./errors.ts";
import {
  createRequest,
  decodeRequest,
  DEFAULT_TTL,
  encodeRequest,
  newRequestId,
  requestBody,
  type RequestV1,
} from "./request.ts";

const ID = "bbb95c73eadb41c39f82a7eedffecee1";
const BASE = {
  agent: "rpcutil",
  collective: "mcollective",
  callerid: "choria=alice.mcollective",
  senderid: "ws1.example.net",
  message: JSON.stringify({ agent: "rpcutil", action: "ping", data: {} }),
};

// Tests patch requests freely, including into shapes the types forbid.
// deno-lint-ignore no-explicit-any
type Loose = Record<string, any>;

function wire(patch: (r: Loose) => void = () => {}): string {
  const r: Loose = structuredClone(createRequest({ ...BASE, requestid: ID }));
  patch(r);
  return JSON.stringify(r);
}

Deno.test("newRequestId makes 32 lowercase hex characters, fresh each time", () => {
  const a = newRequestId();
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, newRequestId());
});

Deno.test("createRequest fills Choria's defaults in go-choria's key order", () => {
  const before = Math.floor(Date.now() / 1000);
  const request = createRequest({
    ...BASE,
    filter: {
      compound: [[{ expr: "with('apache')" }]],
      fact: [{ fact: "os", operator: "==", value: "linux" }],
    },
  });
  assert.equal(request.protocol, "choria:request:1");
  assert.equal(request.envelope.ttl, DEFAULT_TTL);
  assert.ok(request.envelope.time >= before && request.envelope.time <= before + 1);
  assert.match(request.envelope.requestid, /^[0-9a-f]{32}$/);
  assert.deepEqual(request.envelope.filter.cf_class, []);
  assert.deepEqual(request.envelope.filter.agent, []);
  assert.deepEqual(request.envelope.filter.compound, [[{ expr: "with('apache')" }]]);
  assert.deepEqual(Object.keys(request), ["protocol", "message", "envelope"]);
  assert.deepEqual(Object.keys(request.envelope), [
    "requestid",
    "senderid",
    "callerid",
    "collective",
    "agent",
    "ttl",
    "time",
    "filter",
  ]);
  assert.deepEqual(decodeRequest(encodeRequest(request)), request);
});

Deno.test("createRequest refuses options that break the enforced schema", () => {
  const cases: [Partial<typeof BASE> & { ttl?: number; requestid?: string }, RegExp][] = [
    [
      { ttl: 29 },
      /Cannot build request '.{32}' as its 'envelope\.ttl' must be at least 30: current value is 29/,
    ],
    [{ ttl: 60.5 }, /'envelope\.ttl' must be an integer: found a number/],
    [
      { requestid: "abc" },
      /Cannot build request 'abc' as its 'envelope\.requestid' must be exactly 32 characters: current length is 3/,
    ],
    [{ message: "" }, /'message' must be at least 1 character: current length is 0/],
    [{ agent: "" }, /'envelope\.agent' must be at least 1 character/],
    [{ collective: "" }, /'envelope\.collective' must be at least 1 character/],
  ];
  for (const [patch, fragment] of cases) {
    assert.throws(() => createRequest({ ...BASE, ...patch }), (e: unknown) => {
      assert.ok(e instanceof MessageFieldError, String(e));
      assert.match((e as Error).message, fragment);
      return true;
    });
  }
});

Deno.test("decodeRequest refuses malformed requests with specific errors", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [string, string | Uint8Array, new (...a: any[]) => ProtocolError, RegExp][] = [
    ["bad JSON", '{"protocol":', MessageJsonError, /Cannot decode request as it is not JSON/],
    ["not an object", "[1,2]", MessageJsonError, /not a JSON object: found an array/],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), MessageJsonError, /not UTF-8 text/],
    [
      "wrong protocol",
      wire((r) => r.protocol = "choria:reply:1"),
      ProtocolMismatchError,
      /protocol is 'choria:reply:1': expected 'choria:request:1'/,
    ],
    ["no protocol", wire((r) => delete r.protocol), MessageFieldError, /as it has no 'protocol'/],
    ["no envelope", wire((r) => delete r.envelope), MessageFieldError, /as it has no 'envelope'/],
    [
      "no message",
      wire((r) => delete r.message),
      MessageFieldError,
      new RegExp(`request '${ID}' as it has no 'message'`),
    ],
    [
      "short requestid",
      wire((r) => r.envelope.requestid = "x"),
      MessageFieldError,
      /'envelope\.requestid' must be exactly 32 characters/,
    ],
    [
      "ttl under 30",
      wire((r) => r.envelope.ttl = 10),
      MessageFieldError,
      /'envelope\.ttl' must be at least 30: current value is 10/,
    ],
    [
      "ttl as text",
      wire((r) => r.envelope.ttl = "60"),
      MessageFieldError,
      /'envelope\.ttl' must be an integer: found a string/,
    ],
    [
      "time missing",
      wire((r) => delete r.envelope.time),
      MessageFieldError,
      /has no 'envelope\.time'/,
    ],
    [
      "callerid empty",
      wire((r) => r.envelope.callerid = ""),
      MessageFieldError,
      /'envelope\.callerid' must be at least 1 character/,
    ],
    [
      "no filter",
      wire((r) => delete r.envelope.filter),
      MessageFieldError,
      /has no 'envelope\.filter'/,
    ],
    [
      "filter without cf_class",
      wire((r) => delete r.envelope.filter.cf_class),
      MessageFieldError,
      /has no 'envelope\.filter\.cf_class'/,
    ],
    [
      "identity not strings",
      wire((r) => r.envelope.filter.identity = [1]),
      MessageFieldError,
      /'envelope\.filter\.identity\[0\]' must be a string: found an integer/,
    ],
    [
      "compound as strings (published schema)",
      wire((r) => r.envelope.filter.compound = ["with('x')"]),
      MessageFieldError,
      /'envelope\.filter\.compound\[0\]' must be an array of objects: found a string/,
    ],
    [
      "compound term not object",
      wire((r) => r.envelope.filter.compound = [["x"]]),
      MessageFieldError,
      /'envelope\.filter\.compound\[0\]\[0\]' must be an object/,
    ],
    [
      "fact operator",
      wire((r) => r.envelope.filter.fact = [{ fact: "a", operator: "~", value: "b" }]),
      MessageFieldError,
      /'envelope\.filter\.fact\[0\]\.operator' must be one of >= <= < > != == =~: current value is '~'/,
    ],
    [
      "fact empty value",
      wire((r) => r.envelope.filter.fact = [{ fact: "a", operator: "==", value: "" }]),
      MessageFieldError,
      /'envelope\.filter\.fact\[0\]\.value' must be at least 1 character/,
    ],
    [
      "oversize",
      wire(),
      MessageSizeError,
      /Cannot decode request as it is \d+ bytes: the limit is 100/,
    ],
  ];
  for (const [name, input, type, fragment] of cases) {
    assert.throws(
      () => decodeRequest(input, name === "oversize" ? { maxBytes: 100 } : {}),
      (e: unknown) => {
        assert.ok(e instanceof type, `${name}: expected ${type.name}, got ${e}`);
        assert.ok(e instanceof ProtocolError);
        assert.equal((e as Error).name, type.name);
        assert.match((e as Error).message, fragment, name);
        return true;
      },
      name,
    );
  }
});

Deno.test("decodeRequest keeps filters without agent and unknown keys as sent", () => {
  const request = decodeRequest(wire((r) => {
    delete r.envelope.filter.agent;
    r.envelope.extra = 1;
  }));
  assert.equal(request.envelope.filter.agent, undefined);
  assert.equal((request.envelope as unknown as Record<string, unknown>).extra, 1);
});

Deno.test("requestBody reads raw JSON, base64 from old senders, and refuses neither", () => {
  const raw = createRequest({ ...BASE, requestid: ID });
  assert.equal(requestBody(raw), BASE.message);
  const old: RequestV1 = { ...raw, message: btoa(BASE.message) };
  assert.equal(requestBody(old), BASE.message);
  // Ruby's Base64.encode64 wraps every 60 characters.
  const wrapped = btoa(BASE.message.repeat(3)).replace(/.{60}/g, "$&\n");
  assert.equal(requestBody({ ...raw, message: wrapped }), BASE.message.repeat(3));
  assert.throws(
    () => requestBody({ ...raw, message: "not%base64" }),
    (e: unknown) =>
      e instanceof Base64Error &&
      e.message === `Cannot decode request '${ID}' as its 'message' is not valid base64`,
  );
});
