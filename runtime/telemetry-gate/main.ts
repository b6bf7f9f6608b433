/**
 * The telemetry gate's service (a Deployment of the provider stack). Configuration from the
 * environment (exit 2 naming every bad variable); on the management port `/healthz` answers
 * 200 while the process runs (a broker outage is not cured by a restart), `/readyz` 200 while it
 * consumes, `/metrics` has its counters. SIGTERM drains: no new
 * message is taken, those in flight are forwarded and acknowledged, then it exits.
 */
import { createServer, Server } from "node:http";
import pino from "pino";
import { configOrExit, EnvReader } from "../shared/env";
import { TelemetryGate } from "./gate";
import { GateMetrics } from "./metrics";

export interface GateConfig {
    /** The metrics vhost's AMQP URL with the gate's credentials in it. */
    readonly url: string;
    readonly prefetch: number;
    readonly managementPort: number;
}

/** Reads and checks the environment; throws an EnvError naming every bad variable. */
export function readGateConfig(env: Readonly<Record<string, string | undefined>>): GateConfig {
    const r = new EnvReader(env);
    // Plain AMQP: the broker's in-cluster Service (TLS is for tenants, at the LoadBalancer).
    const base = r.url("GATE_AMQP_URL", ["amqp"], "the metrics vhost's AMQP URL, without credentials");
    const username = r.required("RABBITMQ_USERNAME", "the gate's broker user");
    const password = r.required("RABBITMQ_PASSWORD", "the gate's broker password");
    const prefetch = r.integer("GATE_PREFETCH", 200, 1, 10_000);
    const managementPort = r.integer("GATE_MANAGEMENT_PORT", 9467, 1, 65535);
    r.check("GATE_AMQP_URL", base, (v) =>
        URL.canParse(v) && (new URL(v).username || new URL(v).password)
            ? "must not carry credentials (RABBITMQ_* do)"
            : undefined,
    );
    r.done();
    const url = new URL(base!);
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
    return { url: url.toString(), prefetch, managementPort };
}

/** `/healthz` (200), `/readyz` (200 while consuming, else 503) and `/metrics`. */
export function managementServer(gate: TelemetryGate, metrics: GateMetrics): Server {
    return createServer((req, res) => {
        if (req.url === "/metrics") {
            metrics.registry.metrics().then(
                (text) => {
                    res.writeHead(200, { "content-type": metrics.registry.contentType });
                    res.end(text);
                },
                () => res.writeHead(500).end(),
            );
            return;
        }
        if (req.url !== "/healthz" && req.url !== "/readyz") {
            res.writeHead(404).end();
            return;
        }
        const ok = req.url === "/healthz" || gate.consuming;
        res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify({ consuming: gate.consuming, ...gate.counts }));
    });
}

async function main(): Promise<void> {
    const config = configOrExit(readGateConfig);
    const log = pino({ level: process.env.LOG_LEVEL ?? "info" });
    const metrics = new GateMetrics();
    const gate = new TelemetryGate({ url: config.url, prefetch: config.prefetch, log, metrics });
    const management = managementServer(gate, metrics);
    management.listen(config.managementPort);
    const stop = new AbortController();
    process.on("SIGTERM", () => stop.abort());
    process.on("SIGINT", () => stop.abort());
    await gate.run(stop.signal);
    management.close();
    log.info({ ...gate.counts }, "telemetry gate stopped");
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(
            `telemetry gate failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
    });
}
