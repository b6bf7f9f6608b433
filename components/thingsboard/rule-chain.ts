/**
 * The platform's rule chain as ThingsBoard's `RuleChainMetaData` (`POST /api/ruleChain/metadata`,
 * reference/components.md §1.7): it saves what devices send, forwards the selected metrics to the
 * provider RabbitMQ in the platform's message shape, and tells the tenant bridge when a device
 * connects. Pure; the bootstrap Job renders it with the credentials it reads from Secrets.
 *
 *   Message Type Switch ─ Post telemetry ─▶ Save Timeseries
 *                       ├ Post attributes ─▶ Save Client Attributes
 *                       ├ Post telemetry ─▶ Has Forwarded Metrics ─ True ─▶ Forwarded Message ─▶ Provider RabbitMQ
 *                       ├ Connect Event ─▶ Connect Webhook Body ─▶ Tenant Bridge Connect Webhook
 *                       └ Connect Event ─▶ Assign To Operators
 */
import { operatorsCustomer } from "./users";

/** The chain's name; the bootstrap finds an existing chain by it. */
export const ruleChainName = "cdm-telemetry";

/** Metrics forwarded to the provider when the stack names none (`cdm:forwardedMetrics`). */
export const defaultForwardedMetrics: readonly string[] = ["cpu_usage", "mem_free_mb"];

/** The fields the chain adds to every forwarded message, before the metrics. */
export const forwardedEnvelope = ["tenant", "device", "ts"] as const;

/** What makes a metric name forwardable: a plain identifier, never one of the envelope's fields. */
export function metricNameProblem(name: string): string | undefined {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
        return `"${name}" is not a metric name (letters, digits and _, starting with a letter or _, at most 64)`;
    }
    if ((forwardedEnvelope as readonly string[]).includes(name)) {
        return `"${name}" is a field the chain adds itself`;
    }
    return undefined;
}

function checkMetrics(metrics: readonly string[]): void {
    if (metrics.length === 0) throw new Error("at least one metric must be forwarded");
    const problem = metrics.map(metricNameProblem).find((p) => p !== undefined);
    if (problem) throw new Error(problem);
    if (new Set(metrics).size !== metrics.length) throw new Error("the forwarded metrics repeat a name");
}

/** A message value as devices send it. */
export type MetricValue = string | number | boolean;

/**
 * The body the chain publishes for one telemetry message, exactly as the TBEL script builds it:
 * `{"tenant":"<id>","device":"<name>","ts":<ms>, <metric>: <value>...}` with the forwarded
 * metrics the message has, in the configured order. The provider Telegraf and the benchmark
 * rely on this shape.
 */
export function forwardedMessage(
    tenantId: string,
    deviceName: string,
    ts: number,
    telemetry: Readonly<Record<string, MetricValue>>,
    metrics: readonly string[],
): Record<string, MetricValue> {
    const out: Record<string, MetricValue> = { tenant: tenantId, device: deviceName, ts };
    for (const name of metrics) {
        if (Object.prototype.hasOwnProperty.call(telemetry, name)) out[name] = telemetry[name];
    }
    return out;
}

/** TBEL literal of the metric list. */
const metricList = (metrics: readonly string[]) => `[${metrics.map((m) => JSON.stringify(m)).join(", ")}]`;

/** TBEL: true when the telemetry message carries at least one forwarded metric. */
export function forwardFilterScript(metrics: readonly string[]): string {
    checkMetrics(metrics);
    return [
        `var forwarded = ${metricList(metrics)};`,
        "for (var i = 0; i < forwarded.size(); i++) {",
        "    if (msg.containsKey(forwarded[i])) {",
        "        return true;",
        "    }",
        "}",
        "return false;",
    ].join("\n");
}

/**
 * TBEL: the forwarded message (see `forwardedMessage`). The device is the message's originator
 * name and `ts` the time ThingsBoard received it (metadata, milliseconds), so the provider sees
 * the same device and time as the tenant's own time series.
 */
