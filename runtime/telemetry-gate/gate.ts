/**
 * The telemetry gate between tenants and Telegraf on the provider broker: consumes the intake
 * queue (every tenant's forwarded telemetry), forwards each message that admitTelemetry admits to
 * the admitted exchange unchanged, and drops the rest, counted and logged. A message is
 * acknowledged only after the broker has confirmed its forward, so a gate that stops or loses its
 * connection mid-way loses nothing (the broker redelivers what was not acknowledged; a message
 * forwarded twice is one point in InfluxDB, whose points are keyed by series and time).
 */
import amqp, { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from "amqplib";
import { abortableSleep } from "../shared/retry";
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

const initialDelayMs = 500;
const maxDelayMs = 15_000;

export class TelemetryGate {
    readonly counts: GateCounts = { forwarded: 0, malformed: 0, mismatched: 0 };
    /** True while consuming. */
    consuming = false;
    private readonly lastRefusalLog = new Map<string, { at: number; suppressed: number }>();

    constructor(private readonly options: GateOptions) {}

    /**
     * Consumes until `signal` aborts. Whenever a session cannot start or ends without being
     * asked to, the next one starts after a backoff (0.5 s doubling to 15 s), which a session
     * that ran for a minute resets.
     */
    async run(signal: AbortSignal): Promise<void> {
        let delay = initialDelayMs;
        while (!signal.aborted) {
            const started = Date.now();
            const why = await this.session(signal).catch(
                (error: unknown) => `cannot consume: ${messageOf(error)}`,
            );
            if (signal.aborted) return;
            if (Date.now() - started >= 60_000) delay = initialDelayMs;
            this.options.log.warn({ error: why, retryInMs: delay }, "telemetry gate: broker session ended");
            await abortableSleep(delay, signal);
            delay = Math.min(delay * 2, maxDelayMs);
        }
    }

    /**
     * One connection. Rejects when it cannot start consuming; once consuming, resolves when
     * `signal` aborts (after draining; with "") or when the connection, the channel or the
     * consumer is lost (with why; the broker requeues what was not acknowledged).
     */
    private async session(signal: AbortSignal): Promise<string> {
        const connection = await amqp.connect(this.options.url, {
            clientProperties: { connection_name: "cdm-telemetry-gate" },
        });
        let stop: (why: string) => void = () => undefined;
        const stopped = new Promise<string>((resolve) => (stop = resolve));
        const onAbort = () => stop("");
        try {
            connection.on("error", (error: Error) => stop(`connection error: ${error.message}`));
            connection.on("close", () => stop("the broker closed the connection"));
            const channel = await connection.createConfirmChannel();
            channel.on("error", (error: Error) => stop(`channel error: ${error.message}`));
            channel.on("close", () => stop("the broker closed the channel"));
            await channel.prefetch(this.options.prefetch);
            const { consumerTag } = await channel.consume(gateTopology.intakeQueue, (message) => {
                // null: the broker cancelled the consumer (its queue was deleted).
                if (message) this.handle(channel, message, stop);
                else stop("the broker cancelled the consumer");
            });
            this.consuming = true;
            this.options.metrics.consuming.set(1);
            this.options.log.info({ queue: gateTopology.intakeQueue }, "telemetry gate consuming");
            if (signal.aborted) onAbort();
            signal.addEventListener("abort", onAbort, { once: true });
            const why = await stopped;
            if (why) return why;
            // Shutting down: take nothing more, let the forwards in flight be confirmed and acknowledged.
            await channel.cancel(consumerTag);
            await channel.waitForConfirms();
            return "";
        } finally {
            signal.removeEventListener("abort", onAbort);
            this.consuming = false;
            this.options.metrics.consuming.set(0);
            await connection.close().catch(() => undefined);
        }
    }

    private handle(channel: ConfirmChannel, message: ConsumeMessage, stop: (why: string) => void): void {
        const { routingKey } = message.fields;
        const verdict = admitTelemetry(routingKey, message.content);
        if (!verdict.admitted) {
            this.refused(verdict.reason, verdict.tenant, routingKey, verdict.detail);
            acknowledge(channel, message, stop);
            return;
        }
        channel.publish(
            gateTopology.admittedExchange,
            routingKey,
            message.content,
            forwardedProperties(message.properties),
            (error) => {
                if (error) {
                    // The broker refused the forward, or the channel closed (then it may not be
                    // used, and the broker requeues the message itself). Either way start over
                    // on a new connection, after which the message comes again.
                    stop(`a forward was not confirmed: ${messageOf(error)}`);
                } else if (acknowledge(channel, message, stop)) {
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

function messageOf(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

/**
 * Acknowledges `message`; false when the channel is already closing (amqplib then throws, and
 * the broker requeues the message for the next session anyway).
 */
function acknowledge(channel: ConfirmChannel, message: ConsumeMessage, stop: (why: string) => void): boolean {
    try {
        channel.ack(message);
        return true;
    } catch (error) {
        stop(`an acknowledgement could not be sent: ${messageOf(error)}`);
        return false;
    }
}
