/**
 * `deno bench bench/parser_bench.ts`: the client protocol parser alone, on 128-byte PUB frames in
 * 64 KiB reads, as the broker sees them under load.
 *
 * @module
 */
import { Parser, type ProtocolHandler } from "../broker/parser.ts";

const frame = new TextEncoder().encode(`PUB bench.subject.one 128\r\n${"x".repeat(128)}\r\n`);
const perChunk = Math.floor(65_536 / frame.length);
const chunk = new Uint8Array(perChunk * frame.length);
for (let i = 0; i < perChunk; i++) chunk.set(frame, i * frame.length);

let published = 0;
const handler: ProtocolHandler = {
  connect() {},
  publish() {
    published++;
  },
  subscribe() {},
  unsubscribe() {},
  ping() {},
  pong() {},
};
const parser = new Parser(handler);

Deno.bench(`Parser parses ${perChunk} 128-byte PUB frames from one 64 KiB read`, () => {
  parser.feed(chunk);
});

Deno.bench(`Parser parses the same frames split at odd offsets`, () => {
  for (let at = 0; at < chunk.length; at += 1_000) parser.feed(chunk.subarray(at, at + 1_000));
});

addEventListener("unload", () => {
  if (published === 0) throw new Error("the parser published nothing");
});
