/**
 * The provider Telegraf's configuration as typed data rendered to TOML: tenants' telemetry from
 * the provider RabbitMQ (Telegraf's queue on `cdm-metrics`) into the provider InfluxDB. Pure: the
 * Telegraf component deploys what `providerTelegrafConfig` renders, and the integration tests run
 * the real Telegraf on the same text with another output in place of InfluxDB.
 *
 * Credentials are never in the text: it names environment variables (`${VAR}`, which Telegraf
 * substitutes in string values when it loads the file) that the pod takes from Secrets.
 */
import { telemetryMessageKeys } from "../../runtime/shared/onboarding";
import { telemetryMeasurement } from "../influxdb/settings";
import { telegrafAmqpConsumer } from "../rabbitmq/definitions";
import { renderToml, TomlTable } from "./toml";

/** The environment variables the provider configuration reads (each from a Secret). */
export const providerTelegrafEnv = {
    rabbitmqUsername: "RABBITMQ_USERNAME",
    rabbitmqPassword: "RABBITMQ_PASSWORD",
    influxToken: "INFLUX_TOKEN",
} as const;

/** The pod's port of `outputs.health`, which the probes ask. */
export const healthPort = 8080;

/**
 * How much the consumer holds. Telegraf acknowledges a message only once every output has written
 * its metrics, so the broker's queue stays the durable buffer and Telegraf holds only what is in
 * flight: at most `maxUndelivered` messages, two write batches, so one batch fills while the other
 * is written (with fewer than one batch in flight, writes would wait for the flush interval). The
 * prefetch equals it: a smaller one would cap the flight below it, a larger one would have the
 * broker push messages Telegraf cannot take yet. The buffer holds the whole flight (one metric a
 * message) several times over: a full buffer drops its oldest metrics, and a dropped metric's
 * message is rejected and lost.
 */
export const consumerSizing = {
    metricBatchSize: 1000,
    maxUndelivered: 2000,
    prefetch: 2000,
    metricBufferLimit: 10_000,
} as const;

/**
 * `${name}` for Telegraf to substitute, failing the start with a message when the variable is
 * unset or empty (Telegraf would otherwise keep the literal `${name}`, and write with it).
 */
export function envRef(name: string): string {
    return `\${${name}:?is not set}`;
}

/**
 * The `[agent]` table: metrics batched and flushed at `flushInterval`, no `host` tag (on the
 * provider it would be the pod's name, a new series on every restart; on a device the `device`
 * tag names it), logs to stderr. `alwaysIncludeGlobalTags` puts a global tag back on metrics
 * whose input had a tag of that name and excludes it (`tagexclude`).
 */
export function agentTable(settings: {
    readonly interval: string;
    readonly flushInterval: string;
    readonly flushJitter: string;
    readonly metricBatchSize: number;
    readonly metricBufferLimit: number;
    readonly alwaysIncludeGlobalTags?: boolean;
}): TomlTable {
    return {
        name: "agent",
        array: false,
        values: {
            interval: settings.interval,
            round_interval: true,
            metric_batch_size: settings.metricBatchSize,
            metric_buffer_limit: settings.metricBufferLimit,
            collection_jitter: "0s",
            flush_interval: settings.flushInterval,
            flush_jitter: settings.flushJitter,
            precision: "0s",
            omit_hostname: true,
            ...(settings.alwaysIncludeGlobalTags ? { always_include_global_tags: true } : {}),
        },
    };
}

/** `[[outputs.influxdb_v2]]` writing to one InfluxDB 2 bucket; the values may be `${VAR}` references. */
export function influxdbOutput(target: {
    readonly url: string;
    readonly token: string;
    readonly organization: string;
    readonly bucket: string;
    readonly comment?: readonly string[];
}): TomlTable {
    return {
        name: "outputs.influxdb_v2",
        array: true,
        ...(target.comment ? { comment: target.comment } : {}),
        values: {
            urls: [target.url],
            token: target.token,
            organization: target.organization,
            bucket: target.bucket,
            timeout: "10s",
        },
    };
}

