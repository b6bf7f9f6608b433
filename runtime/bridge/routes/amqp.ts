import { FastifyInstance } from "fastify";
import { setPublisher, removePublisher } from "../amqp-publisher";
import { bearerToken } from "../auth";
import { authenticateTenant } from "../onboarding";
import { errorResponses } from "./context";
import { amqpPublisherRoute, configured, ProviderRoutes, tenantParams } from "./provider-context";

/** Each tenant's metrics publisher on the provider RabbitMQ, through its onboarding credential. */
export function amqpRoutes(app: FastifyInstance, r: ProviderRoutes): void {
    const rabbitmq = () =>
        configured(r.rabbitmq, "amqp_not_configured", "this provider bridge manages no RabbitMQ");

    app.post<{ Params: { tenantId: string } }>(
        amqpPublisherRoute,
        {
            schema: {
                summary:
                    "Create the tenant's publisher, or rotate its password: it may publish to the telemetry exchange with routing keys tenant.<id>. only",
                tags: ["onboarding"],
                params: tenantParams,
                response: {
                    201: {
                        type: "object",
                        properties: {
                            username: { type: "string" },
                            password: { type: "string" },
                            vhost: { type: "string" },
                            exchange: { type: "string" },
                            routing_key_prefix: { type: "string" },
                        },
                    },
                    ...errorResponses(401, 403, 501, 503),
                },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            await authenticateTenant(r.db, tenantId, bearerToken(request));
            const answer = await setPublisher(r.db, rabbitmq(), tenantId);
            request.log.info({ tenantId, username: answer.username }, "AMQP publisher set");
            return reply.code(201).send(answer);
        },
    );

    app.delete<{ Params: { tenantId: string } }>(
        amqpPublisherRoute,
        {
            schema: {
                summary: "Remove the tenant's publisher",
                tags: ["onboarding"],
                params: tenantParams,
                response: { 204: { type: "null" }, ...errorResponses(401, 403, 404, 501, 503) },
            },
        },
        async (request, reply) => {
            const { tenantId } = request.params;
            await authenticateTenant(r.db, tenantId, bearerToken(request));
            await removePublisher(r.db, rabbitmq(), tenantId);
            request.log.info({ tenantId }, "AMQP publisher removed");
            return reply.code(204).send();
        },
    );
}
