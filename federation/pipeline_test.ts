import assert from "node:assert/strict";
import { decodeTransport, encodeTransport } from "../core/protocol/transport.ts";
import { readHops } from "./hops.ts";
import {
  FederationRefusal,
  isReplySubject,
  MAX_TARGETS,
  memberOfSubject,
  type RefusalReason,
  transformReply,
  transformRequest,
} from "./pipeline.ts";

const REQ = "bbb95c73eadb41c39f82a7eedffecee1";
const east = { name: "east", collectives: ["mcollective"] };
const hop = { identity: "fed1", from: "f:4222", to: "e:4222", arrivedMs: 1000, now: () => 1000.25 };

function request(headers: Record<string, unknown>): string {
  return JSON.stringify({ protocol: "choria:transport:1", data: "e30=", headers });
}

const good = {
  "reply-to": "mcollective.reply.0f1e.abc",
  mc_sender: "alice.mcollective",
  "seen-by": [["", "alice.mcollective", "f:4222", "1970-01-01T00:00:00.999000Z", ""]],
  federation: { req: REQ, target: ["mcollective.node.n1", "mcollective.node.n2"] },
};

function refused(fn: () => unknown, reason: RefusalReason, message: RegExp): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof FederationRefusal, String(error));
    assert.equal(error.reason, reason);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("transformRequest moves the reply-to into the federation headers and records a hop", () => {
  const out = transformRequest(request(good), east, hop);
  assert.equal(out.requestId, REQ);
  assert.deepEqual(out.targets, ["mcollective.node.n1", "mcollective.node.n2"]);
  const t = decodeTransport(out.payload);
  assert.equal(t.data, "e30=");
  assert.equal(t.headers["reply-to"], "choria.federation.east.collective");
  assert.deepEqual(t.headers.federation, { req: REQ, "reply-to": "mcollective.reply.0f1e.abc" });
  assert.equal(t.headers.mc_sender, "alice.mcollective");
  const hops = readHops(t.headers["seen-by"]);
  assert.equal(hops.length, 2);
  assert.deepEqual(
    { ...hops[1]!, arrivedMs: Math.round(hops[1]!.arrivedMs!), leftMs: hops[1]!.leftMs! - 1000 },
    { from: "f:4222", via: "fed1 (request)", to: "e:4222", arrivedMs: 1000, leftMs: 0.25 },
  );
});

Deno.test("transformRequest accepts one broadcast target, host-name identities, and drops duplicates", () => {
  const broadcast = transformRequest(
    request({ ...good, federation: { req: REQ, target: ["mcollective.broadcast.agent.rpcutil"] } }),
    east,
    hop,
  );
  assert.deepEqual(broadcast.targets, ["mcollective.broadcast.agent.rpcutil"]);
  const twice = transformRequest(
    request({
      ...good,
      federation: { req: REQ, target: ["mcollective.node.n1", "mcollective.node.n1"] },
    }),
    east,
    hop,
  );
  assert.deepEqual(twice.targets, ["mcollective.node.n1"]);
  const dotted = transformRequest(
    request({ ...good, federation: { req: REQ, target: ["mcollective.node.n1.example.net"] } }),
    east,
    hop,
  );
  assert.deepEqual(dotted.targets, ["mcollective.node.n1.example.net"]);
});