/**
 * `[[outputs.health]]` for the probes: 200 while Telegraf runs. It takes no metrics (`namedrop`
 * all): it would only hold a copy of each, and every metric's message would then also wait for it.
 */
export function healthOutput(port: number): TomlTable {
    return {
        name: "outputs.health",
        array: true,
        comment: ["Answers the probes (200 while Telegraf runs); no metric goes to it."],
        values: { service_address: `http://:${port}`, namedrop: ["*"] },
    };
}

/**
 * Keeps a message's metric only when it names its tenant and device. (Telegraf's filter, a CEL
 * expression: a message without them is dropped, as a parse error would drop it.)
 */
export const requiredTagsFilter = `'${telemetryMessageKeys.tenant}' in tags && '${telemetryMessageKeys.device}' in tags`;

/**
 * `[[inputs.amqp_consumer]]` on Telegraf's queue with the settings its broker user is made for
 * (`telegrafAmqpConsumer`: no exchange declared, the queue checked passively, nothing bound), and
 * Telegraf's `json` parser for the rule chains' messages: `tenant` and `device` become tags, `ts`
 * the time, and every other number a float field, nested objects flattened (`a_b`). Strings and
 * booleans are left out: every tenant writes to one measurement, where InfluxDB fixes each
 * field's type per shard, so one tenant's `"cpu_usage":"high"` would make every other tenant's
 * `cpu_usage` fail to write (json_v2 keeps them as string and boolean fields, hence not json_v2).
 * A message that is not JSON, or has no valid `ts`, fails to parse; one without `tenant` or
 * `device` is filtered out. Either way the broker drops it and Telegraf goes on.
 */
export function amqpConsumerInput(brokerUrl: string): TomlTable {
    const keys = telemetryMessageKeys;
    return {
        name: "inputs.amqp_consumer",
        array: true,
        comment: ["Tenants' telemetry: every rule chain's messages, from Telegraf's queue."],
        values: {
            brokers: [brokerUrl],
            username: envRef(providerTelegrafEnv.rabbitmqUsername),
            password: envRef(providerTelegrafEnv.rabbitmqPassword),
            ...telegrafAmqpConsumer,
            prefetch_count: consumerSizing.prefetch,
            max_undelivered_messages: consumerSizing.maxUndelivered,
            content_encoding: "identity",
            // Started before the broker is reachable, keep trying (the connect error is retryable).
            startup_error_behavior: "retry",
            name_override: telemetryMeasurement,
            metricpass: requiredTagsFilter,
            data_format: "json",
            json_strict: true,
            tag_keys: [keys.tenant, keys.device],
            json_time_key: keys.timestamp,
            json_time_format: "unix_ms",
            json_timezone: "UTC",
        },
    };
}

/** Where the provider Telegraf reads and writes. */
export interface ProviderTelegrafTarget {
    /** The metrics vhost's in-cluster AMQP URL, without credentials (`RabbitMq.amqpUrl`). */
    readonly brokerUrl: string;
    /** The output the metrics go to: `influxdbOutput(…)` when deployed; tests put another one here. */
    readonly output: TomlTable;
    /** The port `outputs.health` listens on (`healthPort` in the pod). */
    readonly healthPort: number;
}

/** The provider Telegraf's configuration file. */
export function providerTelegrafConfig(target: ProviderTelegrafTarget): string {
    return renderToml(
        [
            "The provider Telegraf: tenants' telemetry from RabbitMQ into the provider InfluxDB.",
            "Rendered by components/telegraf/config.ts; credentials come from the environment.",
        ],
        [
            agentTable({
                interval: "10s",
                flushInterval: "5s",
                flushJitter: "0s",
                metricBatchSize: consumerSizing.metricBatchSize,
                metricBufferLimit: consumerSizing.metricBufferLimit,
            }),
            amqpConsumerInput(target.brokerUrl),
            target.output,
            healthOutput(target.healthPort),
        ],
    );
}
