/**
 * The `kv` watcher: polls one key of a key-value bucket in the stream store every `interval`, as
 * Choria's `kv` watcher polls a JetStream bucket. When the value changed since the last poll (or
 * on the first one) it goes into the machine's data, under `<bucket>_<key>` (or `<key>` with
 * `bucket_prefix: false`), JSON-decoded when it is JSON, and `success_transition` fires; an
 * unchanged value fires `on_matching_update`; every value read fires `on_successful_get`; a key
 * that is unset, or a store that cannot be asked, fires `fail_transition`.
 *
 * Only `mode: poll` of one key is built: a whole-bucket watch, `republish_trigger` and
 * `hiera_config` are refused when the machine file is validated.
 *
 * @module
 */
import { isKvName } from "../../core/protocol/subjects.ts";
import type { WatcherDef } from "../manifest.ts";
import {
  type CheckOutcome,
  PolledWatcher,
  propertyChecks,
  type WatcherHost,
  type WatcherPlugin,
} from "./watcher.ts";

const decoder = new TextDecoder();

class KvWatcher extends PolledWatcher {
  readonly #bucket: string;
  readonly #key: string;
  readonly #dataKey: string;
  #last: string | null = null;
  #state: "unknown" | "changed" | "unchanged" | "missing" | "error" = "unknown";

  constructor(def: WatcherDef, host: WatcherHost) {
    super(def, host);
    this.#bucket = String(def.properties.bucket);
    this.#key = String(def.properties.key);
    this.#dataKey = def.properties.bucket_prefix === false
      ? this.#key
      : `${this.#bucket}_${this.#key}`;
  }

  protected async check(): Promise<CheckOutcome> {
    const read = this.host.kv;
    if (!read) {
      this.#state = "error";
      throw new Error(
        `Cannot read key '${this.#key}' of bucket '${this.#bucket}' as this node has no stream store to ask`,
      );
    }
    let value: Uint8Array | null;
    try {
      value = await read(this.#bucket, this.#key);
    } catch (error) {
      this.#state = "error";
      throw error;
    }
    if (value === null) {
      this.#state = "missing";
      return "fail";
    }
    const text = decoder.decode(value);
    const onGet = this.def.properties.on_successful_get;
    if (typeof onGet === "string" && onGet !== "") {
      this.host.fire(onGet, `kv watcher ${this.def.name} read ${this.#bucket}/${this.#key}`);
    }
    if (text === this.#last) {
      this.#state = "unchanged";
      const onMatch = this.def.properties.on_matching_update;
      if (typeof onMatch === "string" && onMatch !== "") {
        this.host.fire(
          onMatch,
          `kv watcher ${this.def.name}: ${this.#bucket}/${this.#key} unchanged`,
        );
      }
      return "none";
    }
    this.#last = text;
    this.#state = "changed";
    this.host.data.set(this.#dataKey, decodeValue(text));
    return "success";
  }

  stateFields(): Record<string, unknown> {
    return { bucket: this.#bucket, key: this.#key, state: this.#state };
  }
}

/** JSON values are kept as data, anything else as text. */
function decodeValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The `kv` watcher plugin. */
export const kvWatcher: WatcherPlugin = {
  type: "kv",
  properties: [
    "bucket",
    "key",
    "mode",
    "bucket_prefix",
    "on_successful_get",
    "on_matching_update",
    "republish_trigger",
    "hiera_config",
  ],
  validate(def, problem) {
    const check = propertyChecks(def, problem);
    check.string("bucket", true);
    check.string("key", true);
    check.boolean("bucket_prefix");
    check.string("on_successful_get");
    check.string("on_matching_update");
    const p = def.properties;
    if (typeof p.bucket === "string" && typeof p.key === "string" && !isKvName(p.bucket, p.key)) {
      problem(
        "bucket, key: buckets take letters, digits, '_' and '-'; keys take those and '/'",
      );
    }
    if (p.mode !== undefined && p.mode !== "poll") {
      problem(`mode: only poll is supported, got ${JSON.stringify(p.mode)}`);
    }
    for (const unsupported of ["republish_trigger", "hiera_config"]) {
      if (p[unsupported] !== undefined) problem(`${unsupported}: not supported`);
    }
    if (!def.interval) problem("interval: a kv watcher polls, so it needs an interval");
  },
  create: (def, host) => new KvWatcher(def, host),
};
