/**
 * The client library's public types: what a caller gives to connect, discover and call agents,
 * and what comes back. `client/client.ts` implements them; the CLI and typed agent clients build
 * on them.
 *
 * @module
 */
import type { AgentDdl } from "../agents/agent.ts";
import type { RequestFilter } from "../core/protocol/request.ts";
import type { Logger } from "../core/log.ts";

/** A client identity's certificate, key and CA, PEM; from a security provider. */
export interface ClientIdentity {
  certname: string;
  cert: string;
  key: string;
  ca: string;
}

/** How to connect. */
export interface ClientOptions {
  /** Broker addresses, `tls://host:port` or `host:port`. */
  brokers: string[];
  identity: ClientIdentity;
  /** The collective requests go to unless a call names another. @default "mcollective" */
  collective?: string;
  /** Connection timeout in milliseconds. @default 5000 */
  connectTimeoutMs?: number;
  /** @default silentLogger */
  logger?: Logger;
}

/** How to find nodes. */
export interface DiscoverOptions {
  /** Which nodes: facts, classes, agents, identities, compound. @default every node */
  filter?: Partial<RequestFilter>;
  /** @default the client's collective */
  collective?: string;
  /**
   * `broadcast` asks the fleet (discovery ping); `flatfile` reads `nodes` (text, JSON or YAML
   * list, or `-` for stdin); `inventory` reads an inventory file. @default "broadcast"
   */
  method?: "broadcast" | "flatfile" | "inventory";
  /** The file for flatfile and inventory discovery. */
  source?: string;
  /** Hard limit for broadcast discovery, milliseconds. @default 2000 */
  timeoutMs?: number;
  /** Broadcast discovery ends this long after the last reply, milliseconds. @default 300 */
  windowMs?: number;
}

/** What discovery found. */
export interface DiscoveryResult {
  /** Node identities, sorted. */
  nodes: string[];
  /** How long discovery took, milliseconds. */
  elapsedMs: number;
}

/** One agent action to run. */
export interface RpcOptions {
  agent: string;
  action: string;
  /** Inputs, checked against the DDL before sending when `ddl` is given. @default {} */
  data?: Record<string, unknown>;
  /** Which nodes, when `nodes` is not given: discovered with this filter first. */
  filter?: Partial<RequestFilter>;
  /** Exactly these nodes (directed requests); skips discovery. */
  nodes?: string[];
  /** Discovery settings when discovering. */
  discovery?: Omit<DiscoverOptions, "filter" | "collective">;
  /** @default the client's collective */
  collective?: string;
  /** `broadcast` sends one message to the agent's subject; `direct` one per node. @default "direct" when nodes are known */
  mode?: "broadcast" | "direct";
  /** Nodes per batch; 0 for all at once. @default 0 */
  batchSize?: number;
  /** Pause between batches, milliseconds. @default 1000 */
  batchSleepMs?: number;
  /** Only this many nodes, or this share of them ("10%"), chosen with `limitSeed`. */
  limit?: number | `${number}%`;
  /** Seed for choosing limited nodes; the same seed picks the same nodes. @default random */
  limitSeed?: number;
  /** How long to wait for replies after publishing, ms. @default the DDL's timeout + discovery timeout, else 20000 */
  timeoutMs?: number;
  /** The agent's DDL: validates inputs before sending and gives the timeout. */
  ddl?: AgentDdl;
  /** Require every reply to carry a valid server signature. @default false */
  requireSignedReplies?: boolean;
}

/** One node's reply. */
export interface RpcResult {
  sender: string;
  statuscode: number;
  statusmsg: string;
  data: Record<string, unknown>;
  /** Whether the reply carried a server signature that verified. */
  signed: boolean;
  /** Milliseconds from publishing to this reply. */
  elapsedMs: number;
}

/** The closing figures of a call. */
export interface RpcStats {
  /** Nodes the call was meant for (discovered or given). */
  discovered: string[];
  /** Nodes that replied, of those. */
  responded: string[];
  /** Replies with status 0, and the others. */
  ok: number;
  failed: number;
  /** Discovered nodes that did not reply. */
  noResponses: string[];
  /** Nodes that replied but were not discovered. */
  unexpected: string[];
  discoveryMs: number;
  publishMs: number;
  /** From the first publish to the last reply or the timeout. */
  repliesMs: number;
  totalMs: number;
}

/** Every reply of a call and its figures. */
export interface RpcResultSet {
  results: RpcResult[];
  stats: RpcStats;
}

/** A call in progress: iterate replies as they come, or await them all. */
export interface RpcCall extends AsyncIterable<RpcResult> {
  /** Every reply and the stats, once the call ends. */
  done(): Promise<RpcResultSet>;
}
