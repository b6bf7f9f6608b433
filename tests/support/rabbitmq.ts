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
import { GateCounts, TelemetryGate } from "../../runtime/telemetry-gate/gate";
import { GateMetrics } from "../../runtime/telemetry-gate/metrics";
import { startPeer, stopPeer } from "./peers";
import { eventually } from "./telegraf";

/** The real telemetry gate, running in this process against the test broker. */
export interface RunningGate {
    readonly gate: TelemetryGate;
    /** What it logged at warn level. */
    readonly warnings: { details: Record<string, unknown>; message: string }[];
    /** Resolves once it has taken `count` more messages than when `mark` was taken. */
    handled(mark: number, count: number): Promise<void>;
    /** Messages taken so far (forwarded or dropped). */
    mark(): number;
    /** Drains and stops it. */
    stop(): Promise<void>;
}

const total = (c: GateCounts) => c.forwarded + c.malformed + c.mismatched;

export class TestBroker {
    private readonly connections: ChannelModel[] = [];
    private readonly gates: RunningGate[] = [];

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

    /**
     * Starts the telemetry gate with its own broker user, as deployed; resolves once it consumes.
     * `port`: reach the broker through this local port instead (a relay a test can cut).
     */
    async startGate(port?: number): Promise<RunningGate> {
        const warnings: RunningGate["warnings"] = [];
        const url = new URL(this.amqpUrl(this.env.RABBITMQ_GATE_USERNAME, this.env.RABBITMQ_GATE_PASSWORD));
        if (port) url.port = String(port);
        const gate = new TelemetryGate({
            url: url.toString(),
            prefetch: 200,
            metrics: new GateMetrics(false),
            refusalLogIntervalMs: 0,
            log: { info: () => undefined, warn: (details, message) => warnings.push({ details, message }) },
        });
        const stop = new AbortController();
        const running = gate.run(stop.signal);
        await eventually("the gate to consume", async () => gate.consuming || undefined);
        const handle: RunningGate = {
            gate,
            warnings,
            mark: () => total(gate.counts),
            handled: async (mark, count) => {
                await eventually(`${count} messages through the gate`, async () =>
                    total(gate.counts) >= mark + count ? true : undefined,
                );
            },
            stop: async () => {
                stop.abort();
                await running;
            },
        };
        this.gates.push(handle);
        return handle;
    }

    /** Closes every connection made here and stops the broker. */
    async stop(): Promise<void> {
        for (const g of this.gates) await g.stop();
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
