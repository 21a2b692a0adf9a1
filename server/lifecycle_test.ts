import AjvDraft04 from "ajv-draft-04";
import assert from "node:assert/strict";
import {
  decodeLifecycleEvent,
  decodeLifecycleObject,
  encodeLifecycleEvent,
  type LifecycleEvent,
  lifecycleEvent,
  lifecycleEventData,
  lifecycleEventSubject,
  LifecycleFieldError,
  LifecycleFormatError,
  LifecycleTypes,
  toCloudEvent,
  UnknownLifecycleTypeError,
} from "./lifecycle.ts";

// A CommonJS package: under Deno the default import is module.exports, whose .default is the class.
const Ajv = AjvDraft04.default;
const SHARED = new URL("../../shared/choria/", import.meta.url);

function readShared(path: string): string {
  return Deno.readTextFileSync(new URL(path, SHARED));
}

// The published schemas exist for these types; Governor events have none.
const SCHEMA_TYPES = ["startup", "shutdown", "alive", "provisioned", "upgraded"] as const;
const validators = Object.fromEntries(SCHEMA_TYPES.map((type) => {
  const schema = JSON.parse(readShared(`schemas/choria/lifecycle/v1/${type}.json`));
  // One Ajv per schema: their ids would otherwise clash.
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  return [
    type,
    (data: unknown) =>
      validate(data)
        ? []
        : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) =>
          `${e.instancePath} ${e.message}`
        ),
  ];
})) as Record<(typeof SCHEMA_TYPES)[number], (data: unknown) => string[]>;

const common = { identity: "n1.example.net", component: "server" };
const NOW = 1_535_106_973_000;

function everyEvent(): LifecycleEvent[] {
  return [
    lifecycleEvent("startup", { ...common, version: "0.1.0", now: NOW }),
    lifecycleEvent("shutdown", { ...common, now: NOW }),
    lifecycleEvent("shutdown", { ...common, version: "0.1.0", now: NOW }),
    lifecycleEvent("alive", { ...common, version: "0.1.0", now: NOW }),
    lifecycleEvent("provisioned", { ...common, now: NOW }),
    lifecycleEvent("upgraded", { ...common, version: "0.1.0", newVersion: "0.2.0", now: NOW }),
    lifecycleEvent("governor", {
      ...common,
      governor: "puppet",
      eventType: "enter",
      sequence: 3,
      now: NOW,
    }),
  ];
}

Deno.test("lifecycleEvent produces events every published schema accepts, in both formats", () => {
  for (const event of everyEvent()) {
    if (event.type === "governor") continue;
    const validate = validators[event.type];
    assert.deepEqual(validate(lifecycleEventData(event)), [], `${event.type} data`);
    const choria = JSON.parse(encodeLifecycleEvent(event, "choria"));
    assert.deepEqual(validate(choria), [], `${event.type} in the Choria format`);
    const cloud = JSON.parse(encodeLifecycleEvent(event, "cloudevent"));
    assert.deepEqual(validate(cloud.data), [], `${event.type} CloudEvent data`);
  }
});

Deno.test("lifecycleEvent encodes startup byte for byte as go-choria's PublishEvent test", () => {
  const event = lifecycleEvent("startup", {
    identity: "ginkgo.example.net",
    component: "ginkgo",
    version: "1.2.3",
    id: "01e72410-d734-4611-9485-8c6a2dd2579b",
    now: 1535106973_000,
  });
  const data =
    `{"protocol":"io.choria.lifecycle.v1.startup","id":"01e72410-d734-4611-9485-8c6a2dd2579b",` +
    `"identity":"ginkgo.example.net","component":"ginkgo","timestamp":1535106973,"version":"1.2.3"}`;
  assert.equal(encodeLifecycleEvent(event, "choria"), data);
  assert.equal(
    encodeLifecycleEvent(event),
    `{"specversion":"1.0","id":"01e72410-d734-4611-9485-8c6a2dd2579b","source":"io.choria.lifecycle",` +
      `"type":"io.choria.lifecycle.v1.startup","subject":"ginkgo.example.net",` +
      `"datacontenttype":"application/json","time":"2018-08-24T10:36:13Z","data":${data}}`,
  );
  assert.equal(lifecycleEventSubject(event), "choria.lifecycle.event.startup.ginkgo");
});

