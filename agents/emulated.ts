/**
 * The `emulated` agent that `chorale emulate` servers host: `generate` answers with a message of
 * a chosen size after a chosen delay, so a fleet benchmark can weigh reply size and action time
 * against the request path. The defaults come from the emulator (`--reply-size`, `--delay`); a
 * request may ask for another size or delay with the `size` and `delay` inputs. Its DDL is
 * `agents/ddl/emulated.json`.
 *
 * @module
 */
import ddl from "./ddl/emulated.json" with { type: "json" };
import { ActionError, type Agent, StatusCodes } from "./agent.ts";
import { defineAgent } from "./sdk.ts";

/** Largest reply message a request may ask for: 1 MiB, the broker's default payload limit. */
export const MAX_EMULATED_REPLY_BYTES = 1_048_576;

/** Options for {@linkcode emulatedAgent}. */
export interface EmulatedAgentOptions {
  /** Bytes in the reply's message when the request does not say. @default 0 */
  replySize?: number;
  /** Milliseconds to wait before replying when the request does not say. @default 0 */
  delayMs?: number;
}

/**
 * Makes the `emulated` agent. One agent serves every emulated server in a process: the identity
 * in its reply comes from the node the request reached, and messages of one size are built once.
 *
 * @example Ask for a 16-byte reply
 * ```ts
 * import { emulatedAgent } from "./emulated.ts";
 * import type { ActionContext } from "./agent.ts";
 * const agent = emulatedAgent({ replySize: 16 });
 * const context = { node: { identity: "emulated-0" }, signal: new AbortController().signal };
 * const reply = await agent.actions.generate!({}, context as ActionContext);
 * console.log(reply); // { message: "xxxxxxxxxxxxxxxx", size: 16, identity: "emulated-0" }
 * ```
 */
export function emulatedAgent(options: EmulatedAgentOptions = {}): Agent {
  const replySize = options.replySize ?? 0;
  const delayMs = options.delayMs ?? 0;
  // Thousands of servers reply with the same message: build each size once.
  const messages = new Map<number, string>();
  const messageOf = (size: number): string => {
    let message = messages.get(size);
    if (message === undefined) {
      message = "x".repeat(size);
      if (messages.size < 16) messages.set(size, message);
    }
    return message;
  };
  return defineAgent(ddl, {
    generate: async (inputs, { node, signal }) => {
      const size = inputs.size === undefined ? replySize : inputs.size as number;
      const delay = inputs.delay === undefined ? delayMs : inputs.delay as number;
      if (size < 0 || size > MAX_EMULATED_REPLY_BYTES) {
        throw new ActionError(
          StatusCodes.invalidData,
          `Cannot generate a reply of ${size} bytes as 'size' must be between 0 and ${MAX_EMULATED_REPLY_BYTES}`,
        );
      }
      if (delay < 0) {
        throw new ActionError(
          StatusCodes.invalidData,
          `Cannot wait ${delay} ms as 'delay' must not be negative`,
        );
      }
      if (delay > 0) await sleep(delay, signal);
      return { message: messageOf(size), size, identity: node.identity };
    },
  }, { file: "agents/ddl/emulated.json" });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
