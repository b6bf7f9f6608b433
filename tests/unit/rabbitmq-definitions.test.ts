/** The provider RabbitMQ's definitions: topology, limits, users and their rendering, exactly. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
    metricsBrokerDefinitions,
    passwordHash,
    renderDefinitions,
    telegrafAmqpConsumer,
    telegrafPolicy,
    telegrafQueueLimits,
} from "../../components/rabbitmq/definitions";

const passwords = { bridge: "b".repeat(32), gate: "g".repeat(32), telegraf: "t".repeat(32) };

describe("RabbitMQ password hashes", () => {
    it("are RabbitMQ's salted SHA-256: base64 of a 4-byte salt and SHA-256(salt ‖ password)", () => {
        const raw = Buffer.from(passwordHash("telegraf", "correct horse battery staple"), "base64");
        expect(raw).toHaveLength(36);
        const salt = raw.subarray(0, 4);
        const digest = createHash("sha256")
            .update(Buffer.concat([salt, Buffer.from("correct horse battery staple")]))
            .digest();
        expect(raw.subarray(4).equals(digest)).toBe(true);
    });

    it("are stable for one user and password, and differ per user and per password", () => {
        expect(passwordHash("telegraf", "correct horse battery staple")).toBe(
            "hrRjLzbg7b5nHaQzR2ZZQ487PNNXYrTNdfdij3RHUIJF4F10",
        );
        expect(passwordHash("cdm-bridge", "correct horse battery staple")).toBe(
            "wyvnxhnS9NLB0pzYJnHWYxIuzu8WDwx+DEYcSUSHTX2kZIlZ",
        );
        expect(passwordHash("telegraf", "another password")).toBe(
            "UsiuNCz5J8ER1NFcUCGOA0j+uQOmOgQydarogYRmAyAlz3OD",
        );
    });
});

describe("metrics broker definitions", () => {
    it("declares the vhost, both exchanges, the intake and Telegraf's bounded quorum queues and three users", () => {
        expect(metricsBrokerDefinitions(passwords)).toEqual({
            users: [
                {
                    name: "cdm-bridge",
                    password_hash: "PPlt3SGPVcYm2ctvqYxvPuRBoi3/iZdJEVRXmMjZrvwouJq+",
                    hashing_algorithm: "rabbit_password_hashing_sha256",
                    tags: ["administrator"],
                },
                {
                    name: "telemetry-gate",
                    password_hash: "/ESkuj3wRoGQrec2lh6AyCI1e1ZqT2MMn82DjytjC/9P/uSg",
                    hashing_algorithm: "rabbit_password_hashing_sha256",
                    tags: [],
                },
                {
                    name: "telegraf",
                    password_hash: "z8idqZ6Bqjc265kx7Ar0GkrTbjBhKJQ4HwHAm52UNAmy9gK3",
                    hashing_algorithm: "rabbit_password_hashing_sha256",
                    tags: [],
                },
            ],
            vhosts: [{ name: "cdm-metrics" }],
            // The bridge has no permission in any vhost; the gate reads the intake queue and writes
            // the admitted exchange; Telegraf reads its queue only.
            permissions: [
                {
                    user: "telemetry-gate",
                    vhost: "cdm-metrics",
                    configure: "^$",
                    write: "^cdm\\.telemetry\\.admitted$",
                    read: "^cdm\\.telemetry\\.intake$",
                },
                {
                    user: "telegraf",
                    vhost: "cdm-metrics",
                    configure: "^$",
                    write: "^$",
                    read: "^cdm\\.telemetry\\.admitted\\.telegraf$",
                },
            ],
            exchanges: [
                {
                    name: "cdm.telemetry",
                    vhost: "cdm-metrics",
                    type: "topic",
                    durable: true,
                    auto_delete: false,
                    internal: false,
                    arguments: {},
                },
                {
                    name: "cdm.telemetry.admitted",
                    vhost: "cdm-metrics",
                    type: "topic",
                    durable: true,
                    auto_delete: false,
                    internal: false,
                    arguments: {},
                },
            ],
            queues: [
                {
                    name: "cdm.telemetry.intake",
                    vhost: "cdm-metrics",
                    durable: true,
                    auto_delete: false,
                    arguments: { "x-queue-type": "quorum" },
                },
                {
                    name: "cdm.telemetry.admitted.telegraf",
                    vhost: "cdm-metrics",
                    durable: true,
                    auto_delete: false,
                    arguments: { "x-queue-type": "quorum" },
                },
            ],
            // Tenants' keys into the intake queue; only what the gate forwards reaches Telegraf's.
            bindings: [
                {
                    source: "cdm.telemetry",
                    vhost: "cdm-metrics",
                    destination: "cdm.telemetry.intake",
                    destination_type: "queue",
                    routing_key: "tenant.#",
                    arguments: {},
                },
                {
                    source: "cdm.telemetry.admitted",
                    vhost: "cdm-metrics",
                    destination: "cdm.telemetry.admitted.telegraf",
                    destination_type: "queue",
                    routing_key: "tenant.#",
                    arguments: {},
                },
            ],
            policies: [
                {
                    vhost: "cdm-metrics",
                    name: "telegraf-queue-limits",
                    pattern: "^(cdm\\.telemetry\\.intake|cdm\\.telemetry\\.admitted\\.telegraf)$",
                    "apply-to": "queues",
                    priority: 0,
                    definition: {
                        "max-length": 1_000_000,
                        "max-length-bytes": 1_073_741_824,
                        overflow: "drop-head",
                        "delivery-limit": 20,
                    },
                },
                // Telegraf's queue before the gate, still bound to tenants' exchange on a broker
                // deployed then (an import never deletes): kept empty, so nothing goes round the gate.
                {
                    vhost: "cdm-metrics",
                    name: "retired-telegraf-queue",
                    pattern: "^cdm\\.telemetry\\.telegraf$",
                    "apply-to": "queues",
                    priority: 0,
                    definition: { "max-length": 0, overflow: "drop-head" },
                },
            ],
        });
    });

    it("bounds the queue by the limits it is given, dropping the oldest messages", () => {
        expect(telegrafQueueLimits).toEqual({
            maxLength: 1_000_000,
            maxLengthBytes: 1024 ** 3,
            deliveryLimit: 20,
        });
        expect(telegrafPolicy({ maxLength: 5, maxLengthBytes: 4096, deliveryLimit: 3 }).definition).toEqual({
            "max-length": 5,
            "max-length-bytes": 4096,
            overflow: "drop-head",
            "delivery-limit": 3,
        });
        expect(
            metricsBrokerDefinitions(passwords, { maxLength: 5, maxLengthBytes: 4096, deliveryLimit: 3 }),
        ).toEqual({
            ...metricsBrokerDefinitions(passwords),
            policies: [
                telegrafPolicy({ maxLength: 5, maxLengthBytes: 4096, deliveryLimit: 3 }),
                metricsBrokerDefinitions(passwords).policies[1],
            ],
        });
    });

    it("never carries a password, only its hash", () => {
        const text = renderDefinitions(metricsBrokerDefinitions(passwords));
        expect(text).not.toContain(passwords.bridge);
        expect(text).not.toContain(passwords.telegraf);
        expect(text).not.toContain(passwords.gate);
        expect(text).not.toMatch(/"password"/);
    });

    it("renders as two-space JSON with a final newline", () => {
        const definitions = metricsBrokerDefinitions(passwords);
        const text = renderDefinitions(definitions);
        expect(text).toBe(`${JSON.stringify(definitions, null, 2)}\n`);
        expect(text.split("\n").slice(0, 8)).toEqual([
            "{",
            '  "users": [',
            "    {",
            '      "name": "cdm-bridge",',
            '      "password_hash": "PPlt3SGPVcYm2ctvqYxvPuRBoi3/iZdJEVRXmMjZrvwouJq+",',
            '      "hashing_algorithm": "rabbit_password_hashing_sha256",',
            '      "tags": [',
            '        "administrator"',
        ]);
        expect(JSON.parse(text)).toEqual(definitions);
    });

    it("tells Telegraf to declare and bind nothing, so read on its queue is all it needs", () => {
        expect(telegrafAmqpConsumer).toEqual({
            exchange: "",
            queue: "cdm.telemetry.admitted.telegraf",
            queue_passive: true,
            binding_key: "",
        });
    });
});