Deno.test("lifecycleEvent reproduces the real CloudEvent shutdown example field for field", () => {
  const example = JSON.parse(readShared("messages/lifecycle-cloudEventFormatShutdown.json"));
  const event = lifecycleEvent("shutdown", {
    identity: "ginkgo.example.net",
    component: "ginkgo",
    version: "1.2.3",
    id: "01e72410-d734-4611-9485-8c6a2dd2579b",
    now: 1535106973_999,
  });
  // The example predates the SDK's datacontenttype; everything else matches exactly.
  const { datacontenttype, ...rest } = toCloudEvent(event);
  assert.equal(datacontenttype, "application/json");
  assert.deepEqual(rest, example);
  assert.deepEqual(Object.keys(rest.data), Object.keys(example.data));
});

Deno.test("lifecycleEvent fills ids, timestamps and subjects per type", () => {
  const events = everyEvent();
  for (const event of events) {
    assert.match(event.id, /^[0-9a-f-]{36}$/);
    assert.equal(event.timestamp, 1535106973);
    assert.equal(event.protocol, `io.choria.lifecycle.v1.${event.type}`);
    assert.equal(lifecycleEventSubject(event), `choria.lifecycle.event.${event.type}.server`);
  }
  assert.equal(new Set(events.map((e) => e.id)).size, events.length);
  const shutdown = events[1];
  assert.ok(shutdown?.type === "shutdown");
  assert.equal("version" in lifecycleEventData(shutdown), false);
  const governor = events.at(-1);
  assert.ok(governor?.type === "governor");
  assert.deepEqual(
    Object.keys(lifecycleEventData(governor)).slice(5),
    ["governor", "sequence", "event_type"],
  );
  assert.deepEqual(Object.keys(LifecycleTypes).length, 6);
});

Deno.test("lifecycleEvent refuses missing and empty required options", () => {
  assert.throws(
    () => lifecycleEvent("startup", { ...common, version: "" }),
    {
      name: "LifecycleFieldError",
      message: "Cannot build startup event as its 'version' must not be empty",
    },
  );
  assert.throws(
    // @ts-expect-error: alive needs a version
    () => lifecycleEvent("alive", { ...common }),
    /Cannot build alive event as its 'version' must be a string: found nothing/,
  );
  assert.throws(
    () => lifecycleEvent("shutdown", { identity: "n1", component: "" }),
    LifecycleFieldError,
  );
  assert.throws(
    // @ts-expect-error: not a type
    () => lifecycleEvent("reboot", common),
    UnknownLifecycleTypeError,
  );
  assert.throws(
    () =>
      lifecycleEvent("governor", {
        ...common,
        governor: "g",
        // @ts-expect-error: not a stage
        eventType: "dance",
      }),
    /'event_type' must be one of enter, exit, timeouts, eviction: current value is 'dance'/,
  );
  assert.throws(
    () => lifecycleEvent("shutdown", { ...common, now: Number.NaN }),
    /'now' must be a finite number/,
  );
});

Deno.test("decodeLifecycleEvent reads the real Choria format example", () => {
  const text = readShared("messages/lifecycle-choriaFormatShutdown.json");
  const { format, event } = decodeLifecycleEvent(text);
  assert.equal(format, "choria");
  assert.deepEqual(event, {
    type: "shutdown",
    protocol: "io.choria.lifecycle.v1.shutdown",
    id: "cb6f1dbc-d65b-49b9-907e-e4a51bee75f8",
    identity: "dev1.devco.net",
    component: "server",
    timestamp: 1575482338,
  });
  assert.deepEqual(validators.shutdown(JSON.parse(text)), []);
});

Deno.test("decodeLifecycleEvent reads the real CloudEvent example from bytes", () => {
  const bytes = Deno.readFileSync(
    new URL("messages/lifecycle-cloudEventFormatShutdown.json", SHARED),
  );
  const { format, event } = decodeLifecycleEvent(bytes);
  assert.equal(format, "cloudevent");
  assert.deepEqual(event, {
    type: "shutdown",
    protocol: "io.choria.lifecycle.v1.shutdown",
    id: "01e72410-d734-4611-9485-8c6a2dd2579b",
    identity: "ginkgo.example.net",
    component: "ginkgo",
    timestamp: 1535106973,
    version: "1.2.3",
  });
});

Deno.test("decodeLifecycleEvent round-trips every type in both formats", () => {
  for (const event of everyEvent()) {
    for (const format of ["choria", "cloudevent"] as const) {
      const decoded = decodeLifecycleEvent(encodeLifecycleEvent(event, format));
      assert.equal(decoded.format, format);
      assert.deepEqual(decoded.event, event, `${event.type} in ${format}`);
    }
  }
});

