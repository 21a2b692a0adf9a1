/**
 * The monitoring HTTP endpoint: `/varz`, `/connz`, `/routez`, `/subsz` and `/healthz` as JSON in the shape
 * nats-server uses, and `/metrics` in Prometheus text format.
 *
 * @module
 */
import type { Broker } from "./broker.ts";
import { textFromWire } from "./wire_text.ts";

/** The server-wide figures, as `/varz` shows them. */
export function varz(broker: Broker): Record<string, unknown> {
  const s = broker.stats;
  const mem = Deno.memoryUsage();
  return {
    server_id: broker.serverId,
    server_name: broker.settings.serverName,
    version: "2.9.10",
    proto: 1,
    host: broker.settings.host,
    port: broker.port,
    max_connections: broker.settings.maxConnections,
    ping_interval: broker.settings.pingIntervalMs * 1e6,
    ping_max: broker.settings.maxPingsOut,
    max_payload: broker.settings.maxPayload,
    max_control_line: broker.settings.maxControlLine,
    max_pending: broker.settings.maxPending,
    write_deadline: broker.settings.writeDeadlineMs * 1e6,
    tls_required: !broker.settings.insecure,
    tls_verify: !broker.settings.insecure,
    start: broker.startedAt.toISOString(),
    now: new Date().toISOString(),
    uptime: `${Math.floor((Date.now() - broker.startedAt.getTime()) / 1000)}s`,
    mem: mem.rss,
    mem_heap_used: mem.heapUsed,
    mem_external: mem.external,
    connections: broker.connections.size,
    total_connections: s.totalConnections,
    in_msgs: s.inMsgs,
    out_msgs: s.outMsgs,
    in_bytes: s.inBytes,
    out_bytes: s.outBytes,
    slow_consumers: s.slowConsumers,
    subscriptions: broker.sublist.count,
    stale_connections: s.staleConnections,
    permission_violations: s.permissionViolations,
    protocol_errors: s.protocolErrors,
    tls_handshake_failures: s.tlsHandshakeFailures,
    auth_timeouts: s.authTimeouts,
  };
}

/** Connections, as `/connz` shows them; `offset` and `limit` page through them by id. */
export function connz(broker: Broker, query: URLSearchParams): Record<string, unknown> {
  const offset = Math.max(0, Number(query.get("offset") ?? 0) || 0);
  const limit = Math.max(1, Number(query.get("limit") ?? 1024) || 1024);
  const withSubs = query.get("subs") === "true" || query.get("subs") === "1";
  const all = [...broker.connections.values()].sort((a, b) => a.id - b.id);
  const now = Date.now();
  const page = all.slice(offset, offset + limit).map((c) => ({
    cid: c.id,
    kind: "Client",
    ip: c.remoteAddress,
    port: c.remotePort,
    start: new Date(c.createdAt).toISOString(),
    last_activity: new Date(c.lastActivity).toISOString(),
    uptime: `${Math.floor((now - c.createdAt) / 1000)}s`,
    pending_bytes: c.pendingBytes,
    in_msgs: c.inMsgs,
    out_msgs: c.outMsgs,
    in_bytes: c.inBytes,
    out_bytes: c.outBytes,
    subscriptions: c.subscriptions.size,
    name: c.options?.name ?? "",
    lang: c.options?.lang ?? "",
    version: c.options?.version ?? "",
    authorized_user: c.identity ?? "",
    identity_kind: c.kind ?? "",
    ...(withSubs
      ? { subscriptions_list: [...c.subscriptions.values()].map((s) => textFromWire(s.subject)) }
      : {}),
  }));
  return {
    server_id: broker.serverId,
    now: new Date().toISOString(),
    num_connections: page.length,
    total: all.length,
    offset,
    limit,
    connections: page,
  };
}

/** The subject index, as `/subsz` shows it. */
export function subsz(broker: Broker): Record<string, unknown> {
  return {
    server_id: broker.serverId,
    now: new Date().toISOString(),
    num_subscriptions: broker.sublist.count,
    num_cache: broker.sublist.cacheEntries,
  };
}

/** Routes to the other brokers of the cluster, as `/routez` shows them. */
export function routez(broker: Broker, query: URLSearchParams): Record<string, unknown> {
  const cluster = broker.cluster;
  const withSubs = query.get("subs") === "true" || query.get("subs") === "1";
  const routes = (cluster?.openRoutes ?? []).sort((a, b) => a.id - b.id).map((r) => ({
    rid: r.id,
    remote_id: r.remoteId,
    remote_name: r.peer?.server_name ?? "",
    did_solicit: r.solicited,
    is_configured: r.solicited && cluster!.settings.routes.includes(r.url ?? ""),
    ip: r.remoteAddress,
    port: r.remotePort,
    identity: r.identity,
    start: new Date(r.createdAt).toISOString(),
    last_activity: new Date(r.lastActivity).toISOString(),
    pending_size: r.pendingBytes,
    in_msgs: r.inMsgs,
    out_msgs: r.outMsgs,
    in_bytes: r.inBytes,
    out_bytes: r.outBytes,
    subscriptions: r.remoteSubs.size,
    ...(withSubs ? { subscriptions_list: [...r.remoteSubs.keys()].map(textFromWire) } : {}),
  }));
  return {
    server_id: broker.serverId,
    server_name: broker.settings.serverName,
    now: new Date().toISOString(),
    cluster: cluster?.settings.name ?? "",
    port: cluster?.port ?? 0,
    num_routes: routes.length,
    routes,
  };
}

