import { randomBytes } from "node:crypto";
import { AmqpPublisherResponse, metricsVhost, telemetryExchange } from "../shared/onboarding";
import { RabbitmqAdmin } from "../shared/rabbitmq-admin";
import { Database } from "./db/database";
import { ApiError, callPeer } from "./errors";
import { tenantEvent } from "./onboarding";

/** The RabbitMQ user of a tenant's publisher. */
export function publisherUser(tenantId: string): string {
    return `tenant-${tenantId}`;
}

/**
 * Creates the tenant's publisher or gives it a new password. One rotation per tenant at a time,
 * recorded with it: concurrent calls cannot leave a password nobody was told.
 */
export async function setPublisher(
    db: Database,
    rabbitmq: RabbitmqAdmin,
    tenantId: string,
): Promise<AmqpPublisherResponse> {
    const answer: AmqpPublisherResponse = {
        username: publisherUser(tenantId),
        password: randomBytes(32).toString("base64url"),
        vhost: metricsVhost,
        exchange: telemetryExchange,
        routing_key_prefix: `tenant.${tenantId}.`,
    };
    await db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`amqp:${tenantId}`]);
        await tenantEvent(tx, tenantId, "amqp publisher set", `tenant:${tenantId}`, {
            username: answer.username,
        });
        await callPeer("RabbitMQ", () =>
            rabbitmq.ensurePublisher({
                username: answer.username,
                password: answer.password,
                vhost: answer.vhost,
                exchange: answer.exchange,
                routingKeyPrefix: answer.routing_key_prefix,
            }),
        );
    });
    return answer;
}

/** Removes the tenant's publisher; 404 when there is none. */
export async function removePublisher(
    db: Database,
    rabbitmq: RabbitmqAdmin,
    tenantId: string,
): Promise<void> {
    const user = publisherUser(tenantId);
    if (!(await callPeer("RabbitMQ", () => rabbitmq.deleteUser(user)))) {
        throw new ApiError(404, "amqp_publisher_not_found", `tenant ${tenantId} has no AMQP publisher`);
    }
    await db.transaction((tx) =>
        tenantEvent(tx, tenantId, "amqp publisher removed", `tenant:${tenantId}`, { username: user }),
    );
}
