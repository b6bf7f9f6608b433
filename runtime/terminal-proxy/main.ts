/**
 * The terminal proxy, a sidecar of the tenant's WireGuard server (so that it reaches devices'
 * ttyd over the VPN): configuration from the environment (exit 2 naming every bad variable),
 * the public server, and a management port with health, readiness and metrics. SIGTERM drains:
 * readiness goes false, new sessions are refused, live ones get TERMINAL_DRAIN_SECONDS.
 */
import Fastify, { FastifyInstance } from "fastify";
import pino from "pino";
import { accessTokenVerifier } from "../shared/auth/access-token";
import { configOrExit } from "../shared/env";
import { readTerminalProxyConfig, TerminalProxyConfig } from "./config";
import { DeviceDirectory } from "./devices";
import { TerminalMetrics } from "./metrics";
import { startTerminalProxy, TerminalProxy } from "./server";

/** Health, readiness (false while draining) and metrics, on a port the ingress never exposes. */
async function managementServer(
    metrics: TerminalMetrics,
    state: { draining: boolean },
    port: number,
): Promise<FastifyInstance> {
    const app = Fastify({ logger: false });
    app.get("/healthz", async () => ({ status: "ok" }));
    app.get("/readyz", async (_request, reply) =>
        state.draining ? reply.code(503).send({ status: "draining" }) : { status: "ready" },
    );
    app.get("/metrics", async (_request, reply) => {
        void reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
    });
    await app.listen({ port, host: "0.0.0.0" });
    return app;
}

/** Starts the proxy and its management server from a validated configuration. */
export async function runTerminalProxy(
    config: TerminalProxyConfig,
    logLevel = "info",
): Promise<{ proxy: TerminalProxy; stop(): Promise<void> }> {
    const log = pino({ level: logLevel });
    const metrics = new TerminalMetrics();
    const verify = accessTokenVerifier({
        issuer: config.oidc.issuer,
        jwksUrl: config.oidc.jwksUrl,
        audience: config.oidc.audience,
        tenant: config.tenantId,
        clockToleranceSeconds: config.oidc.clockToleranceSeconds,
    });
    const devices = new DeviceDirectory(
        {
            url: config.bridge.url,
            token: config.bridge.token,
            caPem: config.bridge.caPem,
            serverName: config.bridge.serverName,
        },
        config.bridge.cacheSeconds * 1000,
    );
    const proxy = await startTerminalProxy(config, { verify, devices, log, metrics });
    const state = { draining: false };
    const management = await managementServer(metrics, state, config.managementPort);
    log.info({ port: config.port, tenant: config.tenantId }, "terminal proxy listening");
    return {
        proxy,
        stop: async () => {
            state.draining = true;
            await proxy.drain();
            await management.close();
        },
    };
}

async function main(): Promise<void> {
    const config = configOrExit(readTerminalProxyConfig);
    const running = await runTerminalProxy(config, process.env.LOG_LEVEL ?? "info");
    let stopping = false;
    const stop = () => {
        if (stopping) return;
        stopping = true;
        void running.stop().then(() => process.exit(0));
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`terminal proxy: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
    });
}
