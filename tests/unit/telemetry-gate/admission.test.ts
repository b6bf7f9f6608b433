import { describe, expect, it } from "vitest";
import { admitTelemetry } from "../../../runtime/telemetry-gate/admission";
import { forwardedProperties } from "../../../runtime/telemetry-gate/gate";
import { readGateConfig } from "../../../runtime/telemetry-gate/main";
import { EnvError } from "../../../runtime/shared/env";

const body = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value));

describe("admitTelemetry", () => {
    it("admits a body that names its routing key's tenant and device", () => {
        expect(
            admitTelemetry("tenant.acme.dev-1", body({ tenant: "acme", device: "dev-1", ts: 1, cpu: 2 })),
        ).toEqual({ admitted: true, tenant: "acme", device: "dev-1" });
        // ThingsBoard device names may hold dots: the device is the rest of the key.
        expect(admitTelemetry("tenant.acme.line.3", body({ tenant: "acme", device: "line.3" }))).toEqual({
            admitted: true,
            tenant: "acme",
            device: "line.3",
        });
    });

    it("refuses another tenant's or device's name in the body, and a body without them", () => {
        expect(admitTelemetry("tenant.acme.dev-1", body({ tenant: "globex", device: "dev-1" }))).toEqual({
            admitted: false,
            reason: "mismatched",
            detail: 'the body\'s tenant is "globex", its routing key\'s "acme"',
            tenant: "acme",
        });
        expect(admitTelemetry("tenant.acme.dev-1", body({ tenant: "acme", device: "dev-2" }))).toMatchObject({
            admitted: false,
            reason: "mismatched",
            detail: 'the body\'s device is "dev-2", its routing key\'s "dev-1"',
        });
        expect(admitTelemetry("tenant.acme.dev-1", body({ device: "dev-1" }))).toMatchObject({
            reason: "mismatched",
            detail: "the body's tenant is nothing, its routing key's \"acme\"",
        });
        // A number is not the tenant's name either.
        expect(admitTelemetry("tenant.acme.7", body({ tenant: "acme", device: 7 }))).toMatchObject({
            reason: "mismatched",
        });
    });

    it("refuses what is not a JSON object, and keys that are not tenant.<id>.<device>", () => {
        for (const [key, content, detail] of [
            ["tenant.acme.dev-1", "not json", "the body is not JSON"],
            ["tenant.acme.dev-1", "[1,2]", "the body is not a JSON object"],
            ["tenant.acme.dev-1", "null", "the body is not a JSON object"],
            ["tenant.acme.dev-1", '"acme"', "the body is not a JSON object"],
            ["tenant.acme.", "{}", 'routing key "tenant.acme." is not tenant.<id>.<device>'],
            ["tenant.Acme.d", "{}", 'routing key "tenant.Acme.d" is not tenant.<id>.<device>'],
            ["other.acme.d", "{}", 'routing key "other.acme.d" is not tenant.<id>.<device>'],
        ]) {
            expect(admitTelemetry(key, body(content)), key + content).toMatchObject({
                admitted: false,
                reason: "malformed",
                detail,
            });
        }
    });

    it("names no metric value in its detail, and cuts a long claimed name", () => {
        const long = "x".repeat(500);
        const verdict = admitTelemetry(
            "tenant.acme.dev-1",
            body({ tenant: long, device: "dev-1", secret: 42 }),
        );
        expect(verdict.admitted).toBe(false);
        if (!verdict.admitted) {
            expect(verdict.detail).toBe(`the body's tenant is "${"x".repeat(79)}, its routing key's "acme"`);
            expect(verdict.detail).not.toContain("42");
        }
    });
});

describe("forwardedProperties", () => {
    it("keeps the publisher's properties and headers, not user-id or the broker's x- headers", () => {
        expect(
            forwardedProperties({
                contentType: "application/octet-stream",
                contentEncoding: undefined,
                deliveryMode: 2,
                priority: undefined,
                correlationId: undefined,
                replyTo: undefined,
                expiration: undefined,
                messageId: "m-1",
                timestamp: 1767225600,
                type: undefined,
                userId: "tenant-acme",
                appId: "thingsboard",
                clusterId: undefined,
                headers: { "x-delivery-count": 2, origin: "rule-chain" },
            }),
        ).toEqual({
            contentType: "application/octet-stream",
            deliveryMode: 2,
            messageId: "m-1",
            timestamp: 1767225600,
            appId: "thingsboard",
            headers: { origin: "rule-chain" },
        });
    });
});

describe("readGateConfig", () => {
    it("puts the credentials into the URL, encoded, and takes the defaults", () => {
        expect(
            readGateConfig({
                GATE_AMQP_URL: "amqp://rabbitmq.cdm-provider.svc.cluster.local:5672/cdm-metrics",
                RABBITMQ_USERNAME: "telemetry-gate",
                RABBITMQ_PASSWORD: "p@ss/word",
            }),
        ).toEqual({
            url: "amqp://telemetry-gate:p%40ss%2Fword@rabbitmq.cdm-provider.svc.cluster.local:5672/cdm-metrics",
            prefetch: 200,
            managementPort: 9467,
        });
    });

    it("names every bad variable, never echoing the password", () => {
        let error: unknown;
        try {
            readGateConfig({
                GATE_AMQP_URL: "http://u:p@rabbitmq/cdm-metrics",
                RABBITMQ_PASSWORD: "hunter2",
                GATE_PREFETCH: "0",
            });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EnvError);
        expect((error as EnvError).problems).toEqual([
            "GATE_AMQP_URL must be a amqp URL, not http:",
            "RABBITMQ_USERNAME is required: the gate's broker user",
            'GATE_PREFETCH must be an integer in 1..10000, not "0"',
            "GATE_AMQP_URL must not carry credentials (RABBITMQ_* do)",
        ]);
        expect((error as EnvError).message).not.toContain("hunter2");
    });
});
