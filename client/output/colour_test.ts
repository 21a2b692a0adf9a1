import assert from "node:assert/strict";
import { colourEnabled, palette, stripColour } from "./colour.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("colourEnabled follows the terminal unless NO_COLOR or FORCE_COLOR say otherwise", () => {
  assert.equal(colourEnabled({ env: env({}), isTerminal: true }), true);
  assert.equal(colourEnabled({ env: env({}), isTerminal: false }), false);
  assert.equal(colourEnabled({ env: env({ NO_COLOR: "1" }), isTerminal: true }), false);
  // An empty NO_COLOR does not count, as no-color.org says.
  assert.equal(colourEnabled({ env: env({ NO_COLOR: "" }), isTerminal: true }), true);
  assert.equal(colourEnabled({ env: env({ FORCE_COLOR: "1" }), isTerminal: false }), true);
  assert.equal(colourEnabled({ env: env({ FORCE_COLOR: "0" }), isTerminal: false }), false);
  assert.equal(colourEnabled({ env: env({ CLICOLOR_FORCE: "1" }), isTerminal: false }), true);
  assert.equal(
    colourEnabled({ env: env({ NO_COLOR: "1", FORCE_COLOR: "1" }), isTerminal: true }),
    false,
  );
});

Deno.test("palette colours only when enabled", () => {
  assert.equal(palette(false).red("x"), "x");
  assert.equal(palette(true).red("x"), "\x1b[31mx\x1b[39m");
  assert.equal(palette(true).bold("x"), "\x1b[1mx\x1b[22m");
  assert.equal(stripColour(palette(true).green("ok") + palette(true).dim("!")), "ok!");
});
