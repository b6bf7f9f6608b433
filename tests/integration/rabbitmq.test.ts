/**
 * The provider RabbitMQ's definitions on a real broker (scripts/peers/rabbitmq.sh boots Debian's
 * RabbitMQ with the file components/rabbitmq/definitions.ts renders): the users exist with the
 * hashed passwords and nothing else does; the provider bridge's user keeps tenants' publishers
 * through the bridge's own code and can do nothing over AMQP; Telegraf consumes its queue and can
 * neither publish, declare nor bind; a tenant's message reaches Telegraf's queue through the real
 * telemetry gate (runtime/telemetry-gate) as published, while a body naming another tenant goes
 * no further and nobody but the gate can write Telegraf's queue; both queues drop their oldest
 * messages beyond their limit and never refuse a publisher; AMQPS with the deployed TLS settings
 * serves the chain to its root.
 */
import { PGlite } from "@electric-sql/pglite";
import amqp, { Channel, ChannelModel } from "amqplib";
import { readFileSync } from "node:fs";
import { AddressInfo, connect as connectTcp, createServer, Socket } from "node:net";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    admittedExchange,
    intakeQueue,
    retiredQueuePolicy,
    retiredTelegrafQueue,
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
import { ruleNodeProperties, RunningGate, TestBroker } from "../support/rabbitmq";
import { eventually } from "../support/telegraf";
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
const gateUser = () => connect(rabbit.RABBITMQ_GATE_USERNAME, rabbit.RABBITMQ_GATE_PASSWORD);

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

/**
 * A queue of the metrics vhost from the management API, once it reports a policy: the plugin
 * reports it with the queue's statistics, a few seconds late.
 */
async function queueWithPolicy(name: string): Promise<Record<string, unknown>> {
    return eventually(`${name}'s policy`, async () => {
        const { json } = await management("GET", `/queues/${encodeURIComponent(metricsVhost)}/${name}`);
        return json.policy ? json : undefined;
    });
}

/**
 * Publishes 60 numbered messages of `device` as tenant acme, `disrupt` running after the first
 * 40; answers the numbers that reached Telegraf's queue (once all 60 have), sorted.
 */
async function publishAround(device: string, disrupt: (channel: amqp.ConfirmChannel) => Promise<void>) {
    const consumer = await telegraf();
    await drain(consumer);
    const { connection } = await tenantPublisher("acme");
    const key = `tenant.acme.${device}`;
    const send = (seq: number) =>
        channel.publish(telemetryExchange, key, Buffer.from(JSON.stringify({ tenant: "acme", device, seq })));
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < 40; i++) send(i);
    await disrupt(channel);
    for (let i = 40; i < 60; i++) send(i);
    await channel.waitForConfirms();
    await channel.close();
    const seen = new Set<number>();
    await eventually("every message in Telegraf's queue", async () => {
        for (const m of await drain(consumer)) seen.add(JSON.parse(m.body).seq);
        return seen.size === 60 ? true : undefined;
    });
    return [...seen].sort((x, y) => x - y);
}

/** A tenant's publisher, made as the provider bridge makes it, with the bridge's own broker user. */
const tenantPublisher = (tenantId: string) => broker.tenantPublisher(db, tenantId);

describe("the provider broker's definitions", () => {
    it("boot with the platform's users only, both quorum queues bound to tenants' keys, and their limits", async () => {
        const users = await management("GET", "/users");
        expect(users.json.map((u: { name: string; tags: string[] }) => [u.name, u.tags])).toEqual([
            ["cdm-bridge", ["administrator"]],
            ["cdm-test-admin", ["administrator"]],
            ["telegraf", []],
            ["telemetry-gate", []],
        ]);
        const vhost = encodeURIComponent(metricsVhost);
        const permissions = await management("GET", `/vhosts/${vhost}/permissions`);
        expect(permissions.json.map((p: any) => [p.user, p.configure, p.write, p.read]).sort()).toEqual([
            ["cdm-test-admin", ".*", ".*", ".*"],
            ["telegraf", "^$", "^$", "^cdm\\.telemetry\\.admitted\\.telegraf$"],
            ["telemetry-gate", "^$", "^cdm\\.telemetry\\.admitted$", "^cdm\\.telemetry\\.intake$"],
        ]);
        for (const name of [intakeQueue, telegrafQueue]) {
            expect(await queueWithPolicy(name), name).toMatchObject({
                type: "quorum",
                durable: true,
                policy: telegrafQueuePolicy,
                effective_policy_definition: telegrafPolicy({
                    ...telegrafQueueLimits,
                    maxLength: Number(rabbit.TELEGRAF_QUEUE_MAX_LENGTH),
                }).definition,
            });
        }
        const bindings = async (exchange: string) =>
            (await management("GET", `/exchanges/${vhost}/${exchange}/bindings/source`)).json.map(
                (b: any) => [b.destination, b.routing_key],
            );
        // Tenants reach the intake queue only; Telegraf's is fed by the admitted exchange alone.
        expect(await bindings(telemetryExchange)).toEqual([[intakeQueue, "tenant.#"]]);
        expect(await bindings(admittedExchange)).toEqual([[telegrafQueue, "tenant.#"]]);
        expect((await management("GET", "/vhosts")).json.map((v: { name: string }) => v.name)).toEqual([
            metricsVhost,
        ]);
    });
});

