/**
 * `chorale kv add|put|get`: key-value buckets in the stream store, which `kv` watchers of
 * autonomous agents read. A bucket is the stream `KV_<bucket>` keeping the last `--history`
 * values of each key on `$KV.<bucket>.<key>`.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { type CliContext, say, UsageError } from "../cli.ts";
import { kvNameProblem } from "../../core/protocol/subjects.ts";
import { connectStore, storeCliError } from "./_store.ts";

const CONFIG_HELP =
  "client configuration file (default: chorale.yaml here or above, else the user's)";

function checkNames(bucket: string, key?: string): void {
  const problem = kvNameProblem(bucket, key);
  if (problem !== null) throw new UsageError(problem);
}

/** Adds `chorale kv` to `program`. */
export function registerKvCommand(program: Command, ctx: CliContext): void {
  const kv = program.command("kv").description(
    "key-value buckets in the stream store, read by kv watchers",
  );
  kv.command("add")
    .description("create a bucket (or change how many values of each key it keeps)")
    .argument("<bucket>", "the bucket")
    .option("--history <n>", "values kept per key", "1")
    .option("--config <file>", CONFIG_HELP)
    .action(async (bucket, opts) => {
      checkNames(bucket);
      const history = Number(opts.history);
      if (!Number.isInteger(history) || history < 1) {
        throw new UsageError(
          `Cannot add bucket '${bucket}' as '--history' must be a positive integer: current value is ${opts.history}`,
        );
      }
      try {
        await using session = await connectStore(ctx, opts);
        await session.store.addBucket(bucket, { history });
        say(ctx, `bucket ${bucket}: keeps ${history} value(s) of each key`);
      } catch (error) {
        throw storeCliError(error);
      }
    });
  kv.command("put")
    .description("store a value under a key")
    .argument("<bucket>", "the bucket")
    .argument("<key>", "the key")
    .argument("<value>", "the value (text; JSON is kept as data by kv watchers)")
    .option("--config <file>", CONFIG_HELP)
    .action(async (bucket, key, value, opts) => {
      checkNames(bucket, key);
      try {
        await using session = await connectStore(ctx, opts);
        const ack = await session.store.kvPut(bucket, key, new TextEncoder().encode(value));
        say(ctx, `${bucket}/${key}: revision ${ack.seq}`);
      } catch (error) {
        throw storeCliError(error);
      }
    });
  kv.command("get")
    .description("print the latest value of a key")
    .argument("<bucket>", "the bucket")
    .argument("<key>", "the key")
    .option("--config <file>", CONFIG_HELP)
    .action(async (bucket, key, opts) => {
      checkNames(bucket, key);
      try {
        await using session = await connectStore(ctx, opts);
        const entry = await session.store.kvGet(bucket, key);
        if (entry === null) {
          throw new UsageError(`Cannot show ${bucket}/${key} as it has no value`);
        }
        say(ctx, new TextDecoder().decode(entry.value));
      } catch (error) {
        throw storeCliError(error);
      }
    });
}
