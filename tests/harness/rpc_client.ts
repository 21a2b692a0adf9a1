/**
 * A minimal signed-request client for server tests: signs a v1 request as a client identity,
 * publishes it broadcast or directed, and gathers the verified replies.
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import { receiveReply } from "../../core/protocol/receive.ts";
import { createRequest, type RequestFilter } from "../../core/protocol/request.ts";
import { createSecureRequest } from "../../core/protocol/secure_request.ts";
import {
  broadcastSubject,
  callerId,
  directedSubject,
  replyPrefix,
  replySubject,
} from "../../core/protocol/subjects.ts";
import { createTransport, encodeTransport } from "../../core/protocol/transport.ts";
import { createSigner, type Signer } from "../../core/security/signing.ts";
import { CertificateVerifier } from "../../core/security/verify.ts";
import type { CertFiles, TestPki } from "./pki.ts";

/** One verified reply. */
export interface TestReply {
  sender: string;
  statuscode: number;
  statusmsg: string;
  data: Record<string, unknown>;
  /** Whether the server signed it and the signature verified. */
  signed: boolean;
}

/** What to ask. */
export interface TestRequest {
  agent: string;
  action: string;
  data?: Record<string, unknown>;
  filter?: Partial<RequestFilter>;
  /** A node to ask directly; broadcast when absent. */
  node?: string;
  /** Stop after this many replies. */
  expect: number;
  /** Wait at most this long. @default 5000 */
  timeoutMs?: number;
  collective?: string;
}

/** A connected test client; disposal closes it. */
export class TestRpcClient implements AsyncDisposable {
  readonly nc: NatsConnection;
  readonly #signer: Signer;
  readonly #verifier: CertificateVerifier;
  readonly #caller: string;

  private constructor(nc: NatsConnection, signer: Signer, verifier: CertificateVerifier) {
    this.nc = nc;
    this.#signer = signer;
    this.#verifier = verifier;
    this.#caller = callerId(signer.certname);
  }

  /** Connects as `cert` (default: the PKI's client). */
  static async connect(
    pki: TestPki,
    port: number,
    cert: CertFiles = pki.client,
  ): Promise<TestRpcClient> {
    const nc = await connect({
      servers: `127.0.0.1:${port}`,
      tls: { ca: pki.caPem, cert: cert.cert, key: cert.key },
      reconnect: false,
      inboxPrefix: replyPrefix("mcollective", callerId(cert.name)),
    });
    return new TestRpcClient(
      nc,
      createSigner(cert.cert, cert.key),
      new CertificateVerifier({ ca: pki.caPem }),
    );
  }

  /** Sends a request and gathers replies until `expect` arrive or the time runs out. */
  async request(req: TestRequest): Promise<TestReply[]> {
    const collective = req.collective ?? "mcollective";
    const request = createRequest({
      agent: req.agent,
      collective,
      callerid: this.#caller,
      senderid: "test-client",
      message: JSON.stringify({ agent: req.agent, action: req.action, data: req.data ?? {} }),
      ...(req.filter ? { filter: req.filter } : {}),
    });
    const replyTo = replySubject(collective, this.#caller, request.envelope.requestid);
    const sub = this.nc.subscribe(replyTo);
    const replies: TestReply[] = [];
    const timer = setTimeout(() => sub.unsubscribe(), req.timeoutMs ?? 5_000);
    const gathered = (async () => {
      for await (const msg of sub) {
        const reply = receiveReply(msg.data, { verifier: this.#verifier });
        const body = JSON.parse(reply.body);
        replies.push({
          sender: reply.reply.envelope.senderid,
          statuscode: body.statuscode,
          statusmsg: body.statusmsg,
          data: body.data ?? {},
          signed: reply.signer !== undefined,
        });
        if (replies.length >= req.expect) break;
      }
    })();
    await this.nc.flush();
    const secure = await createSecureRequest(request, this.#signer);
    const subject = req.node
      ? directedSubject(collective, req.node)
      : broadcastSubject(collective, req.agent);
    this.nc.publish(
      subject,
      encodeTransport(createTransport(secure, { replyTo, sender: "test-client" })),
    );
    await gathered;
    clearTimeout(timer);
    sub.unsubscribe();
    return replies.sort((a, b) => a.sender.localeCompare(b.sender));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}