export function forwardTransformScript(tenantId: string, metrics: readonly string[]): string {
    checkMetrics(metrics);
    return [
        `var forwarded = ${metricList(metrics)};`,
        `var out = {"tenant": ${JSON.stringify(tenantId)}, "device": metadata.deviceName, "ts": parseLong(metadata.ts)};`,
        "for (var i = 0; i < forwarded.size(); i++) {",
        "    var name = forwarded[i];",
        "    if (msg.containsKey(name)) {",
        "        out[name] = msg[name];",
        "    }",
        "}",
        "return {msg: out, metadata: metadata, msgType: msgType};",
    ].join("\n");
}

/** The connect webhook's body for a device (`POST /webhooks/thingsboard/connect`). */
export function connectWebhookBody(deviceName: string): { device_id: string } {
    return { device_id: deviceName };
}

/** TBEL: the connect webhook's body (see `connectWebhookBody`). */
export const connectTransformScript =
    'return {msg: {"device_id": metadata.deviceName}, metadata: metadata, msgType: msgType};';

/** How the chain reaches the provider RabbitMQ (through the pod's TLS client proxy). */
export interface AmqpTarget {
    readonly host: string;
    readonly port: number;
    readonly virtualHost: string;
    readonly exchange: string;
    readonly username: string;
    readonly password: string;
}

/** Everything the chain is made of. */
export interface RuleChainSettings {
    readonly tenantId: string;
    readonly forwardedMetrics: readonly string[];
    readonly amqp: AmqpTarget;
    /** The bridge's connect webhook URL as tb-node reaches it, and ThingsBoard's token there. */
    readonly connectWebhook: { readonly url: string; readonly token: string };
}

/** One rule node of the metadata. */
export interface RuleNodeBody {
    readonly type: string;
    readonly name: string;
    readonly configurationVersion: number;
    readonly singletonMode: false;
    readonly debugMode: false;
    readonly configuration: Record<string, unknown>;
    readonly additionalInfo: { readonly layoutX: number; readonly layoutY: number };
}

/** `RuleChainMetaData` of the chain `ruleChainId`. */
export interface RuleChainMetadataBody {
    readonly ruleChainId: { readonly entityType: "RULE_CHAIN"; readonly id: string };
    readonly firstNodeIndex: number;
    readonly nodes: readonly RuleNodeBody[];
    readonly connections: readonly {
        readonly fromIndex: number;
        readonly toIndex: number;
        readonly type: string;
    }[];
    readonly ruleChainConnections: readonly never[];
}

const engine = "org.thingsboard.rule.engine";
const everyMessage = { type: "ON_EVERY_MESSAGE" };

function node(
    type: string,
    name: string,
    configuration: Record<string, unknown>,
    [layoutX, layoutY]: [number, number],
    configurationVersion = 0,
): RuleNodeBody {
    return {
        type: `${engine}.${type}`,
        name,
        configurationVersion,
        singletonMode: false,
        debugMode: false,
        configuration,
        additionalInfo: { layoutX, layoutY },
    };
}

const tbel = (script: string) => ({
    scriptLang: "TBEL",
    tbelScript: script,
    // Unused with TBEL; ThingsBoard's validation expects the key.
    jsScript: "return {msg: msg, metadata: metadata, msgType: msgType};",
});

/**
 * The chain's nodes and connections. Saving comes first and does not wait for forwarding: a
 * provider outage never loses the tenant's own data. The RabbitMQ node publishes only the message
 * body (hence the transform), persistent, to `cdm.telemetry` with the routing key
 * `tenant.<id>.<device>` that the tenant's publisher may write; it declares nothing (the
 * provider's definitions do). Its connection has no TLS option: `amqp.host` is the pod's TLS
 * client proxy on loopback, which carries it to the provider's AMQPS endpoint. The webhook call
 * goes the same way, with ThingsBoard's bearer token. A connecting device is also assigned to the
 * operators' customer (made if missing), the only devices ThingsBoard shows its users; assigning
 * again on every connect also undoes an unassignment.
 */
