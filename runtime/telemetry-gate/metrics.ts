import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/** The telemetry gate's Prometheus metrics, in a registry of its own (several gates per test process). */
export class GateMetrics {
    readonly registry = new Registry();
    /** Messages taken from the intake queue, by outcome: `forwarded`, `malformed`, `mismatched`. */
    readonly messages = new Counter({
        name: "cdm_telemetry_gate_messages_total",
        help: "Messages from the intake queue by outcome (forwarded, malformed, mismatched)",
        labelNames: ["outcome"] as const,
        registers: [this.registry],
    });
    readonly consuming = new Gauge({
        name: "cdm_telemetry_gate_consuming",
        help: "1 while the gate consumes the intake queue",
        registers: [this.registry],
    });

    constructor(defaults = true) {
        if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "cdm_telemetry_gate_" });
    }
}
