import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The terminal proxy's Prometheus metrics, in a registry of its own (several proxies per test process). */
export class TerminalMetrics {
    readonly registry = new Registry();
    readonly active = new Gauge({
        name: "cdm_terminal_sessions_active",
        help: "Terminal sessions open now",
        registers: [this.registry],
    });
    /** Session attempts by outcome: `started`, or the refusal's code. */
    readonly attempts = new Counter({
        name: "cdm_terminal_session_attempts_total",
        help: "Terminal session attempts by outcome",
        labelNames: ["outcome"] as const,
        registers: [this.registry],
    });
    readonly bytes = new Counter({
        name: "cdm_terminal_session_bytes_total",
        help: "Bytes relayed, by direction (to_device, to_client)",
        labelNames: ["direction"] as const,
        registers: [this.registry],
    });
    readonly duration = new Histogram({
        name: "cdm_terminal_session_duration_seconds",
        help: "Length of ended terminal sessions",
        buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600],
        registers: [this.registry],
    });
    readonly verification = new Histogram({
        name: "cdm_terminal_token_verification_seconds",
        help: "Time to verify an access token (JWKS fetches included)",
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
        registers: [this.registry],
    });

    constructor(defaults = true) {
        if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "cdm_terminal_" });
    }
}
