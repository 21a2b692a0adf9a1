import assert from "node:assert/strict";
import {
  Parser,
  ProtocolError,
  type ProtocolHandler,
  type RouteProtocolHandler,
} from "./parser.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Op = [string, ...unknown[]];

function recorder(): { ops: Op[]; handler: ProtocolHandler } {
  const ops: Op[] = [];
  return {
    ops,
    handler: {
      connect: (json) => ops.push(["CONNECT", json]),
      publish: (subject, reply, headerSize, data) =>
        ops.push(["PUB", subject, reply, headerSize, decoder.decode(data)]),
      subscribe: (subject, queue, sid) => ops.push(["SUB", subject, queue, sid]),
      unsubscribe: (sid, max) => ops.push(["UNSUB", sid, max]),
      ping: () => ops.push(["PING"]),
      pong: () => ops.push(["PONG"]),
    },
  };
}

const STREAM = 'CONNECT {"verbose":false,"name":"a b"}\r\n' +
  "PUB foo 5\r\nhello\r\n" +
  "pub foo.bar reply.1 0\r\n\r\n" +
  "HPUB h.s r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
  "SUB foo.* 1\r\nSUB\tfoo.>  workers \t 2\r\n" +
  "UNSUB 1\r\nUNSUB 2 10\r\nPING\r\nPONG\r\n" +
  "PUB bin 4\r\n\r\n\r\n\r\n";

const EXPECTED: Op[] = [
  ["CONNECT", '{"verbose":false,"name":"a b"}'],
  ["PUB", "foo", null, -1, "hello"],
  ["PUB", "foo.bar", "reply.1", -1, ""],
  ["PUB", "h.s", "r", 12, "NATS/1.0\r\n\r\nhi"],
  ["SUB", "foo.*", null, "1"],
  ["SUB", "foo.>", "workers", "2"],
  ["UNSUB", "1", 0],
  ["UNSUB", "2", 10],
  ["PING"],
  ["PONG"],
  ["PUB", "bin", null, -1, "\r\n\r\n"],
];

Deno.test("Parser emits every operation from one chunk", () => {
  const { ops, handler } = recorder();
  new Parser(handler).feed(encoder.encode(STREAM));
  assert.deepEqual(ops, EXPECTED);
});

Deno.test("Parser emits the same operations when fed one byte at a time", () => {
  const { ops, handler } = recorder();
  const parser = new Parser(handler);
  for (const byte of encoder.encode(STREAM)) parser.feed(new Uint8Array([byte]));
  assert.deepEqual(ops, EXPECTED);
});

Deno.test("Parser emits the same operations for every split point", () => {
  const bytes = encoder.encode(STREAM);
  for (let cut = 1; cut < bytes.length; cut++) {
    const { ops, handler } = recorder();
    const parser = new Parser(handler);
    parser.feed(bytes.subarray(0, cut));
    parser.feed(bytes.subarray(cut));
    assert.deepEqual(ops, EXPECTED, `split at ${cut}`);
  }
});

Deno.test("Parser accepts bare LF line endings", () => {
  const { ops, handler } = recorder();
  new Parser(handler).feed(encoder.encode("PING\nSUB a 1\n"));
  assert.deepEqual(ops, [["PING"], ["SUB", "a", null, "1"]]);
});

Deno.test("Parser takes CONNECT without a space and ignores INFO and +OK from clients", () => {
  const { ops, handler } = recorder();
  new Parser(handler).feed(encoder.encode('CONNECT{"a":1}\r\nINFO {}\r\n+OK\r\nPING\r\n'));
  assert.deepEqual(ops, [["CONNECT", '{"a":1}'], ["PING"]]);
});

Deno.test("Parser measures the control line limit on the arguments", () => {
  const { ops, handler } = recorder();
  new Parser(handler, { maxControlLine: 10 }).feed(encoder.encode("SUB abcdef 1\r\n"));
  assert.equal(ops.length, 1);
  assert.equal(
    failure("SUB abcdefghi 1\r\n", { maxControlLine: 10 }).errText,
    "maximum control line exceeded",
  );
});

