import assert from "node:assert/strict";
import { ProgressBar, renderProgress } from "./progress.ts";

Deno.test("renderProgress draws counts, a bar and a percentage in the width given", () => {
  assert.equal(renderProgress(0, 3, 40), "  0 / 3 [                         ]   0%");
  assert.equal(renderProgress(3, 3, 40), "  3 / 3 [=========================] 100%");
  assert.equal(renderProgress(1, 2, 30), "  1 / 2 [=======>       ]  50%");
  assert.equal(renderProgress(5, 3, 40), renderProgress(3, 3, 40));
  assert.equal(renderProgress(0, 0, 40), "  0 / 0 [=========================] 100%");
  assert.equal(renderProgress(1, 2, 10).length, renderProgress(1, 2, 5).length);
});

Deno.test("ProgressBar redraws in place and wipes itself, or does nothing when disabled", () => {
  let out = "";
  const bar = new ProgressBar({ write: (t) => void (out += t), columns: 40 }, 2, true);
  bar.start();
  bar.tick();
  bar.tick();
  bar.clear();
  const frames = out.split("\r").filter(Boolean);
  assert.equal(frames.length, 4);
  assert.match(frames[0]!, /0 \/ 2/);
  assert.match(frames[2]!, /2 \/ 2 .* 100%/);
  assert.equal(frames[3], "\x1b[2K");
  let quiet = "";
  const off = new ProgressBar({ write: (t) => void (quiet += t) }, 2, false);
  off.start();
  off.tick();
  off.clear();
  assert.equal(quiet, "");
});

Deno.test("ProgressBar grows its total when more replies come than expected", () => {
  let out = "";
  const bar = new ProgressBar({ write: (t) => void (out += t), columns: 40 }, 1, true);
  bar.tick();
  bar.tick();
  assert.match(out.split("\r").at(-1)!, /2 \/ 2/);
});