Deno.test("transformRequest refuses bad input with a reason and a clear message", () => {
  refused(
    () => transformRequest("not json", east, hop),
    "malformed",
    /not a valid protocol v1 transport/,
  );
  refused(
    () => transformRequest(request({ ...good, federation: { req: "short" } }), east, hop),
    "malformed",
    /'headers\.federation\.req' must be exactly 32 characters/,
  );
  refused(
    () => transformRequest(request({ "reply-to": good["reply-to"] }), east, hop),
    "missing_headers",
    /Cannot forward a request for member 'east' as its transport has no federation headers/,
  );
  refused(
    () => transformRequest(request({ ...good, federation: { req: REQ } }), east, hop),
    "no_targets",
    /'headers\.federation\.target' is empty/,
  );
  const many = Array.from({ length: MAX_TARGETS + 1 }, (_, i) => `mcollective.node.n${i}`);
  refused(
    () => transformRequest(request({ ...good, federation: { req: REQ, target: many } }), east, hop),
    "too_many_targets",
    /lists 201 subjects: at most 200/,
  );
  refused(
    () =>
      transformRequest(
        request({ ...good, federation: { req: REQ, target: ["mcollective.reply.x.y"] } }),
        east,
        hop,
      ),
    "bad_target",
    /target 'mcollective\.reply\.x\.y' is not a request subject/,
  );
  refused(
    () =>
      transformRequest(
        request({ ...good, federation: { req: REQ, target: ["ops.node.n1"] } }),
        east,
        hop,
      ),
    "unknown_collective",
    /names collective 'ops', which member 'east' does not serve: it serves 'mcollective'/,
  );
  refused(
    () => transformRequest(request({ ...good, "reply-to": undefined }), east, hop),
    "no_reply_to",
    /has no 'headers\.reply-to'/,
  );
  refused(
    () => transformRequest(request({ ...good, "reply-to": "mcollective.node.n9" }), east, hop),
    "bad_reply_to",
    /reply-to must be a reply subject .*current value is 'mcollective\.node\.n9'/,
  );
});

Deno.test("transformReply sends a reply to the original reply-to without federation headers", () => {
  const forwarded = decodeTransport(transformRequest(request(good), east, hop).payload);
  // What a node sends back: federation headers and hops carried over, its own hop appended.
  const reply = encodeTransport({
    ...forwarded,
    headers: {
      mc_sender: "n1",
      federation: forwarded.headers.federation!,
      "seen-by": [...forwarded.headers["seen-by"]!],
    },
  });
  const out = transformReply(reply, east, {
    identity: "fed1",
    from: "e:4222",
    to: "f:4222",
    arrivedMs: 1003.25,
    now: () => 1003.5,
  });
  assert.equal(out.target, "mcollective.reply.0f1e.abc");
  assert.equal(out.requestId, REQ);
  assert.ok(Math.abs(out.collectiveLatencyMs! - 3) < 0.01, String(out.collectiveLatencyMs));
  const t = decodeTransport(out.payload);
  assert.equal(t.headers.federation, undefined);
  assert.equal(t.headers["reply-to"], undefined);
  assert.deepEqual(readHops(t.headers["seen-by"]).map((h) => h.via), [
    "alice.mcollective",
    "fed1 (request)",
    "fed1 (reply)",
  ]);
});

Deno.test("transformReply refuses replies it cannot route", () => {
  const reply = (headers: Record<string, unknown>) => request(headers);
  refused(() => transformReply("{", east, hop), "malformed", /not a valid protocol v1 transport/);
  refused(
    () => transformReply(reply({ mc_sender: "n1" }), east, hop),
    "missing_headers",
    /from 'n1' as its transport has no federation headers/,
  );
  refused(
    () => transformReply(reply({ federation: { req: REQ } }), east, hop),
    "no_reply_to",
    /has no 'headers\.federation\.reply-to'/,
  );
  refused(
    () =>
      transformReply(
        reply({ federation: { req: REQ, "reply-to": "mcollective.node.n2" } }),
        east,
        hop,
      ),
    "bad_reply_to",
    /current value is 'mcollective\.node\.n2'/,
  );
});

Deno.test("memberOfSubject and isReplySubject read subjects", () => {
  assert.equal(memberOfSubject("choria.federation.east.federation"), "east");
  assert.equal(memberOfSubject("choria.federation.east.collective"), null);
  assert.ok(isReplySubject("mcollective.reply.abc.def"));
  assert.ok(!isReplySubject("mcollective.reply.>"));
  assert.ok(!isReplySubject("mcollective.reply"));
});
