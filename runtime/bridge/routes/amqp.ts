import { randomBytes } from "node:crypto";
import { FastifyInstance } from "fastify";
import { AmqpPublisherResponse, metricsVhost, telemetryExchange } from "../../shared/onboarding";
import { RabbitmqAdmin } from "../../shared/rabbitmq-admin";
import { bearerToken } from "../auth";
import { ApiError, callPeer } from "../errors";
import { authenticateTenant, tenantEvent } from "../onboarding";
import { errorResponses } from "./context";
import { amqpPublisherRoute, ProviderRoutes, tenantParams } from "./provider-context";

/** The RabbitMQ user of a tenant's publisher. */
export function publisherUser(tenantId: string): string {
    return `tenant-${tenantId}`;
}

/** Each tenant's metrics publisher on the provider RabbitMQ, through its onboarding credential. */
export function amqpRoutes(app: FastifyInstance, r: ProviderRoutes): void {
    const rabbitmq = (): RabbitmqAdmin => {
        if (!r.rabbitmq) {
            throw new ApiError(501, "amqp_not_configured", "this provider bridge manages no RabbitMQ");
        }
        return r.rabbitmq;
    };

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
            const answer: AmqpPublisherResponse = {
                username: publisherUser(tenantId),
                password: randomBytes(32).toString("base64url"),
                vhost: metricsVhost,
                exchange: telemetryExchange,
                routing_key_prefix: `tenant.${tenantId}.`,
            };
            // One rotation per tenant at a time, recorded with it: concurrent calls cannot leave a
            // password nobody was told.
            await r.db.transaction(async (tx) => {
                await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`amqp:${tenantId}`]);
                await tenantEvent(tx, tenantId, "amqp publisher set", `tenant:${tenantId}`, {
                    username: answer.username,
                });
                await callPeer("RabbitMQ", () =>
                    rabbitmq().ensurePublisher({
                        username: answer.username,
                        password: answer.password,
                        vhost: answer.vhost,
                        exchange: answer.exchange,
                        routingKeyPrefix: answer.routing_key_prefix,
                    }),
                );
            });
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
            const user = publisherUser(tenantId);
            if (!(await callPeer("RabbitMQ", () => rabbitmq().deleteUser(user)))) {
                throw new ApiError(
                    404,
                    "amqp_publisher_not_found",
                    `tenant ${tenantId} has no AMQP publisher`,
                );
            }
            await r.db.transaction((tx) =>
                tenantEvent(tx, tenantId, "amqp publisher removed", `tenant:${tenantId}`, { username: user }),
            );
            return reply.code(204).send();
        },
    );
}
