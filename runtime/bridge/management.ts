import Fastify, { FastifyInstance } from "fastify";
import { Queryable } from "./db/database";
import { BridgeMetrics } from "./metrics";

/**
 * The management server, on its own port that the ingress never exposes: liveness (the process
 * answers), readiness (the database answers and the schema is current; false while shutting
 * down, so the Service stops sending traffic before the API closes) and Prometheus metrics.
 */
export async function managementServer(
    db: Queryable,
    metrics: BridgeMetrics,
    state: { draining: boolean },
): Promise<FastifyInstance> {
    const app = Fastify({ logger: false });
    app.get("/healthz", async () => ({ status: "ok" }));
    app.get("/readyz", async (_request, reply) => {
        if (state.draining) return reply.code(503).send({ status: "draining" });
        try {
            await db.query("SELECT 1 FROM schema_migrations LIMIT 1");
            return { status: "ready" };
        } catch {
            return reply.code(503).send({ status: "database unavailable" });
        }
    });
    app.get("/metrics", async (_request, reply) => {
        void reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
    });
    await app.ready();
    return app;
}