describe("a broker deployed before the gate", () => {
    it("keeps Telegraf's old queue empty, so its old binding takes nothing past the gate", async () => {
        // What such a broker still has after importing the new definitions: the old queue, bound
        // straight to tenants' exchange (an import never deletes).
        const admin = await connect(rabbit.RABBITMQ_USERNAME, rabbit.RABBITMQ_PASSWORD);
        const channel = await admin.createConfirmChannel();
        await channel.assertQueue(retiredTelegrafQueue, {
            durable: true,
            arguments: { "x-queue-type": "quorum" },
        });
        await channel.bindQueue(retiredTelegrafQueue, telemetryExchange, "tenant.#");
        expect((await queueWithPolicy(retiredTelegrafQueue)).policy).toBe(retiredQueuePolicy);
        const { connection } = await tenantPublisher("acme");
        expect(await publish(connection, "tenant.acme.dev-1", '{"tenant":"globex","device":"dev-1"}')).toBe(
            "ok",
        );
        expect((await channel.checkQueue(retiredTelegrafQueue)).messageCount).toBe(0);
        await channel.deleteQueue(retiredTelegrafQueue);
        await channel.purgeQueue(intakeQueue);
        await channel.close();
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
        expect(await publish(connection, "tenant.acme.dev-1", "{}", admittedExchange)).toMatch(refused);
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
    let gate: RunningGate;
    beforeAll(async () => {
        gate = await broker.startGate();
    });
    afterAll(async () => {
        await gate?.stop();
    });

    it("lands in Telegraf's queue through the gate exactly as published, under the tenant's own routing keys only", async () => {
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
        const mark = gate.mark();
        expect(await publish(connection, "tenant.acme.dev-1", body)).toBe("ok");
        expect(await publish(connection, "tenant.globex.dev-1", body)).toMatch(/ACCESS_REFUSED/);
        // The publisher cannot read what tenants publish.
        expect(await attempt(connection, (c) => c.get(telegrafQueue))).toMatch(/ACCESS_REFUSED/);
        expect(await attempt(connection, (c) => c.get(intakeQueue))).toMatch(/ACCESS_REFUSED/);
        await gate.handled(mark, 1);
        expect(await drain(consumer)).toEqual([
            { routingKey: "tenant.acme.dev-1", body, properties: { ...ruleNodeProperties } },
        ]);
    });

    it("naming another tenant in the body goes no further than the gate, nor does a body that is not JSON", async () => {
        const consumer = await telegraf();
        await drain(consumer);
        const { connection } = await tenantPublisher("acme");
        const forged = JSON.stringify(
            forwardedMessage("globex", "dev-1", 1767225600000, { cpu_usage: 99 }, ["cpu_usage"]),
        );
        const own = JSON.stringify(
            forwardedMessage("acme", "dev-1", 1767225601000, { cpu_usage: 1 }, ["cpu_usage"]),
        );
        const mark = gate.mark();
        const warned = gate.warnings.length;
        const before = { ...gate.gate.counts };
        // Under its own key (the only one it may use) with another tenant's or device's name inside.
        expect(await publish(connection, "tenant.acme.dev-1", forged)).toBe("ok");
        expect(await publish(connection, "tenant.acme.dev-2", own)).toBe("ok");
        expect(await publish(connection, "tenant.acme.dev-1", "cpu_usage=1")).toBe("ok");
        expect(await publish(connection, "tenant.acme.dev-1", own)).toBe("ok");
        await gate.handled(mark, 4);
        expect(await drain(consumer)).toEqual([
            { routingKey: "tenant.acme.dev-1", body: own, properties: { ...ruleNodeProperties } },
        ]);
        expect(gate.gate.counts).toEqual({
            forwarded: before.forwarded + 1,
            malformed: before.malformed + 1,
            mismatched: before.mismatched + 2,
        });
        expect(gate.warnings.slice(warned).map((w) => w.details)).toEqual([
            {
                tenant: "acme",
                reason: "mismatched",
                routingKey: "tenant.acme.dev-1",
                detail: 'the body\'s tenant is "globex", its routing key\'s "acme"',
                alsoSinceLastLine: 0,
            },
            {
                tenant: "acme",
                reason: "mismatched",
                routingKey: "tenant.acme.dev-2",
                detail: 'the body\'s device is "dev-1", its routing key\'s "dev-2"',
                alsoSinceLastLine: 0,
            },
            {
                tenant: "acme",
                reason: "malformed",
                routingKey: "tenant.acme.dev-1",
                detail: "the body is not JSON",
                alsoSinceLastLine: 0,
            },
        ]);
        // Nothing but the gate can go round it: a tenant may not write the admitted exchange.
        expect(await publish(connection, "tenant.acme.dev-1", own, admittedExchange)).toMatch(
            /ACCESS_REFUSED/,
        );
    });

    it("leaves the gate its two rights only: consume the intake queue, publish to the admitted exchange", async () => {
        const connection = await gateUser();
        expect(await publish(connection, "tenant.acme.dev-1", "{}")).toMatch(/ACCESS_REFUSED/);
        expect(await attempt(connection, (c) => c.get(telegrafQueue))).toMatch(/ACCESS_REFUSED/);
        expect(
            await attempt(connection, (c) => c.assertExchange("cdm.elsewhere", "topic", { durable: true })),
        ).toMatch(/ACCESS_REFUSED/);
        expect(await attempt(connection, (c) => c.bindQueue(intakeQueue, admittedExchange, "#"))).toMatch(
            /ACCESS_REFUSED/,
        );
        // (Reading a queue includes purging it in RabbitMQ's model: a consumer could drop it all anyway.)
        expect(await attempt(connection, (c) => c.deleteQueue(intakeQueue))).toMatch(/ACCESS_REFUSED/);
    });

    it("loses nothing when the gate's connection drops mid-stream: it reconnects and the broker redelivers", async () => {
        const warned = gate.warnings.length;
        const arrived = await publishAround("dev-7", async () => {
            // The broker closes the gate's connection (an operator's or a restart's doing) while those flow.
            expect((await management("DELETE", "/connections/username/telemetry-gate")).status).toBe(204);
        });
        expect(arrived).toEqual(Array.from({ length: 60 }, (_, i) => i));
        expect(gate.warnings.slice(warned).map((w) => w.message)).toContain(
            "telemetry gate: broker session ended",
        );
        expect(gate.gate.consuming).toBe(true);
    });

    it("survives its TCP connection being cut mid-stream, and loses nothing", async () => {
        // The gate reaches the broker through a relay here, whose sockets the test destroys: no
        // close frame, as when a node or the network goes away.
        const sockets = new Set<Socket>();
        const relay = createServer((client) => {
            const upstream = connectTcp(Number(rabbit.AMQP_PORT), "127.0.0.1");
            for (const s of [client, upstream]) {
                sockets.add(s);
                s.on("error", () => undefined);
                s.on("close", () => sockets.delete(s));
            }
            client.pipe(upstream).pipe(client);
        });
        await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
        const cut = await broker.startGate((relay.address() as AddressInfo).port);
        try {
            const arrived = await publishAround("dev-8", async (channel) => {
                await channel.waitForConfirms();
                for (const s of sockets) s.destroy();
            });
            expect(arrived).toEqual(Array.from({ length: 60 }, (_, i) => i));
            expect(cut.warnings.map((w) => w.message)).toContain("telemetry gate: broker session ended");
            await eventually("the gate consuming again", async () => (cut.gate.consuming ? true : undefined));
        } finally {
            await cut.stop();
            relay.close();
        }
    });

    it("is bounded while the gate and Telegraf are away: the oldest messages go, publishers are never refused", async () => {
        const limit = Number(rabbit.TELEGRAF_QUEUE_MAX_LENGTH);
        const consumer = await telegraf();
        await drain(consumer);
        await gate.stop();
        const { connection } = await tenantPublisher("acme");
        const channel = await connection.createConfirmChannel();
        const total = limit + 25;
        const message = (seq: number) => JSON.stringify({ tenant: "acme", device: "dev-1", seq });
        for (let i = 0; i < total; i++) {
            channel.publish(telemetryExchange, "tenant.acme.dev-1", Buffer.from(message(i)));
        }
        // Every message confirmed: drop-head never refuses a publisher.
        await channel.waitForConfirms();
        await channel.close();
        const check = await consumer.createChannel();
        expect((await check.checkQueue(intakeQueue)).messageCount).toBe(limit);
        // The gate back, it forwards what the intake queue kept, in order; then Telegraf's queue
        // bounds the same way when it is Telegraf that is away.
        gate = await broker.startGate();
        await gate.handled(0, limit);
        expect((await check.checkQueue(telegrafQueue)).messageCount).toBe(limit);
        const more = await connection.createConfirmChannel();
        for (let i = total; i < total + 10; i++) {
            more.publish(telemetryExchange, "tenant.acme.dev-1", Buffer.from(message(i)));
        }
        await more.waitForConfirms();
        await more.close();
        await gate.handled(0, limit + 10);
        expect((await check.checkQueue(telegrafQueue)).messageCount).toBe(limit);
        await check.close();
        const kept = await drain(consumer);
        expect(kept.map((m) => JSON.parse(m.body).seq)).toEqual(
            Array.from({ length: limit }, (_, i) => total + 10 - limit + i),
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
        const gate = await broker.startGate();
        const body = JSON.stringify({ tenant: "acme", device: "dev-2", ts: 1767225600000 });
        expect(await publish(connection, "tenant.acme.dev-2", body)).toBe("ok");
        await gate.handled(0, 1);
        expect(await drain(await telegraf())).toEqual([
            { routingKey: "tenant.acme.dev-2", body, properties: { ...ruleNodeProperties } },
        ]);
        await gate.stop();
    });
});
