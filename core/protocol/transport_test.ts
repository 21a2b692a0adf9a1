import assert from "node:assert/strict";
import {
  Base64Error,
  MessageFieldError,
  MessageJsonError,
  ProtocolMismatchError,
} from "./errors.ts";
import {
  createTransport,
  decodeTransport,
  encodeTransport,
  transportData,
  type TransportV1,
} from "./transport.ts";

const CAPTURE = new URL("../../../shared/choria/messages/", import.meta.url);
const secure = {
  protocol: "choria:secure:request:1" as const,
  message: '{"protocol":"choria:request:1"}',
  signature: "AA==",
  pubcert: "pem",
};

Deno.test("createTransport wraps base64 JSON with Choria's headers", () => {
  const transport = createTransport(secure, {
    replyTo: "mcollective.reply.abc.def",
    sender: "ws1",
    seenBy: [["", "ws1", "nats://b1:4222"]],
    federation: { req: "bbb95c73eadb41c39f82a7eedffecee1", target: ["n1", "n2"] },
  });
  assert.deepEqual(Object.keys(transport.headers), [
    "reply-to",
    "mc_sender",
    "seen-by",
    "federation",
  ]);
  assert.equal(atob(transport.data), JSON.stringify(secure));
  const decoded = decodeTransport(encodeTransport(transport));
  assert.deepEqual(decoded, transport);
  assert.equal(transportData(decoded), JSON.stringify(secure));
  assert.deepEqual(createTransport(secure).headers, {});
});

Deno.test("decodeTransport reads the 2017 capture", () => {
  const transport = decodeTransport(
    Deno.readFileSync(new URL("choriapi-2017-insecure-transport.json", CAPTURE)),
  );
  assert.equal(transport.headers["reply-to"], "dev.null");
  assert.deepEqual(transport.headers["seen-by"], [
    ["nats://demo.nats.io:4222", "f35711d", "nats://demo.nats.io:4222"],
  ]);
  assert.equal(
    transportData(transport),
    Deno.readTextFileSync(new URL("choriapi-2017-insecure-secure_request.json", CAPTURE)).trim(),
  );
});

Deno.test("transportData accepts Ruby's wrapped base64 and refuses invalid base64", () => {
  const transport = createTransport(secure);
  const wrapped: TransportV1 = { ...transport, data: transport.data.replace(/.{60}/g, "$&\n") };
  assert.equal(transportData(wrapped), JSON.stringify(secure));
  assert.throws(
    () => transportData({ ...transport, data: "*not base64*" }),
    (e: unknown) =>
      e instanceof Base64Error &&
      e.message === "Cannot decode transport as its 'data' is not valid base64",
  );
  assert.throws(
    () => transportData({ ...transport, data: btoa("\xff\xfe") }),
    (e: unknown) => e instanceof MessageJsonError && /not UTF-8 text/.test(e.message),
  );
});

Deno.test("decodeTransport refuses bad headers with specific errors", () => {
  const good = JSON.parse(encodeTransport(createTransport(secure)));
  const cases: [unknown, RegExp][] = [
    [
      { ...good, protocol: "choria:transport:2" },
      /protocol is 'choria:transport:2': expected 'choria:transport:1'/,
    ],
    [{ ...good, headers: undefined }, /has no 'headers'/],
    [{ ...good, data: 7 }, /'data' must be a string: found an integer/],
    [{ ...good, headers: { "reply-to": "" } }, /'headers\.reply-to' must be at least 1 character/],
    [
      { ...good, headers: { "seen-by": [["a", 1, "c"]] } },
      /'headers\.seen-by\[0\]' must be an array of strings/,
    ],
    [
      { ...good, headers: { federation: { req: "short" } } },
      /'headers\.federation\.req' must be exactly 32 characters/,
    ],
    [
      {
        ...good,
        headers: { federation: { req: "bbb95c73eadb41c39f82a7eedffecee1", target: "n1" } },
      },
      /'headers\.federation\.target' must be an array: found a string/,
    ],
  ];
  for (const [input, fragment] of cases) {
    assert.throws(() => decodeTransport(JSON.stringify(input)), (e: unknown) => {
      assert.ok(e instanceof MessageFieldError || e instanceof ProtocolMismatchError, String(e));
      assert.match((e as Error).message, fragment);
      return true;
    });
  }
});
