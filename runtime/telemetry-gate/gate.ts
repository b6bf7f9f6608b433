/**
 * The telemetry gate between tenants and Telegraf on the provider broker: consumes the intake
 * queue (every tenant's forwarded telemetry), forwards each message that admitTelemetry admits to
 * the admitted exchange unchanged, and drops the rest, counted and logged. A message is
 * acknowledged only after the broker has confirmed its forward, so a gate that stops or loses its
 * connection mid-way loses nothing (the broker redelivers what was not acknowledged; a message
 * forwarded twice is one point in InfluxDB, whose points are keyed by series and time).
 */
import amqp, { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from "amqplib";
import { retryUntilDone } from "../shared/retry";
import { admitTelemetry, Refusal } from "./admission";
import { GateMetrics } from "./metrics";

/** The queue the gate consumes and the exchange it forwards to (components/rabbitmq/definitions.ts). */
export const gateTopology = {
    intakeQueue: "cdm.telemetry.intake",
    admittedExchange: "cdm.telemetry.admitted",
} as const;

/** Where the gate reports (a pino logger fits). */
export interface GateLog {
    info(details: Record<string, unknown>, message: string): void;
    warn(details: Record<string, unknown>, message: string): void;
}

export interface GateOptions {
    /** The metrics vhost's AMQP URL with the gate's credentials. */
    readonly url: string;
    /** Messages in flight (delivered, not yet acknowledged) at most. */
    readonly prefetch: number;
    readonly log: GateLog;
    readonly metrics: GateMetrics;
    /** TLS settings for an `amqps` URL. */
    readonly socketOptions?: Record<string, unknown>;
    /** Refusals of one tenant and reason are logged once per this many milliseconds. */
    readonly refusalLogIntervalMs?: number;
}

/** What the gate has done since it started. */
export interface GateCounts {
    forwarded: number;
    malformed: number;
    mismatched: number;
}

/**
 * The properties a forward keeps. Not `userId`: RabbitMQ checks it against the publishing user,
 * which is now the gate's. Not the broker's own `x-` headers (a quorum queue's delivery count).
 */
export function forwardedProperties(properties: MessageProperties): Options.Publish {
    const headers = Object.fromEntries(
        Object.entries(properties.headers ?? {}).filter(([name]) => !name.startsWith("x-")),
    );
    const kept: Options.Publish = {
        contentType: properties.contentType,
        contentEncoding: properties.contentEncoding,
        deliveryMode: properties.deliveryMode,
        priority: properties.priority,
        messageId: properties.messageId,
        timestamp: properties.timestamp,
        type: properties.type,
        appId: properties.appId,
        headers: Object.keys(headers).length ? headers : undefined,
    };
    return Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined));
}

export class TelemetryGate {
    readonly counts: GateCounts = { forwarded: 0, malformed: 0, mismatched: 0 };
    /** True while consuming. */
    consuming = false;
    private readonly lastRefusalLog = new Map<string, { at: number; suppressed: number }>();

    constructor(private readonly options: GateOptions) {}

    /** Consumes until `signal` aborts, reconnecting with backoff whenever the broker goes away. */
    async run(signal: AbortSignal): Promise<void> {
        await retryUntilDone(() => this.session(signal), {
            signal,
            initialDelayMs: 500,
            maxDelayMs: 15_000,
            onFailure: (error, retryInMs) =>
                this.options.log.warn(
                    { error: error instanceof Error ? error.message : String(error), retryInMs },
                    "telemetry gate: broker connection failed",
                ),
        });
    }

    /** One connection: resolves when `signal` aborts (after draining), rejects when the connection is lost. */
    private async session(signal: AbortSignal): Promise<void> {
        const connection = await amqp.connect(this.options.url, {
            ...this.options.socketOptions,
            clientProperties: { connection_name: "cdm-telemetry-gate" },
        });
        try {
            const lost = new Promise<never>((_, reject) => {
                connection.on("error", () => undefined);
                connection.on("close", () => reject(new Error("the broker closed the connection")));
            });
            lost.catch(() => undefined);
            const channel = await connection.createConfirmChannel();
            channel.on("error", () => undefined);
            await channel.prefetch(this.options.prefetch);
            const cancelled = new Promise<never>((_, reject) => {
                channel.on("close", () => reject(new Error("the broker closed the channel")));
            });
            cancelled.catch(() => undefined);
            const { consumerTag } = await channel.consume(gateTopology.intakeQueue, (message) => {
                if (message) this.handle(channel, message);
            });
            this.consuming = true;
            this.options.metrics.connected.set(1);
            this.options.log.info({ queue: gateTopology.intakeQueue }, "telemetry gate consuming");
            const aborted = new Promise<void>((resolve) => {
                if (signal.aborted) resolve();
                signal.addEventListener("abort", () => resolve(), { once: true });
            });
            await Promise.race([aborted, lost, cancelled]);
            // Shutting down: take nothing more, let the forwards in flight be confirmed and acknowledged.
            await channel.cancel(consumerTag);
            await channel.waitForConfirms();
            await connection.close();
        } finally {
            this.consuming = false;
            this.options.metrics.connected.set(0);
            connection.removeAllListeners("close");
            await connection.close().catch(() => undefined);
        }
    }

    private handle(channel: ConfirmChannel, message: ConsumeMessage): void {
        const { routingKey } = message.fields;
        const verdict = admitTelemetry(routingKey, message.content);
        if (!verdict.admitted) {
            this.refused(verdict.reason, verdict.tenant, routingKey, verdict.detail);
            channel.ack(message);
            return;
        }
        channel.publish(
            gateTopology.admittedExchange,
            routingKey,
            message.content,
            forwardedProperties(message.properties),
            (error) => {
                // A nack puts the message back for another try; a closed channel returns it anyway.
                if (error) channel.nack(message, false, true);
                else {
                    channel.ack(message);
                    this.counts.forwarded++;
                    this.options.metrics.messages.inc({ outcome: "forwarded" });
                }
            },
        );
    }

    private refused(reason: Refusal, tenant: string | undefined, routingKey: string, detail: string): void {
        this.counts[reason]++;
        this.options.metrics.messages.inc({ outcome: reason });
        // One line per tenant and reason per interval: a broken rule chain sends many a second.
        const key = `${tenant ?? ""}/${reason}`;
        const now = Date.now();
        const last = this.lastRefusalLog.get(key);
        if (last && now - last.at < (this.options.refusalLogIntervalMs ?? 60_000)) {
            last.suppressed++;
            return;
        }
        this.lastRefusalLog.set(key, { at: now, suppressed: 0 });
        this.options.log.warn(
            { tenant, reason, routingKey, detail, alsoSinceLastLine: last?.suppressed ?? 0 },
            "telemetry gate dropped a message",
        );
    }
}
