import { FastifyInstance } from "fastify";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The bridge's Prometheus metrics, in a registry of its own (several bridges per test process). */
export class BridgeMetrics {
    readonly registry = new Registry();
    /** Enrollments by outcome: `enrolled`, `reenrolled`, or the error code of a refusal. */
    readonly enrollments = new Counter({
        name: "cdm_bridge_enrollments_total",
        help: "Device enrollments by outcome",
        labelNames: ["outcome"] as const,
        registers: [this.registry],
    });
    readonly enrollmentSeconds = new Histogram({
        name: "cdm_bridge_enrollment_duration_seconds",
        help: "Time to answer an enrollment, successful or not",
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [this.registry],
    });
    readonly requestSeconds = new Histogram({
        name: "cdm_bridge_http_request_duration_seconds",
        help: "HTTP requests by route and status",
        labelNames: ["method", "route", "status"] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
        registers: [this.registry],
    });
    readonly lifecycle = new Counter({
        name: "cdm_bridge_device_operations_total",
        help: "Renewals, decommissions and connect webhooks by outcome",
        labelNames: ["operation", "outcome"] as const,
        registers: [this.registry],
    });

    /** ThingsBoard logins mapped: `tenant_admin`, `operator`, or the error code of a refusal. */
    readonly thingsboardLogins = new Counter({
        name: "cdm_bridge_thingsboard_logins_total",
        help: "ThingsBoard logins mapped to ThingsBoard users, by outcome",
        labelNames: ["outcome"] as const,
        registers: [this.registry],
    });

    constructor(defaults = true) {
        if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "cdm_bridge_" });
    }

    /** Times every request of `app` by its route pattern (never the raw URL: ids would explode the labels). */
    observe(app: FastifyInstance): void {
        app.addHook("onResponse", async (request, reply) => {
            this.requestSeconds.observe(
                {
                    method: request.method,
                    route: request.routeOptions.url ?? "unmatched",
                    status: String(reply.statusCode),
                },
                reply.elapsedTime / 1000,
            );
        });
    }
}