/** Prometheus text exposition of the broker's counters and gauges. */
export function metrics(broker: Broker): string {
  const s = broker.stats;
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, value: number) => {
    lines.push(`# HELP chorale_broker_${name} ${help}`, `# TYPE chorale_broker_${name} ${type}`);
    lines.push(`chorale_broker_${name} ${value}`);
  };
  metric("connections", "gauge", "Client connections open now", broker.connections.size);
  metric("connections_total", "counter", "Client connections accepted", s.totalConnections);
  metric("subscriptions", "gauge", "Subscriptions in the subject index", broker.sublist.count);
  metric("in_msgs_total", "counter", "Messages received from clients", s.inMsgs);
  metric("out_msgs_total", "counter", "Messages delivered to clients", s.outMsgs);
  metric("in_bytes_total", "counter", "Payload bytes received from clients", s.inBytes);
  metric("out_bytes_total", "counter", "Payload bytes delivered to clients", s.outBytes);
  metric(
    "slow_consumers_total",
    "counter",
    "Connections closed as slow consumers",
    s.slowConsumers,
  );
  metric(
    "stale_connections_total",
    "counter",
    "Connections closed for not answering PING",
    s.staleConnections,
  );
  metric(
    "permission_violations_total",
    "counter",
    "Publishes and subscribes refused by permissions",
    s.permissionViolations,
  );
  metric(
    "protocol_errors_total",
    "counter",
    "Connections closed for protocol errors",
    s.protocolErrors,
  );
  metric(
    "tls_handshake_failures_total",
    "counter",
    "TLS handshakes that failed or timed out",
    s.tlsHandshakeFailures,
  );
  metric(
    "auth_timeouts_total",
    "counter",
    "Connections closed for not sending CONNECT in time",
    s.authTimeouts,
  );
  metric(
    "rejected_connections_total",
    "counter",
    "Connections refused at the connection limit",
    s.rejectedMaxConnections,
  );
  metric(
    "listener_restarts_total",
    "counter",
    "Listeners replaced after they stopped accepting",
    s.listenerRestarts,
  );
  const cluster = broker.cluster;
  if (cluster) {
    const c = cluster.stats;
    metric(
      "routes",
      "gauge",
      "Routes open to other brokers of the cluster",
      cluster.openRoutes.length,
    );
    metric("routes_accepted_total", "counter", "Routes other brokers dialled", c.routesAccepted);
    metric("routes_solicited_total", "counter", "Routes this broker dialled", c.routesSolicited);
    metric("routes_closed_total", "counter", "Routes that closed", c.routesClosed);
    metric("route_dial_failures_total", "counter", "Route dials that failed", c.dialFailures);
    metric(
      "route_peers_refused_total",
      "counter",
      "Route peers refused for their certificate or handshake",
      c.refusedPeers,
    );
    const routes = cluster.openRoutes;
    const sum = (f: (r: (typeof routes)[number]) => number) => routes.reduce((n, r) => n + f(r), 0);
    metric("route_in_msgs", "gauge", "Messages received on open routes", sum((r) => r.inMsgs));
    metric("route_out_msgs", "gauge", "Messages sent on open routes", sum((r) => r.outMsgs));
  }
  metric(
    "resident_memory_bytes",
    "gauge",
    "Resident memory of the broker process",
    Deno.memoryUsage().rss,
  );
  return lines.join("\n") + "\n";
}

/** Answers one monitoring request. */
export function handleMonitor(broker: Broker, request: Request): Response {
  const url = new URL(request.url);
  const json = (body: unknown) =>
    new Response(JSON.stringify(body, null, 2), {
      headers: { "content-type": "application/json" },
    });
  switch (url.pathname) {
    case "/varz":
      return json(varz(broker));
    case "/connz":
      return json(connz(broker, url.searchParams));
    case "/subsz":
      return json(subsz(broker));
    case "/routez":
      return json(routez(broker, url.searchParams));
    case "/healthz":
      if (broker.listenerAlive) return json({ status: "ok" });
      return new Response(
        JSON.stringify({ status: "error", error: "listener is not accepting" }),
        { status: 503, headers: { "content-type": "application/json" } },
      );
    case "/metrics":
      return new Response(metrics(broker), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    default:
      return new Response(
        `Cannot find '${url.pathname}': try /varz, /connz, /routez, /subsz, /healthz or /metrics\n`,
        {
          status: 404,
        },
      );
  }
}

/** Serves the monitor on `host:port`; the returned server is disposed with the broker. */
export function serveMonitor(
  broker: Broker,
  host: string,
  port: number,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: host, port, onListen: () => {} },
    (req) => handleMonitor(broker, req),
  );
}
