/**
 * End to end through Chorale's broker with Choria's default permissions: a client signs a request,
 * a node authenticates, authorizes, audits and answers it with a signed reply, and refuses what it
 * must refuse.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection } from "nats";
import { jsonLogger } from "../core/log.ts";
import { ReplayGuard } from "../core/protocol/replay_guard.ts";
import { receiveReply } from "../core/protocol/receive.ts";
import { createRequest } from "../core/protocol/request.ts";
import { createSecureRequest } from "../core/protocol/secure_request.ts";
import { callerId, directedSubject, replyPrefix, replySubject } from "../core/protocol/subjects.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { AuditLog } from "../core/security/audit.ts";
import { createSigner } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import {
  admitRequest,
  encodeRpcReply,
  notAuthorizedReply,
  type RequestGateOptions,
} from "../server/request_gate.ts";
import { startChoraleBroker } from "./harness/chorale_broker.ts";
import { type CertFiles, makeTestPki } from "./harness/pki.ts";
import { within } from "./harness/wait.ts";

const COLLECTIVE = "mcollective";
const NODE = "n1.example.net";

Deno.test("A signed request is authenticated, authorized, audited and answered; bad ones are refused", async (t) => {
  await using pki = await makeTestPki();
  const node = await pki.issue("server", NODE);
  const alice = pki.client; // alice.mcollective
  await using broker = await startChoraleBroker({
    pki,
    choraleConfig: { permissions: { defaults: "choria" } },
  });
  const dir = await Deno.makeTempDir({ prefix: "chorale-aaa-" });
  const policies = join(dir, "policies");
  await Deno.mkdir(policies);
  await Deno.writeTextFile(
    join(policies, "rpcutil.policy"),
    "policy default deny\nallow\tchoria=alice.mcollective\tping\t*\t*\n",
  );
  await using audit = await AuditLog.open(join(dir, "rpcaudit.log"));
  const logLines: string[] = [];
  const gate: RequestGateOptions = {
    verifier: new CertificateVerifier({ ca: pki.caPem }),
    replayGuard: new ReplayGuard(),
    policyDir: policies,
    audit,
    facts: () => ({ os: "linux" }),
    classes: () => [],
    logger: jsonLogger({ component: "server", write: (line) => logLines.push(line) }),
  };
  const nodeSigner = createSigner(node.cert, node.key);
  const tls = (c: CertFiles) => ({ ca: pki.caPem, cert: c.cert, key: c.key });
  const server: NatsConnection = await connect({
    servers: `127.0.0.1:${broker.port}`,
    tls: tls(node),
    reconnect: false,
  });
  const handled: Promise<void>[] = [];
  server.subscribe(directedSubject(COLLECTIVE, NODE), {
    callback: (_error, msg) => {
      handled.push((async () => {
        const result = await admitRequest(msg.data, gate);
        if (result.outcome === "filtered") return;
        const verified = result.outcome === "admitted" ? result.request.verified : result.verified;
        const replyTo = verified?.transport.headers["reply-to"];
        if (!verified || !replyTo) return; // unauthenticated: no reply
        const body = result.outcome === "admitted"
          ? { statuscode: 0 as const, statusmsg: "OK", data: { pong: Date.now() } }
          : notAuthorizedReply(result.error);
        server.publish(
          replyTo,
          await encodeRpcReply(verified, body, { identity: NODE, signer: nodeSigner }),
        );
      })());
    },
  });
  await server.flush();

  const caller = callerId(alice.name);
  const client = await connect({
    servers: `127.0.0.1:${broker.port}`,
    tls: tls(alice),
    reconnect: false,
    inboxPrefix: replyPrefix(COLLECTIVE, caller),
  });
  const signer = createSigner(alice.cert, alice.key);
  const clientVerifier = new CertificateVerifier({ ca: pki.caPem });

  const makeRequest = async (action: string) => {
    const request = createRequest({
      agent: "rpcutil",
      collective: COLLECTIVE,
      callerid: caller,
      senderid: "workstation",
      message: JSON.stringify({ agent: "rpcutil", action, data: {} }),
    });
    const id = request.envelope.requestid;
    const replyTo = replySubject(COLLECTIVE, caller, id);
    const secure = await createSecureRequest(request, signer);
    return { id, replyTo, secure };
  };
  const send = async (wire: string, replyTo: string, expectReply: boolean): Promise<Msg | null> => {
    const sub = client.subscribe(replyTo, { max: 1 });
    await client.flush();
    const got = (async () => {
      for await (const m of sub) return m;
      return null;
    })();
    client.publish(directedSubject(COLLECTIVE, NODE), wire);
    if (!expectReply) {
      const none = await Promise.race([
        got,
        new Promise<null>((r) => setTimeout(() => r(null), 750)),
      ]);
      sub.unsubscribe();
      return none;
    }
    return await within(got, `a reply on ${replyTo}`);
  };
  const answer = async (wire: string, replyTo: string): Promise<Msg> => {
    const msg = await send(wire, replyTo, true);
    assert.ok(msg, `a reply on ${replyTo}`);
    return msg;
  };
  const auditLines = async () =>
    (await Deno.readTextFile(join(dir, "rpcaudit.log"))).trim().split("\n").filter(Boolean)
      .map((l) => JSON.parse(l));

  try {
    await t.step(
      "an allowed request is answered with a signed reply and audited once",
      async () => {
        const { id, replyTo, secure } = await makeRequest("ping");
        const msg = await answer(
          encodeTransport(createTransport(secure, { replyTo, sender: "workstation" })),
          replyTo,
        );
        const reply = receiveReply(msg.data, { verifier: clientVerifier, requireSignature: true });
        assert.equal(reply.signer?.certname, NODE);
        assert.equal(reply.reply.envelope.requestid, id);
        assert.equal(JSON.parse(reply.body).statuscode, 0);
        const lines = await auditLines();
        assert.equal(lines.length, 1);
        assert.equal(lines[0].request_id, id);
        assert.equal(lines[0].caller, caller);
        assert.equal(lines[0].agent, "rpcutil");
        assert.equal(lines[0].action, "ping");
      },
    );

    await t.step("an action the policy denies gets status 1 and no audit line", async () => {
      const { replyTo, secure } = await makeRequest("inventory");
      const msg = await answer(encodeTransport(createTransport(secure, { replyTo })), replyTo);
      const body = JSON.parse(receiveReply(msg.data, { verifier: clientVerifier }).body);
      assert.equal(body.statuscode, 1);
      assert.match(body.statusmsg, /not authorized/);
      assert.equal((await auditLines()).length, 1);
    });

    await t.step(
      "a forged signature gets no reply and is logged as an authentication refusal",
      async () => {
        const { replyTo, secure } = await makeRequest("ping");
        const forged = { ...secure, signature: btoa("not the signature") };
        const none = await send(
          encodeTransport(createTransport(forged, { replyTo })),
          replyTo,
          false,
        );
        assert.equal(none, null);
        await Promise.all(handled);
        assert.ok(
          logLines.some((l) => l.includes('"stage":"authentication"') && l.includes("signature")),
        );
      },
    );

    await t.step("a tampered body gets no reply", async () => {
      const { replyTo, secure } = await makeRequest("ping");
      const tampered = { ...secure, message: secure.message.replace(/ping/, "inventory") };
      assert.notEqual(tampered.message, secure.message);
      const none = await send(
        encodeTransport(createTransport(tampered, { replyTo })),
        replyTo,
        false,
      );
      assert.equal(none, null);
    });

    await t.step("a replay of an answered request gets no reply", async () => {
      const { replyTo, secure } = await makeRequest("ping");
      const wire = encodeTransport(createTransport(secure, { replyTo }));
      await send(wire, replyTo, true);
      const none = await send(wire, replyTo, false);
      assert.equal(none, null);
      await Promise.all(handled);
      assert.ok(logLines.some((l) => l.includes("already received")));
      assert.equal((await auditLines()).length, 2, "the replay is not audited");
    });

    await t.step("malformed envelopes are refused without a crash", async () => {
      const before = handled.length;
      for (
        const junk of [
          "",
          "{",
          '{"protocol":"choria:transport:1","data":"***","headers":{}}',
          "null",
        ]
      ) {
        client.publish(directedSubject(COLLECTIVE, NODE), junk);
      }
      await client.flush();
      await within(
        (async () => {
          while (handled.length < before + 4) await new Promise((r) => setTimeout(r, 20));
          await Promise.all(handled);
        })(),
        "the node to handle the malformed envelopes",
      );
      const { replyTo, secure } = await makeRequest("ping");
      await send(encodeTransport(createTransport(secure, { replyTo })), replyTo, true);
    });
  } finally {
    await client.close();
    await server.close();
    await Promise.allSettled(handled);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
