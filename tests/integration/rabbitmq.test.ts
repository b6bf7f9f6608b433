/**
 * The provider RabbitMQ's definitions on a real broker (scripts/peers/rabbitmq.sh boots Debian's
 * RabbitMQ with the file components/rabbitmq/definitions.ts renders): the users exist with the
 * hashed passwords and nothing else does; the provider bridge's user keeps tenants' publishers
 * through the bridge's own code and can do nothing over AMQP; Telegraf consumes its queue and can
 * neither publish, declare nor bind; a tenant's message lands in Telegraf's queue as published;
 * the queue drops its oldest messages beyond its limit and never refuses a publisher; AMQPS with
 * the deployed TLS settings serves the chain to its root.
 */
import { PGlite } from "@electric-sql/pglite";
import amqp, { Channel, ChannelModel } from "amqplib";
import { readFileSync } from "node:fs";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    telegrafPolicy,
    telegrafQueue,
    telegrafQueueLimits,
    telegrafQueuePolicy,
} from "../../components/rabbitmq/definitions";
import { setPublisher } from "../../runtime/bridge/amqp-publisher";
import { Database, pgliteDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { RabbitmqAdmin } from "../../runtime/shared/rabbitmq-admin";
import { ruleNodeProperties, TestBroker } from "../support/rabbitmq";
import { forwardedMessage } from "../../components/thingsboard/rule-chain";

let broker: TestBroker;
let rabbit: Record<string, string>;
let db: Database;

beforeAll(async () => {
    broker = TestBroker.start();
    rabbit = broker.env;
    db = pgliteDatabase(new PGlite());
    await migrate(db);
});

afterAll(async () => {
    await broker?.stop();
    await db?.close();
});

const connect = (user: string, password: string) => broker.connect(user, password);
const management = (method: string, path: string, user?: "admin" | "bridge") =>
    broker.management(method, path, user);
const telegraf = () => connect(rabbit.RABBITMQ_TELEGRAF_USERNAME, rabbit.RABBITMQ_TELEGRAF_PASSWORD);

/**
 * Runs `action` on a fresh channel of `connection`: "ok", or the broker's refusal (it closes the
 * channel with ACCESS_REFUSED or PRECONDITION_FAILED).
 */
async function attempt(connection: ChannelModel, action: (channel: Channel) => Promise<unknown>) {
    const channel = await connection.createConfirmChannel();
    const closed = new Promise<string>((resolve) => channel.on("error", (e: Error) => resolve(e.message)));
    const done = action(channel).then(
        () => "ok",
        (e: Error) => e.message,
    );
    const outcome = await Promise.race([closed, done]);
    if (outcome === "ok") await channel.close();
    return outcome;
}

/** Publishes with a confirm; "ok", "nack" or the broker's refusal. */
const publish = (connection: ChannelModel, routingKey: string, body: string, exchange = telemetryExchange) =>
    attempt(connection, async (channel) => {
        channel.publish(exchange, routingKey, Buffer.from(body), ruleNodeProperties);
        await (channel as amqp.ConfirmChannel).waitForConfirms();
    });

/** Everything in Telegraf's queue, taken as Telegraf would and acknowledged. */
async function drain(
    connection: ChannelModel,
): Promise<{ routingKey: string; body: string; properties?: Record<string, unknown> }[]> {
    const channel = await connection.createChannel();
    const out: { routingKey: string; body: string; properties?: Record<string, unknown> }[] = [];
    for (;;) {
        const message = await channel.get(telegrafQueue);
        if (!message) break;
        out.push({
            routingKey: message.fields.routingKey,
            body: message.content.toString(),
            properties: {
                deliveryMode: message.properties.deliveryMode,
                contentType: message.properties.contentType,
            },
        });
        channel.ack(message);
    }
    await channel.close();
    return out;
}

/** A tenant's publisher, made as the provider bridge makes it, with the bridge's own broker user. */
const tenantPublisher = (tenantId: string) => broker.tenantPublisher(db, tenantId);

describe("the provider broker's definitions", () => {
    it("boot with the platform's users only, Telegraf's quorum queue bound to tenants' keys, and its limits", async () => {
        const users = await management("GET", "/users");
        expect(users.json.map((u: { name: string; tags: string[] }) => [u.name, u.tags])).toEqual([
            ["cdm-bridge", ["administrator"]],
            ["cdm-test-admin", ["administrator"]],
            ["telegraf", []],
        ]);
        const vhost = encodeURIComponent(metricsVhost);
        const permissions = await management("GET", `/vhosts/${vhost}/permissions`);
        expect(permissions.json.map((p: any) => [p.user, p.configure, p.write, p.read]).sort()).toEqual([
            ["cdm-test-admin", ".*", ".*", ".*"],
            ["telegraf", "^$", "^$", "^cdm\\.telemetry\\.telegraf$"],
        ]);
        // The management plugin reports a queue's policy with its statistics, a few seconds late.
        let queue = await management("GET", `/queues/${vhost}/${telegrafQueue}`);
        for (let i = 0; i < 40 && !queue.json.policy; i++) {
            await new Promise((resolve) => setTimeout(resolve, 500));
            queue = await management("GET", `/queues/${vhost}/${telegrafQueue}`);
        }
        expect(queue.json).toMatchObject({
            type: "quorum",
            durable: true,
            policy: telegrafQueuePolicy,
            effective_policy_definition: telegrafPolicy({
                ...telegrafQueueLimits,
                maxLength: Number(rabbit.TELEGRAF_QUEUE_MAX_LENGTH),
            }).definition,
        });
        const bindings = await management("GET", `/exchanges/${vhost}/${telemetryExchange}/bindings/source`);
        expect(bindings.json.map((b: any) => [b.destination, b.routing_key])).toEqual([
            [telegrafQueue, "tenant.#"],
        ]);
        expect((await management("GET", "/vhosts")).json.map((v: { name: string }) => v.name)).toEqual([
            metricsVhost,
        ]);
    });
});

describe("the provider bridge's broker user", () => {
    it("makes, rotates and removes a publisher through the management API", async () => {
        const first = await tenantPublisher("initech");
        const second = await setPublisher(
            db,
            new RabbitmqAdmin({
                url: rabbit.RABBITMQ_MGMT_URL,
                username: rabbit.RABBITMQ_BRIDGE_USERNAME,
                password: rabbit.RABBITMQ_BRIDGE_PASSWORD,
            }),
            "initech",
        );
        expect(second.password).not.toBe(first.answer.password);
        await expect(connect("tenant-initech", first.answer.password)).rejects.toThrow(/ACCESS_REFUSED|403/);
        expect((await management("DELETE", "/users/tenant-initech", "bridge")).status).toBe(204);
    });

    it("cannot open an AMQP connection or touch the queue's messages", async () => {
        await expect(
            connect(rabbit.RABBITMQ_BRIDGE_USERNAME, rabbit.RABBITMQ_BRIDGE_PASSWORD),
        ).rejects.toThrow();
        const vhost = encodeURIComponent(metricsVhost);
        expect(
            (await management("DELETE", `/queues/${vhost}/${telegrafQueue}/contents`, "bridge")).status,
        ).toBe(401);
        expect(
            (
                await management("POST", `/queues/${vhost}/${telegrafQueue}/get`, "bridge").catch(() => ({
                    status: 0,
                }))
            ).status,
        ).not.toBe(200);
    });
});

describe("Telegraf's broker user", () => {
    it("consumes its queue as Telegraf does: a passive declare, prefetch, consume", async () => {
        const connection = await telegraf();
        expect(
            await attempt(connection, async (channel) => {
                await channel.checkQueue(telegrafQueue);
                await channel.prefetch(50);
                const { consumerTag } = await channel.consume(telegrafQueue, () => undefined);
                await channel.cancel(consumerTag);
            }),
        ).toBe("ok");
    });

    it("can neither publish, declare, bind nor delete", async () => {
        const connection = await telegraf();
        const refused = /ACCESS_REFUSED/;
        expect(await publish(connection, "tenant.acme.dev-1", "{}")).toMatch(refused);
        expect(await publish(connection, telegrafQueue, "{}", "")).toMatch(refused);
        expect(await attempt(connection, (c) => c.assertQueue("telegraf"))).toMatch(refused);
        expect(
            await attempt(connection, (c) =>
                c.assertQueue(telegrafQueue, { durable: true, arguments: { "x-queue-type": "quorum" } }),
            ),
        ).toMatch(refused);
        expect(await attempt(connection, (c) => c.assertQueue("", { exclusive: true }))).toMatch(refused);
        expect(await attempt(connection, (c) => c.bindQueue(telegrafQueue, telemetryExchange, "#"))).toMatch(
            refused,
        );
        expect(await attempt(connection, (c) => c.assertExchange(telemetryExchange, "topic"))).toMatch(
            refused,
        );
        expect(await attempt(connection, (c) => c.deleteQueue(telegrafQueue))).toMatch(refused);
    });
});

describe("a tenant's telemetry", () => {
    it("lands in Telegraf's queue exactly as published, under the tenant's own routing keys only", async () => {
        const consumer = await telegraf();
        await drain(consumer);
        const { answer, connection } = await tenantPublisher("acme");
        expect(answer).toMatchObject({ username: "tenant-acme", routing_key_prefix: "tenant.acme." });
        // The rule chain's message, as its script builds it, with its rule node's properties.
        const body = JSON.stringify(
            forwardedMessage("acme", "dev-1", 1767225600000, { cpu_usage: 23.4, mem_free_mb: 512, fw: "x" }, [
                "cpu_usage",
                "mem_free_mb",
            ]),
        );
        expect(body).toBe(
            '{"tenant":"acme","device":"dev-1","ts":1767225600000,"cpu_usage":23.4,"mem_free_mb":512}',
        );
        expect(await publish(connection, "tenant.acme.dev-1", body)).toBe("ok");
        expect(await publish(connection, "tenant.globex.dev-1", body)).toMatch(/ACCESS_REFUSED/);
        // The publisher cannot read what tenants publish.
        expect(await attempt(connection, (c) => c.get(telegrafQueue))).toMatch(/ACCESS_REFUSED/);
        expect(await drain(consumer)).toEqual([
            { routingKey: "tenant.acme.dev-1", body, properties: { ...ruleNodeProperties } },
        ]);
    });

    it("is bounded while Telegraf is away: the oldest messages go, publishers are never refused", async () => {
        const limit = Number(rabbit.TELEGRAF_QUEUE_MAX_LENGTH);
        const consumer = await telegraf();
        await drain(consumer);
        const { connection } = await tenantPublisher("acme");
        const channel = await connection.createConfirmChannel();
        const total = limit + 25;
        for (let i = 0; i < total; i++) {
            channel.publish(telemetryExchange, "tenant.acme.dev-1", Buffer.from(`{"seq":${i}}`));
        }
        // Every message confirmed: drop-head never refuses a publisher.
        await channel.waitForConfirms();
        await channel.close();
        const check = await consumer.createChannel();
        expect((await check.checkQueue(telegrafQueue)).messageCount).toBe(limit);
        await check.close();
        const kept = await drain(consumer);
        expect(kept.map((m) => JSON.parse(m.body).seq)).toEqual(
            Array.from({ length: limit }, (_, i) => total - limit + i),
        );
    });
});

describe("AMQPS with the deployed TLS settings", () => {
    /** A TLS handshake with the AMQPS listener; the socket or the client's refusal. */
    const handshake = (options: { ca?: Buffer; maxVersion?: "TLSv1.2" }) =>
        new Promise<TLSSocket | string>((resolve) => {
            const socket = tlsConnect({
                host: "127.0.0.1",
                port: Number(rabbit.AMQPS_PORT),
                servername: "localhost",
                ...options,
            });
            socket.once("secureConnect", () => resolve(socket));
            socket.once("error", (e) => resolve(e.message));
        });

    it("sends the certificate and its intermediate, verifiable against the root alone, over TLS 1.3 or 1.2", async () => {
        const root = readFileSync(rabbit.RABBITMQ_CA_FILE);
        const socket = await handshake({ ca: root });
        expect(typeof socket).not.toBe("string");
        const tls = socket as TLSSocket;
        expect(tls.getProtocol()).toBe("TLSv1.3");
        const leaf = tls.getPeerCertificate(true);
        expect([leaf.subject.CN, leaf.issuer.CN, leaf.issuerCertificate.issuer.CN]).toEqual([
            "localhost",
            "cdm test intermediate",
            "cdm test root",
        ]);
        tls.destroy();
        expect(await handshake({})).toMatch(/self.signed certificate in certificate chain/);
        const older = (await handshake({ ca: root, maxVersion: "TLSv1.2" })) as TLSSocket;
        expect(older.getProtocol()).toBe("TLSv1.2");
        older.destroy();
    });

    it("lets a tenant's publisher in over AMQPS with its password, no client certificate", async () => {
        const { answer } = await tenantPublisher("acme");
        const connection = await amqp.connect(
            `amqps://${answer.username}:${encodeURIComponent(answer.password)}@127.0.0.1:${rabbit.AMQPS_PORT}/${metricsVhost}`,
            { ca: [readFileSync(rabbit.RABBITMQ_CA_FILE)], servername: "localhost" },
        );
        broker.track(connection);
        expect(await publish(connection, "tenant.acme.dev-2", "{}")).toBe("ok");
        expect(await drain(await telegraf())).toEqual([
            { routingKey: "tenant.acme.dev-2", body: "{}", properties: { ...ruleNodeProperties } },
        ]);
    });
});
