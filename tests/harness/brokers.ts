/**
 * The brokers the conformance suite runs against; null marks one that is not available here.
 *
 * @module
 */
import { startChoraleBroker } from "./chorale_broker.ts";
import { natsServerPath, startNatsServer } from "./nats_server.ts";
import type { BrokerFactory, BrokerKind } from "./types.ts";

/** A factory per broker kind, or null when that broker cannot run on this machine. */
export const brokerFactories: Record<BrokerKind, BrokerFactory | null> = {
  chorale: startChoraleBroker,
  "nats-server": natsServerPath() ? startNatsServer : null,
};
