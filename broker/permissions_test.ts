import assert from "node:assert/strict";
import {
  DefaultPermissions,
  expandPermissions,
  FederationPermissions,
  PermissionChecker,
  SubscribeVerdict,
} from "./permissions.ts";

Deno.test("PermissionChecker allows publish only inside allow and outside deny", () => {
  const c = new PermissionChecker({ publish: { allow: ["a.>"], deny: ["a.secret"] } });
  assert.ok(c.canPublish("a.b"));
  assert.ok(!c.canPublish("a.secret"));
  assert.ok(!c.canPublish("b.c"));
  assert.ok(!c.canPublish("a.secret"), "cached answer stays the same");
});

Deno.test("PermissionChecker checks wildcard subscriptions as subsets", () => {
  const c = new PermissionChecker({ subscribe: { allow: ["a.>"], deny: ["a.secret.>"] } });
  assert.equal(c.canSubscribe("a.*"), SubscribeVerdict.allowed);
  assert.equal(c.canSubscribe(">"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("a.secret.x"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("a.secret.>"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("a.>"), SubscribeVerdict.filtered);
  assert.ok(c.deliveryDenied("a.secret.x"));
  assert.ok(!c.deliveryDenied("a.public"));
});

Deno.test("Default server permissions keep servers off requests and replies", () => {
  const c = new PermissionChecker(
    expandPermissions(DefaultPermissions.server, { identity: "n1.example.net", replyhash: "abc" }),
  );
  assert.ok(!c.canPublish("mcollective.broadcast.agent.rpcutil"));
  assert.ok(!c.canPublish("mcollective.node.n2.example.net"));
  assert.ok(!c.canPublish("choria.federation.fed1.federation"));
  assert.ok(c.canPublish("mcollective.broadcast.agent.registration"));
  assert.ok(c.canPublish("mcollective.reply.abc.1"));
  assert.ok(c.canPublish("choria.lifecycle.event.startup.server"));
  assert.equal(c.canSubscribe("mcollective.reply.>"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("mcollective.node.n1.example.net"), SubscribeVerdict.allowed);
  assert.equal(c.canSubscribe("mcollective.node.n2.example.net"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("mcollective.broadcast.agent.rpcutil"), SubscribeVerdict.allowed);
  assert.equal(c.canSubscribe("mcollective.broadcast.agent.registration"), SubscribeVerdict.denied);
});

Deno.test("Default client permissions allow requests and only the client's own replies", () => {
  const c = new PermissionChecker(
    expandPermissions(DefaultPermissions.client, {
      identity: "alice.mcollective",
      replyhash: "h1",
    }),
  );
  assert.ok(c.canPublish("mcollective.broadcast.agent.rpcutil"));
  assert.ok(c.canPublish("mcollective.node.n1"));
  assert.ok(c.canPublish("choria.federation.fed1.federation"));
  assert.ok(!c.canPublish("mcollective.broadcast.agent.registration"));
  assert.ok(!c.canPublish("mcollective.reply.h2.1"));
  assert.equal(c.canSubscribe("mcollective.reply.h1.>"), SubscribeVerdict.allowed);
  assert.equal(c.canSubscribe("mcollective.reply.h1.123"), SubscribeVerdict.allowed);
  assert.equal(c.canSubscribe("mcollective.reply.h2.>"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("mcollective.reply.>"), SubscribeVerdict.denied);
  assert.equal(c.canSubscribe("mcollective.broadcast.agent.rpcutil"), SubscribeVerdict.denied);
});

Deno.test("Federation preset takes federated traffic; servers may reply through federation", () => {
  const server = new PermissionChecker(
    expandPermissions(DefaultPermissions.server, { identity: "n1.example.net", replyhash: "abc" }),
  );
  assert.ok(server.canPublish("choria.federation.east.collective"));
  assert.ok(!server.canPublish("choria.federation.east.federation"));
  const federation = new PermissionChecker(
    expandPermissions(FederationPermissions, { identity: "fed1", replyhash: "x" }),
  );
  assert.equal(
    federation.canSubscribe("choria.federation.east.federation"),
    SubscribeVerdict.allowed,
  );
  assert.equal(
    federation.canSubscribe("choria.federation.east.collective"),
    SubscribeVerdict.allowed,
  );
  assert.ok(federation.canPublish("mcollective.node.n1.example.net"));
  assert.ok(federation.canPublish("mcollective.reply.abc.1"));
  assert.equal(federation.canSubscribe("mcollective.reply.>"), SubscribeVerdict.denied);
});
