/** The rule chain: its nodes and connections exactly, its TBEL scripts, and the forwarded message shape. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    connectTransformScript,
    connectWebhookBody,
    forwardedMessage,
    forwardFilterScript,
    forwardTransformScript,
    metricNameProblem,
    MetricValue,
    ruleChainMetadata,
    RuleChainSettings,
} from "../../components/thingsboard/rule-chain";

const settings: RuleChainSettings = {
    tenantId: "acme",
    forwardedMetrics: ["cpu_usage", "mem_free_mb"],
    amqp: {
        host: "127.0.0.1",
        port: 5672,
        virtualHost: "cdm-metrics",
        exchange: "cdm.telemetry",
        username: "tenant-acme",
        password: "publisher-password",
    },
    connectWebhook: { url: "http://127.0.0.1:18443/webhooks/thingsboard/connect", token: "webhook-token" },
};
const jsScript = "return {msg: msg, metadata: metadata, msgType: msgType};";
const layout = (layoutX: number, layoutY: number) => ({ layoutX, layoutY });
const base = { singletonMode: false, debugMode: false };

const transformScript = [
    'var forwarded = ["cpu_usage", "mem_free_mb"];',
    'var out = {"tenant": "acme", "device": metadata.deviceName, "ts": parseLong(metadata.ts)};',
    "for (var i = 0; i < forwarded.size(); i++) {",
    "    var name = forwarded[i];",
    "    if (msg.containsKey(name)) {",
    "        out[name] = msg[name];",
    "    }",
    "}",
    "return {msg: out, metadata: metadata, msgType: msgType};",
].join("\n");
const filterScript = [
    'var forwarded = ["cpu_usage", "mem_free_mb"];',
    "for (var i = 0; i < forwarded.size(); i++) {",
    "    if (msg.containsKey(forwarded[i])) {",
    "        return true;",
    "    }",
    "}",
    "return false;",
].join("\n");

describe("rule chain", () => {
    it("renders RuleChainMetaData exactly", () => {
        const md = ruleChainMetadata(settings, "chain-1");
        expect(md.ruleChainId).toEqual({ entityType: "RULE_CHAIN", id: "chain-1" });
        expect(md.firstNodeIndex).toBe(0);
        expect(md.ruleChainConnections).toEqual([]);
        expect(md.nodes).toEqual([
            {
                ...base,
                type: "org.thingsboard.rule.engine.filter.TbMsgTypeSwitchNode",
                name: "Message Type Switch",
                configurationVersion: 0,
                configuration: { version: 0 },
                additionalInfo: layout(300, 150),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.telemetry.TbMsgTimeseriesNode",
                name: "Save Timeseries",
                configurationVersion: 1,
                configuration: {
                    defaultTTL: 0,
                    useServerTs: false,
                    processingSettings: { type: "ON_EVERY_MESSAGE" },
                },
                additionalInfo: layout(650, 50),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.telemetry.TbMsgAttributesNode",
                name: "Save Client Attributes",
                configurationVersion: 3,
                configuration: {
                    processingSettings: { type: "ON_EVERY_MESSAGE" },
                    scope: "CLIENT_SCOPE",
                    notifyDevice: false,
                    sendAttributesUpdatedNotification: false,
                    updateAttributesOnlyOnValueChange: true,
                },
                additionalInfo: layout(650, 150),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.filter.TbJsFilterNode",
                name: "Has Forwarded Metrics",
                configurationVersion: 0,
                configuration: { scriptLang: "TBEL", tbelScript: filterScript, jsScript },
                additionalInfo: layout(650, 250),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.transform.TbTransformMsgNode",
                name: "Forwarded Message",
                configurationVersion: 0,
                configuration: { scriptLang: "TBEL", tbelScript: transformScript, jsScript },
                additionalInfo: layout(950, 250),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.rabbitmq.TbRabbitMqNode",
                name: "Provider RabbitMQ",
                configurationVersion: 0,
                configuration: {
                    exchangeNamePattern: "cdm.telemetry",
                    routingKeyPattern: "tenant.acme.${deviceName}",
                    messageProperties: "PERSISTENT_BASIC",
                    host: "127.0.0.1",
                    port: 5672,
                    virtualHost: "cdm-metrics",
                    username: "tenant-acme",
                    password: "publisher-password",
                    automaticRecoveryEnabled: true,
                    connectionTimeout: 60000,
                    handshakeTimeout: 10000,
                    clientProperties: {},
                },
                additionalInfo: layout(1250, 250),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.transform.TbTransformMsgNode",
                name: "Connect Webhook Body",
                configurationVersion: 0,
                configuration: {
                    scriptLang: "TBEL",
                    tbelScript:
                        'return {msg: {"device_id": metadata.deviceName}, metadata: metadata, msgType: msgType};',
                    jsScript,
                },
                additionalInfo: layout(650, 350),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.rest.TbRestApiCallNode",
                name: "Tenant Bridge Connect Webhook",
                configurationVersion: 0,
                configuration: {
                    restEndpointUrlPattern: "http://127.0.0.1:18443/webhooks/thingsboard/connect",
                    requestMethod: "POST",
                    headers: { "Content-Type": "application/json", Authorization: "Bearer webhook-token" },
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
                additionalInfo: layout(950, 350),
            },
            {
                ...base,
                type: "org.thingsboard.rule.engine.action.TbAssignToCustomerNode",
                name: "Assign To Operators",
                // Version 1: the customer cache setting of version 0 is gone.
                configurationVersion: 1,
                configuration: { customerNamePattern: "Operators", createCustomerIfNotExists: true },
                additionalInfo: layout(650, 450),
            },
        ]);
        expect(md.connections).toEqual([
            { fromIndex: 0, toIndex: 1, type: "Post telemetry" },
            { fromIndex: 0, toIndex: 2, type: "Post attributes" },
            { fromIndex: 0, toIndex: 3, type: "Post telemetry" },
            { fromIndex: 3, toIndex: 4, type: "True" },
            { fromIndex: 4, toIndex: 5, type: "Success" },
            { fromIndex: 0, toIndex: 6, type: "Connect Event" },
            { fromIndex: 6, toIndex: 7, type: "Success" },
            { fromIndex: 0, toIndex: 8, type: "Connect Event" },
        ]);
    });

    it("builds the forwarded message in the platform's shape", () => {
        const telemetry = { mem_free_mb: 512, cpu_usage: 23.4, sw_version: "1.0.0", rauc_slot: "B" };
        const message = forwardedMessage("acme", "dev-1", 1767225600000, telemetry, [
            "cpu_usage",
            "mem_free_mb",
        ]);
        expect(JSON.stringify(message)).toBe(
            '{"tenant":"acme","device":"dev-1","ts":1767225600000,"cpu_usage":23.4,"mem_free_mb":512}',
        );
        expect(
            forwardedMessage("acme", "dev-1", 1, { mem_free_mb: 0 }, ["cpu_usage", "mem_free_mb"]),
        ).toEqual({
            tenant: "acme",
            device: "dev-1",
            ts: 1,
            mem_free_mb: 0,
        });
        expect(connectWebhookBody("dev-1")).toEqual({ device_id: "dev-1" });
    });
});

describe("TBEL scripts and their TypeScript mirrors", () => {
    // The scripts use two TBEL conveniences JavaScript lacks: List.size() and Map.containsKey().
    beforeAll(() => {
        Object.defineProperty(Array.prototype, "size", {
            value(this: unknown[]) {
                return this.length;
            },
            configurable: true,
        });
    });
    afterAll(() => {
        delete (Array.prototype as unknown as Record<string, unknown>).size;
    });
    const tbelMap = (values: Record<string, unknown>) =>
        Object.defineProperty({ ...values }, "containsKey", {
            value: (key: string) => Object.prototype.hasOwnProperty.call(values, key),
        });
    const run = (script: string, msg: Record<string, unknown>, metadata: Record<string, string>) =>
        new Function("msg", "metadata", "msgType", "parseLong", script)(
            tbelMap(msg),
            metadata,
            "POST_TELEMETRY_REQUEST",
            (text: string) => Number.parseInt(text, 10),
        );

    it("name the same fields: the envelope, then the configured metrics", () => {
        const script = forwardTransformScript("acme", ["cpu_usage", "mem_free_mb"]);
        const outLine = script.split("\n").find((line) => line.startsWith("var out = {"))!;
        const envelope = [...outLine.matchAll(/"(\w+)": /g)].map((m) => m[1]);
        const mirror = Object.keys(forwardedMessage("acme", "d", 0, {}, []));
        expect(envelope).toEqual(mirror);
        expect(envelope).toEqual(["tenant", "device", "ts"]);
        expect(script).toContain('var forwarded = ["cpu_usage", "mem_free_mb"];');
    });

    it("compute the same message for the same telemetry", () => {
        const metrics = ["cpu_usage", "mem_free_mb", "disk_free_mb"];
        const metadata = { deviceName: "dev-7", deviceType: "default", ts: "1767225600123" };
        for (const msg of <Record<string, MetricValue>[]>[
            { cpu_usage: 23.4, mem_free_mb: 512, sw_version: "1.0.0" },
            { disk_free_mb: 100, ota_status: "idle" },
            { cpu_usage: 0 },
        ]) {
            const out = run(forwardTransformScript("acme", metrics), msg, metadata).msg;
            expect(JSON.stringify(out)).toBe(
                JSON.stringify(forwardedMessage("acme", "dev-7", 1767225600123, msg, metrics)),
            );
        }
        expect(run(forwardFilterScript(metrics), { sw_version: "1.0.0" }, metadata)).toBe(false);
        expect(run(forwardFilterScript(metrics), { disk_free_mb: 1 }, metadata)).toBe(true);
        expect(run(connectTransformScript, {}, metadata).msg).toEqual(connectWebhookBody("dev-7"));
    });

    it("refuse metric names that would break the script or the envelope", () => {
        expect(metricNameProblem("cpu_usage")).toBeUndefined();
        expect(metricNameProblem('a"); evil(')).toBe(
            '"a"); evil(" is not a metric name (letters, digits and _, starting with a letter or _, at most 64)',
        );
        expect(metricNameProblem("ts")).toBe('"ts" is a field the chain adds itself');
        expect(() => forwardTransformScript("acme", [])).toThrow("at least one metric must be forwarded");
        expect(() => forwardFilterScript(["a", "a"])).toThrow("the forwarded metrics repeat a name");
    });
});
