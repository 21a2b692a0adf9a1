import assert from "node:assert/strict";
import { bodyText, describe, looksLikeJson, parseObject } from "./_codec.ts";
import { MessageSizeError } from "./errors.ts";

Deno.test("parseObject measures strings near the limit in UTF-8 bytes", () => {
  const text = JSON.stringify({ a: "é".repeat(40) }); // 48 characters, 88 bytes
  assert.deepEqual(parseObject(text, "decode x", { maxBytes: 88 }), JSON.parse(text));
  assert.throws(
    () => parseObject(text, "decode x", { maxBytes: 87 }),
    (e: unknown) =>
      e instanceof MessageSizeError &&
      e.message === "Cannot decode x as it is 88 bytes: the limit is 87",
  );
  assert.throws(
    () => parseObject(new Uint8Array(10), "decode x", { maxBytes: 9 }),
    MessageSizeError,
  );
});

Deno.test("looksLikeJson tells JSON bodies from base64", () => {
  assert.ok(looksLikeJson(' \n{"a":1}'));
  assert.ok(looksLikeJson("[1]"));
  assert.ok(!looksLikeJson("eyJhIjoxfQ=="));
  assert.ok(!looksLikeJson(""));
  assert.equal(bodyText("eyJhIjoxfQ==", "decode x"), '{"a":1}');
});

Deno.test("describe names JSON types for messages", () => {
  assert.deepEqual(
    [null, [], {}, "", 1, 1.5, true].map(describe),
    ["null", "an array", "an object", "a string", "an integer", "a number", "a boolean"],
  );
});
