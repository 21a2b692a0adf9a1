import assert from "node:assert/strict";
import { cronMatches, parseCron } from "./cron.ts";

Deno.test("parseCron reads lists, ranges, steps and shorthands", () => {
  const c = parseCron("0,30 9-17/4 * * 1-5");
  assert.deepEqual([...c.minutes], [0, 30]);
  assert.deepEqual([...c.hours], [9, 13, 17]);
  assert.equal(cronMatches(c, new Date(2026, 10, 25, 13, 30)), true); // a Wednesday
  assert.equal(cronMatches(c, new Date(2026, 10, 29, 13, 30)), false); // a Sunday
  assert.equal(cronMatches(parseCron("@daily"), new Date(2026, 0, 1, 0, 0, 59)), true);
  assert.equal(cronMatches(parseCron("* * * * 7"), new Date(2026, 10, 29, 1, 1)), true);
});

Deno.test("parseCron names the bad field", () => {
  assert.throws(
    () => parseCron("61 * * * *"),
    /minute field must lie within 0-59: current value is '61'/,
  );
  assert.throws(() => parseCron("* * * *"), /needs 5 fields .*: found 4/);
  assert.throws(() => parseCron("* x * * *"), /hour field is not a number/);
});
