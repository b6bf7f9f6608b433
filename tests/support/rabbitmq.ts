/**
 * The test broker (scripts/peers/rabbitmq.sh: Debian's RabbitMQ with the provider's definitions)
 * and clients of it as the platform makes them: the platform's users over AMQP, the management
 * API, and tenants' publishers made by the provider bridge's own code.
 */
import amqp, { ChannelModel } from "amqplib";
import { setPublisher } from "../../runtime/bridge/amqp-publisher";
import { Database } from "../../runtime/bridge/db/database";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { RabbitmqAdmin } from "../../runtime/shared/rabbitmq-admin";
import { startPeer, stopPeer } from "./peers";

export class TestBroker {
    private readonly connections: ChannelModel[] = [];

    /** `env`: the variables of the broker's env file (ports, the users' passwords, the CA). */
    private constructor(readonly env: Record<string, string>) {}

    /** Starts a fresh broker (a running one is stopped and wiped first). */
    static start(): TestBroker {
        return new TestBroker(startPeer("rabbitmq"));
    }

    /** The metrics vhost's plain AMQP URL for `user`. */
    amqpUrl(user: string, password: string): string {
        return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.env.AMQP_PORT}/${metricsVhost}`;
    }

    /** An AMQP connection to the metrics vhost as `user`, closed by `stop`. */
    async connect(user: string, password: string): Promise<ChannelModel> {
        return this.track(await amqp.connect(this.amqpUrl(user, password)));
    }

    /** Closes `connection` at `stop`; its errors (a refused channel closes it) are not thrown. */
    track(connection: ChannelModel): ChannelModel {
        connection.on("error", () => undefined);
        this.connections.push(connection);
        return connection;
    }

    /** A management API call as the test administrator or the bridge's user: status and parsed body. */
    async management(method: string, path: string, user: "admin" | "bridge" = "admin") {
        const [name, password] =
            user === "admin"
                ? [this.env.RABBITMQ_USERNAME, this.env.RABBITMQ_PASSWORD]
                : [this.env.RABBITMQ_BRIDGE_USERNAME, this.env.RABBITMQ_BRIDGE_PASSWORD];
        const res = await fetch(`${this.env.RABBITMQ_MGMT_URL}/api${path}`, {
            method,
            headers: { authorization: `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}` },
        });
        const text = await res.text();
        return { status: res.status, json: text ? JSON.parse(text) : undefined };
    }

    /** A tenant's publisher, made as the provider bridge makes it (with its own broker user), connected. */
    async tenantPublisher(db: Database, tenantId: string) {
        const admin = new RabbitmqAdmin({
            url: this.env.RABBITMQ_MGMT_URL,
            username: this.env.RABBITMQ_BRIDGE_USERNAME,
            password: this.env.RABBITMQ_BRIDGE_PASSWORD,
        });
        const answer = await setPublisher(db, admin, tenantId);
        return { answer, connection: await this.connect(answer.username, answer.password) };
    }

    /** Closes every connection made here and stops the broker. */
    async stop(): Promise<void> {
        for (const c of this.connections) await c.close().catch(() => undefined);
        stopPeer("rabbitmq");
    }
}

/** Publishes to the telemetry exchange with a publisher confirm, as a rule chain does. */
/**
 * The message properties of ThingsBoard's RabbitMQ rule node as the platform's rule chain sets
 * it (`messageProperties: PERSISTENT_BASIC`): persistent, an opaque body.
 */
export const ruleNodeProperties = { deliveryMode: 2, contentType: "application/octet-stream" } as const;

export async function publishConfirmed(
    connection: ChannelModel,
    messages: readonly { routingKey: string; body: string }[],
): Promise<void> {
    const channel = await connection.createConfirmChannel();
    for (const m of messages) {
        channel.publish(telemetryExchange, m.routingKey, Buffer.from(m.body), ruleNodeProperties);
    }
    await channel.waitForConfirms();
    await channel.close();
}
