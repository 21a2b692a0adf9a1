import assert from "node:assert/strict";
import { silentLogger } from "../core/log.ts";
import { ReplayGuard } from "../core/protocol/replay_guard.ts";
import { createRequest } from "../core/protocol/request.ts";
import { createSecureRequest } from "../core/protocol/secure_request.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { AuditLog } from "../core/security/audit.ts";
import { CertificateAuthority } from "../core/security/ca.ts";
import { createSigner } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import { admitRequest, type RequestGateOptions } from "./request_gate.ts";

const ca = await CertificateAuthority.create();
const issued = await ca.issue("client", "alice.mcollective");
const signer = createSigner(issued.cert, issued.key);

async function wire(body: string, agent = "rpcutil"): Promise<string> {
  const request = createRequest({
    agent,
    collective: "mcollective",
    callerid: "choria=alice.mcollective",
    senderid: "ws1",
    message: body,
  });
  return encodeTransport(
    createTransport(await createSecureRequest(request, signer), { replyTo: "r" }),
  );
}

function gate(overrides: Partial<RequestGateOptions> = {}): RequestGateOptions {
  return {
    verifier: new CertificateVerifier({ ca: ca.certPem }),
    replayGuard: new ReplayGuard(),
    policyDir: null,
    audit: null,
    facts: () => ({}),
    classes: () => [],
    logger: silentLogger,
    ...overrides,
  };
}

Deno.test("admitRequest admits a signed request when authorization is off", async () => {
  const result = await admitRequest(
    await wire(JSON.stringify({ agent: "rpcutil", action: "ping", data: { a: 1 } })),
    gate(),
  );
  assert.ok(result.outcome === "admitted");
  assert.deepEqual(result.request.rpc, { agent: "rpcutil", action: "ping", data: { a: 1 } });
});

Deno.test("admitRequest refuses RPC bodies it cannot use, naming why", async () => {
  const cases: [string, RegExp][] = [
    ["[1,2]", /not a JSON object/],
    [JSON.stringify({ agent: "rpcutil" }), /lacks a string 'agent' and 'action'/],
    [JSON.stringify({ agent: "rpcutil", action: "ping", data: [1] }), /'data' is not an object/],
    [JSON.stringify({ agent: "package", action: "install" }), /body is for agent 'package'/],
  ];
  for (const [body, why] of cases) {
    const result = await admitRequest(await wire(body), gate());
    assert.ok(result.outcome === "refused", body);
    assert.equal(result.error.stage, "request");
    assert.match(result.error.message, why);
    assert.ok(result.verified, "an authentic request can still be answered");
  }
});

Deno.test("admitRequest refuses an agent without a policy unless unconfigured agents are allowed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const body = JSON.stringify({ agent: "rpcutil", action: "ping" });
    const denied = await admitRequest(await wire(body), gate({ policyDir: dir }));
    assert.ok(denied.outcome === "refused");
    assert.equal(denied.error.stage, "authorization");
    const allowed = await admitRequest(
      await wire(body),
      gate({ policyDir: dir, allowUnconfigured: true }),
    );
    assert.ok(allowed.outcome === "admitted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admitRequest does not run a request it cannot audit", async () => {
  const dir = await Deno.makeTempDir();
  const audit = await AuditLog.open(`${dir}/audit.log`);
  await audit.close();
  try {
    const result = await admitRequest(
      await wire(JSON.stringify({ agent: "rpcutil", action: "ping" })),
      gate({ audit }),
    );
    assert.ok(result.outcome === "refused");
    assert.match(result.error.message, /could not be audited/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admitRequest refuses garbage as an authentication failure", async () => {
  for (
    const junk of ["", "{", "null", '{"protocol":"choria:transport:1","data":"%%","headers":{}}']
  ) {
    const result = await admitRequest(junk, gate());
    assert.ok(result.outcome === "refused");
    assert.equal(result.error.stage, "authentication");
    assert.equal(result.verified, undefined);
  }
});

Deno.test("admitRequest drops a request whose filter does not select the node, before authorizing", async () => {
  let audited = 0;
  const audit = { record: () => Promise.resolve(void audited++) } as unknown as AuditLog;
  const result = await admitRequest(
    await wire(JSON.stringify({ agent: "rpcutil", action: "ping" })),
    gate({ selects: () => false, audit }),
  );
  assert.equal(result.outcome, "filtered");
  assert.equal(audited, 0);
});
