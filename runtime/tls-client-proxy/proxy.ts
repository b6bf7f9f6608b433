/**
 * A TLS client proxy for programs that cannot speak TLS themselves: it accepts plain TCP on
 * loopback and carries each connection over TLS to one target, verifying the target's
 * certificate (against a given CA or the system's) and name. ThingsBoard's RabbitMQ rule node
 * has no TLS option, and its REST call node cannot name a certificate other than its URL's host;
 * this sidecar wraps both (components/thingsboard/thingsboard.ts).
 */
import { createServer, Server, Socket } from "node:net";
import { connect } from "node:tls";

/** One route: plain TCP on `listenPort` (loopback) to TLS at `host:port`. */
export interface ProxyRoute {
    readonly listenPort: number;
    readonly host: string;
    readonly port: number;
    /** The name the certificate must carry, when it is not `host` (an in-cluster Service). */
    readonly serverName?: string;
    /** File of the CA (PEM) the certificate must chain to; the system's CAs when undefined. */
    readonly caFile?: string;
}

/** Parses `TLS_PROXY_ROUTES` (a JSON array of routes); throws naming the first problem. */
export function parseRoutes(text: string): ProxyRoute[] {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        throw new Error("is not JSON");
    }
    if (!Array.isArray(value) || value.length === 0)
        throw new Error("must be a non-empty JSON array of routes");
    const port = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
    const text_ = (v: unknown) => v === undefined || (typeof v === "string" && v !== "");
    const routes = value.map((r: Record<string, unknown>, i) => {
        if (typeof r !== "object" || r === null) throw new Error(`route ${i} is not an object`);
        if (!port(r.listenPort) || !port(r.port))
            throw new Error(`route ${i} needs listenPort and port (1..65535)`);
        if (typeof r.host !== "string" || r.host === "") throw new Error(`route ${i} needs a host`);
        if (!text_(r.serverName) || !text_(r.caFile)) {
            throw new Error(`route ${i}: serverName and caFile must be non-empty strings when given`);
        }
        const extra = Object.keys(r).filter(
            (k) => !["listenPort", "host", "port", "serverName", "caFile"].includes(k),
        );
        if (extra.length > 0) throw new Error(`route ${i} has unknown keys: ${extra.join(", ")}`);
        return r as unknown as ProxyRoute;
    });
    if (new Set(routes.map((r) => r.listenPort)).size !== routes.length) {
        throw new Error("two routes listen on one port");
    }
    return routes;
}

/** What the proxy reports: a connection's outcome, without any payload. */
export type ProxyEvent =
    | { readonly kind: "connected"; readonly route: number; readonly protocol: string }
    | { readonly kind: "failed"; readonly route: number; readonly error: string };

/**
 * Serves `route` on 127.0.0.1: each accepted connection is paired with a TLS connection to the
 * target (TLS 1.2 at least, certificate and name verified); bytes flow only after the handshake
 * succeeded, and either side closing or failing closes both.
 */
export function serveRoute(
    route: ProxyRoute,
    index: number,
    caPem: string | undefined,
    report: (event: ProxyEvent) => void,
): Server {
    const server = createServer((client: Socket) => {
        client.pause();
        const upstream = connect({
            host: route.host,
            port: route.port,
            servername: route.serverName ?? route.host,
            ...(caPem ? { ca: caPem } : {}),
            minVersion: "TLSv1.2",
        });
        const close = (error?: Error) => {
            if (error) report({ kind: "failed", route: index, error: error.message });
            client.destroy();
            upstream.destroy();
        };
        upstream.once("secureConnect", () => {
            report({ kind: "connected", route: index, protocol: upstream.getProtocol() ?? "unknown" });
            client.pipe(upstream).pipe(client);
            client.resume();
        });
        upstream.on("error", close);
        client.on("error", () => close());
        upstream.on("close", () => close());
        client.on("close", () => close());
    });
    server.listen(route.listenPort, "127.0.0.1");
    return server;
}
