/**
 * What every test broker, Chorale's or nats-server, looks like to a test.
 *
 * @module
 */
import type { TestPki } from "./pki.ts";

/** Allow and deny lists of subjects (wildcards allowed), in nats-server's meaning. */
export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

/** Publish and subscribe permissions of one identity. */
export interface PermissionSpec {
  publish?: SubjectPermission;
  subscribe?: SubjectPermission;
}

/** How to start a test broker. Every broker requires mutual TLS against `pki`'s CA. */
export interface BrokerOptions {
  pki: TestPki;
  /**
   * Permissions by certificate common name. Identities not listed may do anything.
   * @default {}
   */
  permissions?: Record<string, PermissionSpec>;
  /** Largest payload a client may publish, in bytes. @default 1048576 */
  maxPayload?: number;
  /** Largest control line, in bytes. @default 4096 */
  maxControlLine?: number;
  /** Seconds between server PINGs. @default 120 */
  pingIntervalSeconds?: number;
  /** Unanswered PINGs before a connection is stale. @default 2 */
  maxPingsOut?: number;
  /** Seconds a client has to send CONNECT after the TLS handshake. @default 2 */
  authTimeoutSeconds?: number;
  /** Largest number of client connections. @default 65536 */
  maxConnections?: number;
  /**
   * Join a cluster: listen for routes on `port` of 127.0.0.1 (mutual TLS with the broker's
   * certificate) and dial `routes` (`nats-route://127.0.0.1:<port>`). @default none
   */
  cluster?: { port: number; routes: string[]; name?: string };
  /** Extra settings for Chorale's broker only (merged over the generated file); others ignore it. */
  choraleConfig?: Record<string, unknown>;
}

/** A broker running in a child process; disposal stops it and waits for it to exit. */
export interface RunningBroker extends AsyncDisposable {
  /** Which broker this is. */
  kind: BrokerKind;
  /** The loopback port clients connect to. */
  port: number;
  /** `tls://127.0.0.1:<port>` */
  url: string;
  /** The child's process id, to read its memory from /proc. */
  pid: number;
  /** Stops the broker (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

/** The brokers the conformance suite runs against. */
export type BrokerKind = "chorale" | "nats-server";

/** Starts a broker of one kind. */
export type BrokerFactory = (options: BrokerOptions) => Promise<RunningBroker>;