function failure(input: string, options = {}): ProtocolError {
  const { handler } = recorder();
  const parser = new Parser(handler, options);
  try {
    parser.feed(encoder.encode(input));
  } catch (error) {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(input)} to fail`);
}

Deno.test("Parser rejects unknown operations", () => {
  assert.equal(failure("FOO bar\r\n").errText, "Unknown Protocol Operation");
  assert.equal(failure("MSG foo 1 2\r\nhi\r\n").errText, "Unknown Protocol Operation");
});

Deno.test("Parser rejects malformed arguments", () => {
  for (
    const bad of [
      "PUB foo\r\n",
      "PUB foo bar\r\n",
      "PUB a b c 1\r\n",
      "HPUB foo 10 5\r\n",
      "HPUB foo 5\r\n",
      "SUB foo\r\n",
      "SUB a b c d\r\n",
      "UNSUB\r\n",
      "UNSUB 1 x\r\n",
      "PUB foo -1\r\n",
    ]
  ) {
    assert.equal(failure(bad).errText, "Invalid Arguments", bad);
  }
});

Deno.test("Parser rejects a payload not followed by CRLF", () => {
  assert.match(failure("PUB foo 2\r\nhello\r\n").message, /not followed by CRLF/);
});

Deno.test("Parser rejects payloads over the limit at the control line", () => {
  const error = failure("PUB foo 2000\r\n", { maxPayload: 1000 });
  assert.equal(error.errText, "Maximum Payload Violation");
});

Deno.test("Parser rejects control lines over the limit, whole or split", () => {
  const long = `SUB ${"a".repeat(200)} 1\r\n`;
  assert.equal(failure(long, { maxControlLine: 100 }).errText, "maximum control line exceeded");
  const { handler } = recorder();
  const parser = new Parser(handler, { maxControlLine: 100 });
  assert.throws(() => {
    for (const byte of encoder.encode(long)) parser.feed(new Uint8Array([byte]));
  }, (e: unknown) => e instanceof ProtocolError && e.errText === "maximum control line exceeded");
});

Deno.test("Parser ignores input after stop", () => {
  const { ops, handler } = recorder();
  const parser = new Parser(handler);
  parser.feed(encoder.encode("PING\r\n"));
  parser.stop();
  parser.feed(encoder.encode("PING\r\n"));
  assert.deepEqual(ops, [["PING"]]);
});

Deno.test("Parser survives random and mutated input with only ProtocolErrors", () => {
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const base = encoder.encode(STREAM);
  for (let round = 0; round < 2_000; round++) {
    const bytes = round % 2 === 0
      ? Uint8Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256))
      : base.map((b) => (random() < 0.05 ? Math.floor(random() * 256) : b));
    const { handler } = recorder();
    const parser = new Parser(handler, { maxControlLine: 256, maxPayload: 1024 });
    try {
      let at = 0;
      while (at < bytes.length) {
        const step = 1 + Math.floor(random() * 16);
        parser.feed(bytes.subarray(at, at + step));
        at += step;
      }
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `round ${round}: ${error}`);
    }
  }
});

// The cluster protocol, as nats-server 2.9 speaks it on routes.

function routeRecorder(): { events: string[]; handler: RouteProtocolHandler } {
  const events: string[] = [];
  const handler: RouteProtocolHandler = {
    info: (json) => events.push(`INFO ${json}`),
    connect: (json) => events.push(`CONNECT ${json}`),
    remoteSubscribe: (a, s, q, w) => events.push(`RS+ ${a} ${s} ${q} ${w}`),
    remoteUnsubscribe: (a, s, q) => events.push(`RS- ${a} ${s} ${q}`),
    routedMessage: (a, s, r, qs, h, d) =>
      events.push(`MSG ${a} ${s} ${r} ${qs?.join(",")} ${h} ${new TextDecoder().decode(d)}`),
    ping: () => events.push("PING"),
    pong: () => events.push("PONG"),
    error: (text) => events.push(`ERR ${text}`),
  };
  return { events, handler };
}

const ROUTE_INPUT = [
  'INFO {"server_id":"N1"}',
  "RS+ $G orders.*",
  "RS+ $G jobs workers 3",
  "LS+ hub $G leaf.> q 1",
  "RS- $G jobs workers",
  "RMSG $G orders.new 5\r\nhello",
  "RMSG $G orders.new _INBOX.1 2\r\nhi",
  "RMSG $G jobs + _INBOX.2 workers other 3\r\nabc",
  "RMSG $G jobs | workers 1\r\nz",
  "HMSG $G h.x _INBOX.3 12 14\r\nNATS/1.0\r\n\r\nok",
  "PING",
  "-ERR 'Unknown Protocol Operation'",
].join("\r\n") + "\r\n";

const ROUTE_EVENTS = [
  'INFO {"server_id":"N1"}',
  "RS+ $G orders.* null 0",
  "RS+ $G jobs workers 3",
  "RS+ $G leaf.> q 1",
  "RS- $G jobs workers",
  "MSG $G orders.new null undefined -1 hello",
  "MSG $G orders.new _INBOX.1 undefined -1 hi",
  "MSG $G jobs _INBOX.2 workers,other -1 abc",
  "MSG $G jobs null workers -1 z",
  "MSG $G h.x _INBOX.3 undefined 12 NATS/1.0\r\n\r\nok",
  "PING",
  "ERR Unknown Protocol Operation",
];

Deno.test("Parser reads the route protocol: interest, routed messages with queues and headers", () => {
  const { events, handler } = routeRecorder();
  new Parser(ROUTE_HANDLER_UNUSED, { route: handler }).feed(encoder.encode(ROUTE_INPUT));
  assert.deepEqual(events, ROUTE_EVENTS);
});

Deno.test("Parser reads the route protocol one byte at a time", () => {
  const { events, handler } = routeRecorder();
  const parser = new Parser(ROUTE_HANDLER_UNUSED, { route: handler });
  for (const byte of encoder.encode(ROUTE_INPUT)) parser.feed(Uint8Array.of(byte));
  assert.deepEqual(events, ROUTE_EVENTS);
});

Deno.test("Parser rejects malformed route operations", () => {
  for (
    const line of [
      "RS+ $G",
      "RS+ $G foo q notanumber",
      "RS- $G",
      "RMSG $G foo",
      "RMSG $G foo ? a b 3",
      "HMSG $G foo 5 3",
      "SUB foo 1",
    ]
  ) {
    const { handler } = routeRecorder();
    assert.throws(
      () =>
        new Parser(ROUTE_HANDLER_UNUSED, { route: handler }).feed(encoder.encode(`${line}\r\n`)),
      ProtocolError,
      line,
    );
  }
});

const ROUTE_HANDLER_UNUSED: ProtocolHandler = {
  connect() {},
  publish() {
    throw new Error("client operations must not reach a route");
  },
  subscribe() {},
  unsubscribe() {},
  ping() {},
  pong() {},
};
