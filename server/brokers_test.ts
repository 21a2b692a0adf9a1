import assert from "node:assert/strict";
import { BrokerLookupError, resolveBrokers, type SrvRecord } from "./brokers.ts";

function resolver(answers: Record<string, SrvRecord[]>, asked: string[] = []) {
  return (name: string) => {
    asked.push(name);
    const found = answers[name];
    return found ? Promise.resolve(found) : Promise.reject(new Deno.errors.NotFound(`no ${name}`));
  };
}

Deno.test("resolveBrokers prefers configured URLs and asks no DNS", async () => {
  const asked: string[] = [];
  assert.deepEqual(await resolveBrokers(["tls://b:4222"], "example.net", resolver({}, asked)), [
    "tls://b:4222",
  ]);
  assert.deepEqual(asked, []);
});

Deno.test("resolveBrokers orders SRV answers by priority then weight", async () => {
  const brokers = await resolveBrokers(
    [],
    "example.net",
    resolver({
      "_mcollective-server._tcp.example.net": [
        { priority: 20, weight: 0, port: 4222, target: "c.example.net." },
        { priority: 10, weight: 1, port: 4223, target: "b.example.net." },
        { priority: 10, weight: 9, port: 4222, target: "a.example.net." },
      ],
    }),
  );
  assert.deepEqual(brokers, [
    "tls://a.example.net:4222",
    "tls://b.example.net:4223",
    "tls://c.example.net:4222",
  ]);
});

Deno.test("resolveBrokers falls back to the Puppet SRV name", async () => {
  const asked: string[] = [];
  const brokers = await resolveBrokers(
    [],
    "example.net",
    resolver({
      "_x-puppet-mcollective._tcp.example.net": [{
        priority: 1,
        weight: 1,
        port: 61613,
        target: "p.example.net",
      }],
    }, asked),
  );
  assert.deepEqual(brokers, ["tls://p.example.net:61613"]);
  assert.deepEqual(asked, [
    "_mcollective-server._tcp.example.net",
    "_x-puppet-mcollective._tcp.example.net",
  ]);
});

Deno.test("resolveBrokers names every SRV name it tried when none answers", async () => {
  await assert.rejects(
    () => resolveBrokers([], "example.net", resolver({})),
    (e: unknown) =>
      e instanceof BrokerLookupError &&
      /_mcollective-server\._tcp\.example\.net or _x-puppet/.test(e.message),
  );
});
