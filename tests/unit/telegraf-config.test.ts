/** The provider Telegraf's configuration and the TOML it is written in, exactly. */
import { describe, expect, it } from "vitest";
import {
    amqpConsumerInput,
    consumerSizing,
    envRef,
    influxdbOutput,
    providerTelegrafConfig,
} from "../../components/telegraf/config";
import { renderToml, tomlString, tomlValue } from "../../components/telegraf/toml";

describe("TOML rendering", () => {
    it("escapes strings as TOML basic strings", () => {
        expect(tomlString('a "b" \\ c')).toBe('"a \\"b\\" \\\\ c"');
        expect(tomlString("line\nnext\ttab\u0001")).toBe('"line\\nnext\\ttab\\u0001"');
        expect(tomlString("${VAR:?is not set}")).toBe('"${VAR:?is not set}"');
    });

    it("writes numbers, booleans and string lists, and refuses what TOML cannot hold", () => {
        expect(tomlValue(2000)).toBe("2000");
        expect(tomlValue(0.5)).toBe("0.5");
        expect(tomlValue(false)).toBe("false");
        expect(tomlValue(["a", 'b"'])).toBe('["a", "b\\""]');
        expect(tomlValue([])).toBe("[]");
        expect(() => tomlValue(Number.NaN)).toThrow("TOML has no number NaN");
    });

    it("nests sub-tables under their parent's full name, after the parent's keys", () => {
        const text = renderToml(
            ["head", ""],
            [
                { name: "agent", array: false, values: { a: 1 } },
                {
                    name: "inputs.x",
                    array: true,
                    comment: ["why"],
                    values: { k: "v", "odd key": true },
                    tables: [
                        {
                            name: "sub",
                            array: true,
                            values: {},
                            tables: [{ name: "leaf", array: false, values: { z: 0 } }],
                        },
                    ],
                },
            ],
        );
        expect(text).toBe(
            [
                "# head",
                "#",
                "",
                "[agent]",
                "  a = 1",
                "",
                "# why",
                "[[inputs.x]]",
                '  k = "v"',
                '  "odd key" = true',
                "  [[inputs.x.sub]]",
                "    [inputs.x.sub.leaf]",
                "      z = 0",
                "",
            ].join("\n"),
        );
    });
});

describe("provider Telegraf configuration", () => {
    const brokerUrl = "amqp://rabbitmq.cdm-provider.svc.cluster.local:5672/cdm-metrics";
    const output = influxdbOutput({
        url: "http://influxdb.cdm-provider.svc.cluster.local:8086",
        token: envRef("INFLUX_TOKEN"),
        organization: "cdm",
        bucket: "telemetry",
    });

    it("renders the whole file exactly", () => {
        expect(providerTelegrafConfig({ brokerUrl, output, healthPort: 8080 }))
            .toBe(`# The provider Telegraf: tenants' telemetry from RabbitMQ into the provider InfluxDB.
# Rendered by components/telegraf/config.ts; credentials come from the environment.

[agent]
  interval = "10s"
  round_interval = true
  metric_batch_size = 1000
  metric_buffer_limit = 10000
  collection_jitter = "0s"
  flush_interval = "5s"
  flush_jitter = "0s"
  precision = "0s"
  omit_hostname = true

# Tenants' telemetry: every rule chain's messages, from Telegraf's queue.
[[inputs.amqp_consumer]]
  brokers = ["amqp://rabbitmq.cdm-provider.svc.cluster.local:5672/cdm-metrics"]
  username = "\${RABBITMQ_USERNAME:?is not set}"
  password = "\${RABBITMQ_PASSWORD:?is not set}"
  exchange = ""
  queue = "cdm.telemetry.admitted.telegraf"
  queue_passive = true
  binding_key = ""
  prefetch_count = 2000
  max_undelivered_messages = 2000
  content_encoding = "identity"
  startup_error_behavior = "retry"
  name_override = "device_telemetry"
  metricpass = "'tenant' in tags && 'device' in tags"
  data_format = "json"
  json_strict = true
  tag_keys = ["tenant", "device"]
  json_time_key = "ts"
  json_time_format = "unix_ms"
  json_timezone = "UTC"

[[outputs.influxdb_v2]]
  urls = ["http://influxdb.cdm-provider.svc.cluster.local:8086"]
  token = "\${INFLUX_TOKEN:?is not set}"
  organization = "cdm"
  bucket = "telemetry"
  timeout = "10s"

# Answers the probes (200 while Telegraf runs); no metric goes to it.
[[outputs.health]]
  service_address = "http://:8080"
  namedrop = ["*"]
`);
    });

    it("takes the output as a parameter, so a test can read what Telegraf would write", () => {
        const file = { name: "outputs.file", array: true, values: { files: ["/tmp/out.lp"] } };
        const text = providerTelegrafConfig({ brokerUrl, output: file, healthPort: 8080 });
        expect(text).toContain('[[outputs.file]]\n  files = ["/tmp/out.lp"]\n');
        expect(text).not.toContain("influxdb_v2");
    });

    it("consumes with exactly what Telegraf's broker user allows: no exchange, a passive queue, no binding", () => {
        const values = amqpConsumerInput(brokerUrl).values;
        expect(values).toMatchObject({
            exchange: "",
            queue: "cdm.telemetry.admitted.telegraf",
            queue_passive: true,
            binding_key: "",
        });
        expect(values).not.toHaveProperty("exchange_passive");
    });

    it("sizes the flight: two batches undelivered, the same prefetch, a buffer that holds it", () => {
        expect(consumerSizing.maxUndelivered).toBe(2 * consumerSizing.metricBatchSize);
        expect(consumerSizing.prefetch).toBe(consumerSizing.maxUndelivered);
        expect(consumerSizing.metricBufferLimit).toBeGreaterThanOrEqual(2 * consumerSizing.maxUndelivered);
    });

    it("holds no credential: only references to the environment", () => {
        const text = providerTelegrafConfig({ brokerUrl, output, healthPort: 8080 });
        const secrets = text.split("\n").filter((l) => /^\s*(password|token|username)\s*=/.test(l));
        expect(secrets).toEqual([
            '  username = "${RABBITMQ_USERNAME:?is not set}"',
            '  password = "${RABBITMQ_PASSWORD:?is not set}"',
            '  token = "${INFLUX_TOKEN:?is not set}"',
        ]);
    });
});
