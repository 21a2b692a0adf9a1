/**
 * The seed of the client library, kept for the server suite and the demo: signs a v1 request as
 * a client identity, publishes it broadcast or directed, and gathers replies until `expect` of
 * them arrived, checking each reply's hash and, when the server signed it, its signature.
 *
 * New code should use `Client` (`client/client.ts`): discovery, limits, batches, stats,
 * typed errors and typed agent clients. This stays because its broadcast-until-N-replies request
 * has no discovery step, which those tests rely on.
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import { receiveReply } from "../core/protocol/receive.ts";
import { createRequest, type RequestFilter } from "../core/protocol/request.ts";
import { createSecureRequest } from "../core/protocol/secure_request.ts";
import {
  broadcastSubject,
  callerId,
  directedSubject,
  replyPrefix,
  replySubject,
} from "../core/protocol/subjects.ts";
import { createTransport, encodeTransport } from "../core/protocol/transport.ts";
import { createSigner, type Signer } from "../core/security/signing.ts";
import { CertificateVerifier } from "../core/security/verify.ts";
import type { ClientIdentity } from "./types.ts";

/** One verified reply. */
export interface RpcReplyResult {
  sender: string;
  statuscode: number;
  statusmsg: string;
  data: Record<string, unknown>;
  /** Whether the server signed it and the signature verified. */
  signed: boolean;
}

/** What to ask. */
export interface RpcRequestOptions {
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

export type { ClientIdentity };

/** A connected client; disposal closes it. */
export class RpcClient implements AsyncDisposable {
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

  /** Connects to `servers` (host:port) as `identity`. */
  static async connect(servers: string[], identity: ClientIdentity): Promise<RpcClient> {
    const nc = await connect({
      servers,
      tls: { ca: identity.ca, cert: identity.cert, key: identity.key },
      reconnect: false,
      name: identity.certname,
      inboxPrefix: replyPrefix("mcollective", callerId(identity.certname)),
    });
    return new RpcClient(
      nc,
      createSigner(identity.cert, identity.key),
      new CertificateVerifier({ ca: identity.ca }),
    );
  }

  /** Sends a request and gathers replies until `expect` arrive or the time runs out. */
  async request(req: RpcRequestOptions): Promise<RpcReplyResult[]> {
    const collective = req.collective ?? "mcollective";
    const request = createRequest({
      agent: req.agent,
      collective,
      callerid: this.#caller,
      senderid: this.#signer.certname,
      message: JSON.stringify({ agent: req.agent, action: req.action, data: req.data ?? {} }),
      ...(req.filter ? { filter: req.filter } : {}),
    });
    const replyTo = replySubject(collective, this.#caller, request.envelope.requestid);
    const sub = this.nc.subscribe(replyTo);
    const replies: RpcReplyResult[] = [];
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
      encodeTransport(createTransport(secure, { replyTo, sender: this.#signer.certname })),
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
