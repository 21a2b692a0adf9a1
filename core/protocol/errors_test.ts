import assert from "node:assert/strict";
import * as errors from "./errors.ts";

Deno.test("protocol errors set their name, keep their cause and share ProtocolError", () => {
  const cause = new Error("root");
  for (const [name, ErrorClass] of Object.entries(errors)) {
    const e = new ErrorClass("Cannot do x as y: z", { cause });
    assert.equal(e.name, name);
    assert.equal(e.cause, cause);
    assert.ok(e instanceof errors.ProtocolError);
    assert.ok(e instanceof Error);
  }
});