export function ruleChainMetadata(settings: RuleChainSettings, ruleChainId: string): RuleChainMetadataBody {
    const { amqp, connectWebhook } = settings;
    const nodes = [
        node("filter.TbMsgTypeSwitchNode", "Message Type Switch", { version: 0 }, [300, 150]),
        node(
            "telemetry.TbMsgTimeseriesNode",
            "Save Timeseries",
            { defaultTTL: 0, useServerTs: false, processingSettings: everyMessage },
            [650, 50],
            1,
        ),
        node(
            "telemetry.TbMsgAttributesNode",
            "Save Client Attributes",
            {
                processingSettings: everyMessage,
                scope: "CLIENT_SCOPE",
                notifyDevice: false,
                sendAttributesUpdatedNotification: false,
                updateAttributesOnlyOnValueChange: true,
            },
            [650, 150],
            3,
        ),
        node(
            "filter.TbJsFilterNode",
            "Has Forwarded Metrics",
            tbel(forwardFilterScript(settings.forwardedMetrics)),
            [650, 250],
        ),
        node(
            "transform.TbTransformMsgNode",
            "Forwarded Message",
            tbel(forwardTransformScript(settings.tenantId, settings.forwardedMetrics)),
            [950, 250],
        ),
        node(
            "rabbitmq.TbRabbitMqNode",
            "Provider RabbitMQ",
            {
                exchangeNamePattern: amqp.exchange,
                routingKeyPattern: `tenant.${settings.tenantId}.\${deviceName}`,
                messageProperties: "PERSISTENT_BASIC",
                host: amqp.host,
                port: amqp.port,
                virtualHost: amqp.virtualHost,
                username: amqp.username,
                password: amqp.password,
                automaticRecoveryEnabled: true,
                connectionTimeout: 60000,
                handshakeTimeout: 10000,
                clientProperties: {},
            },
            [1250, 250],
        ),
        node(
            "transform.TbTransformMsgNode",
            "Connect Webhook Body",
            tbel(connectTransformScript),
            [650, 350],
        ),
        node(
            "rest.TbRestApiCallNode",
            "Tenant Bridge Connect Webhook",
            {
                restEndpointUrlPattern: connectWebhook.url,
                requestMethod: "POST",
                headers: {
                    "Content-Type": "application/json",
                    Authorization: `Bearer ${connectWebhook.token}`,
                },
                useSimpleClientHttpFactory: false,
                readTimeoutMs: 10000,
                maxParallelRequestsCount: 0,
                parseToPlainText: false,
                enableProxy: false,
                useSystemProxyProperties: false,
                ignoreRequestBody: false,
                credentials: { type: "anonymous" },
                maxInMemoryBufferSizeInKb: 256,
            },
            [950, 350],
        ),
        node(
            "action.TbAssignToCustomerNode",
            "Assign To Operators",
            { customerNamePattern: operatorsCustomer, createCustomerIfNotExists: true },
            [650, 450],
            1,
        ),
    ];
    const index = (name: string) => nodes.findIndex((n) => n.name === name);
    const link = (from: string, to: string, type: string) => ({
        fromIndex: index(from),
        toIndex: index(to),
        type,
    });
    return {
        ruleChainId: { entityType: "RULE_CHAIN", id: ruleChainId },
        firstNodeIndex: 0,
        nodes,
        connections: [
            link("Message Type Switch", "Save Timeseries", "Post telemetry"),
            link("Message Type Switch", "Save Client Attributes", "Post attributes"),
            link("Message Type Switch", "Has Forwarded Metrics", "Post telemetry"),
            link("Has Forwarded Metrics", "Forwarded Message", "True"),
            link("Forwarded Message", "Provider RabbitMQ", "Success"),
            link("Message Type Switch", "Connect Webhook Body", "Connect Event"),
            link("Connect Webhook Body", "Tenant Bridge Connect Webhook", "Success"),
            link("Message Type Switch", "Assign To Operators", "Connect Event"),
        ],
        ruleChainConnections: [],
    };
}