Deno.test("decodeLifecycleEvent normalises old choria:lifecycle protocols", () => {
  const { event } = decodeLifecycleObject({
    protocol: "choria:lifecycle:upgraded:1",
    id: "1",
    identity: "n1",
    component: "server",
    timestamp: 1,
    version: "1",
    new_version: "2",
  });
  assert.equal(event.protocol, "io.choria.lifecycle.v1.upgraded");
  assert.ok(event.type === "upgraded");
  assert.equal(event.new_version, "2");
});

Deno.test("decodeLifecycleEvent reads CloudEvents with string or base64 data", () => {
  const event = lifecycleEvent("alive", { ...common, version: "1" });
  const { data, ...envelope } = toCloudEvent(event);
  const json = JSON.stringify(data);
  assert.deepEqual(decodeLifecycleObject({ ...envelope, data: json }).event, event);
  const base64 = new TextEncoder().encode(json).toBase64();
  assert.deepEqual(decodeLifecycleObject({ ...envelope, data_base64: base64 }).event, event);
});

Deno.test("decodeLifecycleEvent gives typed errors for bad input", () => {
  const good = JSON.parse(encodeLifecycleEvent(
    lifecycleEvent("startup", { ...common, version: "1", id: "e1" }),
  ));
  const cases: [unknown, new (...args: never[]) => Error, RegExp][] = [
    ["{", LifecycleFormatError, /^Cannot decode lifecycle event as it is not JSON: /],
    [[], LifecycleFormatError, /not a JSON object: found an array/],
    [{ hello: 1 }, LifecycleFormatError, /in neither format/],
    [
      { specversion: "1.0", source: "message/other" },
      LifecycleFormatError,
      /not a Choria lifecycle CloudEvent: specversion is '1.0', source is 'message\/other'/,
    ],
    [{ protocol: "fail" }, LifecycleFormatError, /'protocol' is not a lifecycle protocol/],
    [{ protocol: 3 }, LifecycleFieldError, /'protocol' must be a string: found number 3/],
    [
      { protocol: "io.choria.lifecycle.v1.reboot" },
      UnknownLifecycleTypeError,
      /type must be one of startup, .*: current value is 'reboot'/,
    ],
    [
      { ...good.data, timestamp: "1535106973" },
      LifecycleFieldError,
      /^Cannot decode lifecycle event 'e1' as its 'timestamp' must be an integer: found '1535106973'$/,
    ],
    [
      { ...good.data, version: undefined },
      LifecycleFieldError,
      /'version' must be a string: found nothing/,
    ],
    [{ ...good, data: 5 }, LifecycleFieldError, /'data' must be an object: found number 5/],
    [{ ...good, data: "{" }, LifecycleFieldError, /'data' is a string that is not JSON/],
    [
      { ...good, type: "io.choria.lifecycle.v1.alive" },
      LifecycleFieldError,
      /'type' disagrees with its data: type is 'io.choria.lifecycle.v1.alive', data protocol is 'io.choria.lifecycle.v1.startup'/,
    ],
    [
      { ...good, data: { ...good.data, identity: null } },
      LifecycleFieldError,
      /^Cannot decode lifecycle CloudEvent data 'e1' as its 'identity' must be a string: found null$/,
    ],
    [
      {
        protocol: "io.choria.lifecycle.v1.governor",
        id: "g",
        identity: "n",
        component: "c",
        timestamp: 1,
      },
      LifecycleFieldError,
      /'governor' must be a string/,
    ],
  ];
  for (const [input, type, message] of cases) {
    const text = typeof input === "string" ? input : JSON.stringify(input);
    assert.throws(() => decodeLifecycleEvent(text), (e: unknown) => {
      assert.ok(e instanceof type, `${text}: ${e}`);
      assert.match((e as Error).message, message);
      assert.equal((e as Error).name, type.name);
      return true;
    });
  }
  assert.throws(
    () => decodeLifecycleEvent(new Uint8Array([0xff, 0xfe])),
    (e: unknown) => e instanceof LifecycleFormatError && e.cause instanceof TypeError,
  );
  assert.throws(
    () => decodeLifecycleEvent("{"),
    (e: unknown) => e instanceof LifecycleFormatError && e.cause instanceof SyntaxError,
  );
});
