/**
 * Telemetry messages per second through the provider's real RabbitMQ (scripts/peers/rabbitmq.sh:
 * Debian's broker booted with the program's definitions) on the platform's path: a tenant's
 * publisher, made by the provider bridge's code, publishes the rule chain's exact message
 * (`{"tenant","device","ts","cpu_usage","mem_free_mb"}`, persistent, routing key
 * `tenant.<id>.<device>`) with publisher confirms to the `cdm.telemetry` topic exchange; the real
 * telemetry gate (runtime/telemetry-gate, in this process, as its own broker user) checks each
 * message from the intake quorum queue and forwards it with a confirm to Telegraf's quorum queue;
 * and Telegraf's user consumes that as Telegraf does (passive declare, its prefetch, one ack per
 * message). The baseline, in the same run on the same broker: a plain
 * loop, the same messages published without confirms to a transient classic queue through the
 * default exchange and consumed without acks.
 *
 * Both loops keep at most `window` messages between publisher and consumer: the test broker
 * bounds Telegraf's queue (drop-head at TELEGRAF_QUEUE_MAX_LENGTH) and a message dropped would
 * not be counted; every message sent must arrive, and the run checks that it did.
 */
import { PGlite } from "@electric-sql/pglite";
import amqp, { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { telegrafQueue } from "../../components/rabbitmq/definitions";
import { consumerSizing } from "../../components/telegraf/config";
import { defaultForwardedMetrics, forwardedMessage } from "../../components/thingsboard/rule-chain";
import { setPublisher } from "../../runtime/bridge/amqp-publisher";
import { pgliteDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { RabbitmqAdmin } from "../../runtime/shared/rabbitmq-admin";
import { TelemetryGate } from "../../runtime/telemetry-gate/gate";
import { GateMetrics } from "../../runtime/telemetry-gate/metrics";
import { startPeer, stopPeer } from "../support/peers";
import { ruleNodeProperties } from "../support/rabbitmq";
import { Scenario, scenario } from "./scenario";

/** True when Debian's RabbitMQ is installed (its install is not part of a quick run). */
export function rabbitmqInstalled(): boolean {
    return existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server");
}

/**
 * The rule chain's forwarded message for telemetry message `i` of device `dev-<n>`, built by the
 * chain's own TypeScript mirror from the spec's MQTT message.
 */
export function ruleChainMessage(i: number, devices: number): { routingKey: string; body: Buffer } {
    const device = `dev-${(i % devices) + 1}`;
    const telemetry = {
        cpu_usage: Math.round((i * 7.3) % 1000) / 10,
        mem_free_mb: 256 + (i % 768),
        sw_version: "1.4.2",
        rauc_slot: "B",
        ota_status: "idle",
    };
    const body = forwardedMessage("acme", device, 1767225600000 + i * 10, telemetry, defaultForwardedMetrics);
    return { routingKey: `tenant.acme.${device}`, body: Buffer.from(JSON.stringify(body)) };
}

/** Counts deliveries and lets a publisher wait until at most `window` messages are unconsumed. */
class Flow {
    received = 0;
    last?: Buffer;
    private waiter?: () => void;

    constructor(private readonly window: number) {}

    delivered(body: Buffer): void {
        this.received++;
        this.last = body;
        this.waiter?.();
    }

    /** Resolves once `sent - received <= window - batch`. */
    async room(sent: number, batch: number): Promise<void> {
        while (sent - this.received > this.window - batch) {
            await new Promise<void>((resolve) => (this.waiter = resolve));
        }
    }
}

async function timedLoop(
    messages: readonly { routingKey: string; body: Buffer }[],
    window: number,
    batch: number,
    publish: (m: { routingKey: string; body: Buffer }) => void,
    afterBatch: () => Promise<void>,
    flow: Flow,
): Promise<number> {
    const start = performance.now();
    for (let sent = 0; sent < messages.length;) {
        await flow.room(sent, batch);
        const end = Math.min(sent + batch, messages.length);
        for (; sent < end; sent++) publish(messages[sent]);
        await afterBatch();
    }
    await flow.room(messages.length, window);
    return messages.length / ((performance.now() - start) / 1000);
}

/**
 * The platform's path: tenant publisher with confirms → exchange → intake queue → gate → admitted
 * exchange → Telegraf's quorum queue.
 */
async function platformPath(
    rabbit: Record<string, string>,
    messages: { routingKey: string; body: Buffer }[],
) {
    const url = (user: string, password: string) =>
        `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${rabbit.AMQP_PORT}/${metricsVhost}`;
    const db = pgliteDatabase(new PGlite());
    await migrate(db);
    const admin = new RabbitmqAdmin({
        url: rabbit.RABBITMQ_MGMT_URL,
        username: rabbit.RABBITMQ_BRIDGE_USERNAME,
        password: rabbit.RABBITMQ_BRIDGE_PASSWORD,
    });
    const tenant = await setPublisher(db, admin, "acme");
    const connections: ChannelModel[] = [];
    const stopGate = new AbortController();
    const gate = new TelemetryGate({
        url: url(rabbit.RABBITMQ_GATE_USERNAME, rabbit.RABBITMQ_GATE_PASSWORD),
        prefetch: 200,
        metrics: new GateMetrics(false),
        log: { info: () => undefined, warn: (details) => console.warn("gate:", details) },
    });
    const gateRun = gate.run(stopGate.signal);
    try {
        const publisher = await amqp.connect(url(tenant.username, tenant.password));
        const consumer = await amqp.connect(
            url(rabbit.RABBITMQ_TELEGRAF_USERNAME, rabbit.RABBITMQ_TELEGRAF_PASSWORD),
        );
        connections.push(publisher, consumer);
        const window = Math.min(200, Math.floor(Number(rabbit.TELEGRAF_QUEUE_MAX_LENGTH) * 0.8));
        const flow = new Flow(window);
        const take: Channel = await consumer.createChannel();
        await take.checkQueue(telegrafQueue);
        await take.purgeQueue(telegrafQueue);
        await take.prefetch(consumerSizing.prefetch);
        await take.consume(telegrafQueue, (m) => {
            if (!m) return;
            take.ack(m);
            flow.delivered(m.content);
        });
        const channel: ConfirmChannel = await publisher.createConfirmChannel();
        const rate = await timedLoop(
            messages,
            window,
            Math.min(50, Math.floor(window / 2)),
            (m) => channel.publish(telemetryExchange, m.routingKey, m.body, ruleNodeProperties),
            () => channel.waitForConfirms(),
            flow,
        );
        // Its last confirms may come after Telegraf's user has the messages: count once it drained.
        stopGate.abort();
        await gateRun;
        if (gate.counts.forwarded !== messages.length) {
            throw new Error(`the gate forwarded ${gate.counts.forwarded} of ${messages.length}`);
        }
        return { rate, flow, window };
    } finally {
        stopGate.abort();
        await gateRun;
        for (const c of connections) await c.close().catch(() => undefined);
        await db.close();
    }
}

/** The broker's plain loop: default exchange, transient classic queue, no confirms, no acks. */
async function plainLoop(rabbit: Record<string, string>, messages: { body: Buffer }[], window: number) {
    const connection = await amqp.connect(
        `amqp://${encodeURIComponent(rabbit.RABBITMQ_USERNAME)}:${encodeURIComponent(rabbit.RABBITMQ_PASSWORD)}@127.0.0.1:${rabbit.AMQP_PORT}/${metricsVhost}`,
    );
    try {
        const channel = await connection.createChannel();
        const { queue } = await channel.assertQueue("", { exclusive: true, durable: false });
        const flow = new Flow(window);
        await channel.consume(queue, (m) => m && flow.delivered(m.content), { noAck: true });
        const batch = Math.min(50, Math.floor(window / 2));
        const rate = await timedLoop(
            messages.map((m) => ({ routingKey: queue, body: m.body })),
            window,
            batch,
            (m) => channel.sendToQueue(queue, m.body),
            async () => undefined,
            flow,
        );
        return { rate, flow };
    } finally {
        await connection.close().catch(() => undefined);
    }
}

export async function telemetryAmqp(quick: boolean): Promise<Scenario[]> {
    const count = quick ? 3000 : 30_000;
    const rabbit = startPeer("rabbitmq");
    try {
        const messages = Array.from({ length: count }, (_, i) => ruleChainMessage(i, 50));
        const warmUp = messages.slice(0, 500);
        // Warm-up, not timed: connections, the quorum queue's log, both code paths.
        const warm = await platformPath(rabbit, warmUp);
        await plainLoop(rabbit, warmUp, warm.window);
        const platform = await platformPath(rabbit, messages);
        const plain = await plainLoop(rabbit, messages, platform.window);
        for (const [name, run] of [
            ["platform", platform.flow],
            ["plain", plain.flow],
        ] as const) {
            if (run.received !== count) throw new Error(`${name} loop: ${run.received} of ${count} arrived`);
        }
        const last = JSON.parse(platform.flow.last!.toString());
        if (Object.keys(last).join() !== "tenant,device,ts,cpu_usage,mem_free_mb") {
            throw new Error(`the queue delivered another shape: ${platform.flow.last!.toString()}`);
        }
        return [
            scenario(
                "telemetry via RabbitMQ (confirmed, quorum)",
                "rule-chain messages through cdm.telemetry and the telemetry gate to Telegraf's queue per second, vs a plain publish/consume loop",
                "msg/s",
                platform.rate,
                plain.rate,
            ),
        ];
    } finally {
        stopPeer("rabbitmq");
    }
}
