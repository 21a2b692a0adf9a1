import assert from "node:assert/strict";
import {
  INVENTORY_SCHEMA,
  parseFlatfile,
  parseInventory,
  selectFlatfileNodes,
  selectInventoryNodes,
} from "./discovery_sources.ts";
import { DiscoveryError } from "./errors.ts";

Deno.test("parseFlatfile reads text with comments, JSON arrays and YAML lists", () => {
  const text =
    "# web\nweb2.example.net\nweb1.example.net   # primary\n\n  db1  \nweb1.example.net\n";
  assert.deepEqual(parseFlatfile(text, "nodes.txt"), [
    "db1",
    "web1.example.net",
    "web2.example.net",
  ]);
  assert.deepEqual(parseFlatfile('["b", "a"]', "nodes.json"), ["a", "b"]);
  assert.deepEqual(parseFlatfile("# nodes\n- b\n- a\n", "nodes.yaml"), ["a", "b"]);
  assert.deepEqual(parseFlatfile("", "empty.txt"), []);
});

Deno.test("parseFlatfile reports every bad name at once", () => {
  assert.throws(
    () => parseFlatfile("ok\nbad name\nweb.*\n.lead\n", "nodes.txt"),
    (e: unknown) =>
      e instanceof DiscoveryError &&
      e.message ===
        "Cannot discover from flatfile 'nodes.txt': line 2 is not a valid identity: 'bad name'; " +
          "line 3 is not a valid identity: 'web.*'; line 4 is not a valid identity: '.lead'",
  );
  assert.throws(() => parseFlatfile('["a", 1]', "n.json"), /item 2 must be a string: found 1/);
  assert.throws(() => parseFlatfile("[oops", "n.json"), /is not a valid JSON array/);
  assert.throws(() => parseFlatfile("- a\n- b: c\n", "n.yaml"), /item 2 must be a string/);
});

Deno.test("selectFlatfileNodes applies identity filters and refuses the others", () => {
  const nodes = ["db1", "web1", "web2"];
  assert.deepEqual(selectFlatfileNodes(nodes), nodes);
  assert.deepEqual(selectFlatfileNodes(nodes, { identity: ["db1", "/2$/"] }), ["db1", "web2"]);
  assert.throws(
    () => selectFlatfileNodes(nodes, { cf_class: ["x"], agent: ["rpcutil"] }),
    (e: unknown) =>
      e instanceof DiscoveryError &&
      e.message ===
        "Cannot discover from a flatfile with class, agent filters: only identity filters apply",
  );
});

const INVENTORY = `
$schema: ${INVENTORY_SCHEMA}
groups:
  - name: web
    filter: { facts: ["role=web"] }
  - name: broken
    filter: { facts: ["role=="] }
nodes:
  - { name: web1, collectives: [mcollective], facts: { role: web, mem: 2048 }, classes: [apache], agents: [rpcutil, package] }
  - { name: web2, collectives: [mcollective], facts: { role: web, mem: 512 }, classes: [apache], agents: [rpcutil] }
  - { name: db1, collectives: [mcollective, db], facts: { role: db, mem: 8192 }, classes: [mysql], agents: [rpcutil] }
  - { name: web9, collectives: [other], facts: { role: web }, classes: [], agents: [rpcutil] }
`;

Deno.test("selectInventoryNodes matches filters within the collective", () => {
  const inventory = parseInventory(INVENTORY, "inventory.yaml");
  const select = (filter: Record<string, unknown>, collective = "mcollective") =>
    selectInventoryNodes(inventory, { collective, filter });
  assert.deepEqual(select({}), ["db1", "web1", "web2"]);
  assert.deepEqual(select({}, "db"), ["db1"]);
  assert.deepEqual(select({ fact: [{ fact: "role", operator: "==", value: "web" }] }), [
    "web1",
    "web2",
  ]);
  assert.deepEqual(select({ agent: ["package"] }), ["web1"]);
  assert.deepEqual(select({ cf_class: ["/sql/"] }), ["db1"]);
  assert.deepEqual(select({ identity: ["/^web/"] }), ["web1", "web2"]);
  assert.deepEqual(select({ compound: [[{ expr: "mem >= 2048" }]] }), ["db1", "web1"]);
});

Deno.test("selectInventoryNodes resolves group filters", () => {
  const inventory = parseInventory(INVENTORY, "inventory.yaml");
  const select = (filter: Record<string, unknown>) =>
    selectInventoryNodes(inventory, { collective: "mcollective", filter });
  // Groups ignore the collective, as in go-choria.
  assert.deepEqual(select({ identity: ["group:web"] }), ["web1", "web2", "web9"]);
  assert.deepEqual(select({ identity: ["group:web"], agent: ["package"] }), ["web1"]);
  assert.throws(() => select({ identity: ["group:nope"] }), /group 'nope' is unknown/);
  assert.throws(() => select({ identity: ["group:web", "db1"] }), /cannot be combined/);
  assert.throws(() => select({ identity: ["group:broken"] }), /group 'broken' has a bad filter/);
});

Deno.test("parseInventory reports every schema problem at once", () => {
  const text = JSON.stringify({
    $schema: "https://example.net/other.json",
    extra: true,
    groups: [{ name: "bad name" }],
    nodes: [
      { name: "ok", collectives: [], facts: {}, classes: [], agents: [] },
      { name: "", collectives: "c", facts: [], classes: [], agents: [], color: "red" },
    ],
  });
  assert.throws(
    () => parseInventory(text, "inventory.json"),
    (e: unknown) => {
      assert.ok(e instanceof DiscoveryError);
      for (
        const part of [
          "unknown key 'extra'",
          `'$schema' must be ${INVENTORY_SCHEMA}`,
          "'nodes[1]' has an unknown key 'color'",
          "'nodes[1].name' must be a non-empty string",
          "'nodes[1].collectives' must be a list of strings",
          "'nodes[1].facts' must be a mapping",
          "'groups[0].name' must match [a-zA-Z0-9_-]+",
        ]
      ) assert.ok(e.message.includes(part), `missing "${part}" in ${e.message}`);
      return true;
    },
  );
  assert.throws(() => parseInventory("nodes: [", "i.yaml"), /is not valid YAML or JSON/);
  assert.throws(() => parseInventory("- a", "i.yaml"), /is not a mapping/);
});
