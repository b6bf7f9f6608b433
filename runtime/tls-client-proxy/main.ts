/**
 * The TLS client proxy's entry point: routes from `TLS_PROXY_ROUTES` (see ./proxy.ts), a
 * health endpoint (`/healthz`, 200 while every route listens) on `TLS_PROXY_HEALTH_PORT`.
 * A bad variable exits 2 naming it. Logs connection outcomes only, never payloads.
 */
import { createServer } from "node:http";
import pino from "pino";
import { configOrExit, EnvReader } from "../shared/env";
import { parseRoutes, ProxyRoute, serveRoute } from "./proxy";

/** The proxy's settings. */
export interface TlsProxyConfig {
    readonly routes: readonly ProxyRoute[];
    /** Each route's CA (PEM), read at start; undefined for the system's CAs. */
    readonly caPems: readonly (string | undefined)[];
    readonly healthPort: number;
}

/** Reads and checks the environment; throws an EnvError naming every bad variable. */
export function readTlsProxyConfig(env: Readonly<Record<string, string | undefined>>): TlsProxyConfig {
    const r = new EnvReader(env);
    let routes: ProxyRoute[] = [];
    const text = r.required("TLS_PROXY_ROUTES", "the routes, a JSON array");
    if (text) {
        try {
            routes = parseRoutes(text);
        } catch (error) {
            r.problem("TLS_PROXY_ROUTES", (error as Error).message);
        }
    }
    const caPems = routes.map((route) =>
        route.caFile ? r.fileAt("TLS_PROXY_ROUTES", route.caFile) : undefined,
    );
    const healthPort = r.integer("TLS_PROXY_HEALTH_PORT", 9466, 1, 65535);
    r.done();
    return { routes, caPems, healthPort };
}

function main(): void {
    const config = configOrExit(readTlsProxyConfig);
    const log = pino({ level: process.env.LOG_LEVEL ?? "info" });
    const servers = config.routes.map((route, i) =>
        serveRoute(route, i, config.caPems[i], (event) =>
            event.kind === "failed"
                ? log.warn(
                      { route: `${route.host}:${route.port}`, error: event.error },
                      "TLS connection failed",
                  )
                : log.debug({ route: `${route.host}:${route.port}`, protocol: event.protocol }, "connected"),
        ),
    );
    for (const [i, server] of servers.entries()) {
        server.on("error", (error) => {
            log.error({ port: config.routes[i].listenPort, error: error.message }, "cannot listen");
            process.exit(1);
        });
    }
    const health = createServer((req, res) => {
        const up = servers.every((s) => s.listening);
        res.writeHead(req.url === "/healthz" ? (up ? 200 : 503) : 404).end();
    });
    health.listen(config.healthPort);
    const stop = () => {
        health.close();
        for (const server of servers) server.close();
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    log.info(
        { routes: config.routes.map((r) => `127.0.0.1:${r.listenPort} → ${r.host}:${r.port}`) },
        "proxying",
    );
}

if (require.main === module) main();
