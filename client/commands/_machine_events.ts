/**
 * The live event feed `chorale machine watch` and `chorale scout watch` read: a connection to the
 * broker with the client's certificate, subscribed to every transition and watcher state event
 * (`choria.machine.transition`, `choria.machine.watcher.*.state`). Injected, so the commands
 * can be tested with a fake feed.
 *
 * Choria's default broker permissions let clients read only their replies: the identity needs
 * subscribe rights on `choria.machine.>` (the refusal is reported with a hint saying so). The
 * other feed, {@linkcode storedMachineEvents}, reads the stream store's `CHORIA_MACHINE` instead:
 * history from a time, then new events as they are stored, with no subscription at all.
 *
 * @module
 */
import { connect, type NatsConnection } from "nats";
import { machineTransitionSubject, machineWatcherSubject } from "../../core/protocol/subjects.ts";
import { decodeMachineEvent } from "../../machines/events.ts";
import { tailEvents } from "../../streams/events.ts";
import { type CliContext, CliError, warn } from "../cli.ts";
import { loadClientOptions } from "../config.ts";
import { ExitCodes, toCliError } from "../exit_codes.ts";
import type { ConnectFlags } from "./_fleet.ts";
import { connectStore, storeCliError } from "./_store.ts";

/** One machine event: its subject and its data (the Choria event object). */
export interface MachineEventMessage {
  subject: string;
  data: Record<string, unknown>;
}

/** A feed of machine events. */
export interface MachineEventFeed extends AsyncDisposable {
  /** Calls `onEvent` for each event until `signal` aborts; rejects if the broker refuses. */
  run(onEvent: (event: MachineEventMessage) => void, signal: AbortSignal): Promise<void>;
}

/** Opens a feed for a command. */
export type MachineEventConnector = (
  ctx: CliContext,
  flags: ConnectFlags,
) => Promise<MachineEventFeed>;

/** The real connector: the client configuration's brokers and certificate. */
export const connectMachineEvents: MachineEventConnector = async (ctx, flags) => {
  let nc: NatsConnection;
  let certname: string;
  try {
    const { client, warnings } = await loadClientOptions({
      env: (name) => ctx.env(name),
      cwd: ctx.cwd(),
      uid: ctx.uid(),
      now: ctx.now(),
      ...(flags.config !== undefined ? { file: flags.config } : {}),
    });
    for (const w of warnings) warn(ctx, w);
    certname = client.identity.certname;
    nc = await connect({
      servers: client.brokers.map((b) => b.replace(/^tls:\/\//, "")),
      name: certname,
      tls: { ca: client.identity.ca, cert: client.identity.cert, key: client.identity.key },
      reconnect: true,
      maxReconnectAttempts: -1,
    });
  } catch (error) {
    throw toCliError(error);
  }
  return {
    run: (onEvent, signal) =>
      new Promise<void>((resolve, reject) => {
        const subscriptions = [machineTransitionSubject(), machineWatcherSubject("*")].map((
          subject,
        ) =>
          nc.subscribe(subject, {
            callback: (error, msg) => {
              if (error) {
                finish(
                  new CliError(
                    `Cannot watch machine events as the broker refused: ${error.message}`,
                    ExitCodes.error,
                    {
                      hint:
                        `allow '${certname}' to subscribe to choria.machine.> in the broker's permissions`,
                    },
                  ),
                );
                return;
              }
              const data = decodeMachineEvent(msg.data);
              if (data) onEvent({ subject: msg.subject, data });
            },
          })
        );
        const finish = (error?: Error) => {
          signal.removeEventListener("abort", stop);
          for (const sub of subscriptions) sub.unsubscribe();
          if (error) reject(error);
          else resolve();
        };
        const stop = () => finish();
        if (signal.aborted) return stop();
        signal.addEventListener("abort", stop, { once: true });
        nc.flush().catch((error) => finish(toCliError(error) as Error));
      }),
    [Symbol.asyncDispose]: async () => {
      if (!nc.isClosed()) await nc.close();
    },
  };
};

/**
 * A feed from the stream store: the machine events stored since `sinceMs` (ms since the epoch),
 * then new ones as they are stored.
 */
export function storedMachineEvents(sinceMs: number): MachineEventConnector {
  return async (ctx, flags) => {
    const session = await connectStore(ctx, flags);
    return {
      run: async (onEvent, signal) => {
        try {
          for await (
            const tailed of tailEvents(session.store, {
              sinceMs,
              stream: "machine",
              follow: true,
              signal,
              // Short waits, so a count or Ctrl-C ends the command quickly.
              pollMs: 1_000,
            })
          ) {
            if (signal.aborted) return;
            const data = decodeMachineEvent(JSON.stringify(tailed.data));
            if (data) onEvent({ subject: tailed.message.subject, data });
          }
        } catch (error) {
          if (!signal.aborted) throw storeCliError(error);
        }
      },
      [Symbol.asyncDispose]: () => session[Symbol.asyncDispose](),
    };
  };
}

/**
 * A signal that aborts on SIGINT, after `ms` milliseconds (when given), or when `count` events were
 * seen (counted by calling the returned `seen`).
 */
export function watchLimits(options: { ms?: number; count?: number }): {
  signal: AbortSignal;
  seen(): void;
  [Symbol.dispose](): void;
} {
  const controller = new AbortController();
  const timer = options.ms !== undefined
    ? setTimeout(() => controller.abort(), options.ms)
    : undefined;
  const onSignal = () => controller.abort();
  let listening = false;
  try {
    Deno.addSignalListener("SIGINT", onSignal);
    listening = true;
  } catch {
    // Not every platform lets us listen; Ctrl-C then ends the process as usual.
  }
  let count = 0;
  return {
    signal: controller.signal,
    seen: () => {
      count++;
      if (options.count !== undefined && count >= options.count) controller.abort();
    },
    [Symbol.dispose]: () => {
      clearTimeout(timer);
      if (listening) Deno.removeSignalListener("SIGINT", onSignal);
    },
  };
}
