/**
 * The provider's Telegraf: the real Telegraf 1.39.2 (scripts/peers/telegraf.sh) on the
 * configuration the program renders, consuming Telegraf's queue on the real broker loaded with
 * the program's definitions (scripts/peers/rabbitmq.sh) as the `telegraf` user, messages built by
 * the rule chain's `forwardedMessage`, published by a tenant's publisher that the bridge's own
 * code made and forwarded by the real telemetry gate, as deployed. Its output section is `outputs.file` in place of InfluxDB (the renderer takes the
 * output as a parameter), so the lines InfluxDB would be sent are compared exactly. Malformed
 * messages are dropped and the consumer goes on; a message is acknowledged only once its output
 * wrote it; an unreachable broker at start is retried, not fatal. Then with the deployed output
 * section itself, into a real InfluxDB 2.9 (scripts/peers/influxdb.sh) set up with the
 * provider's organisation and bucket, through a write-only token: the points read back with Flux.
 */
import { PGlite } from "@electric-sql/pglite";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { providerOrg, telegrafTokenSecret, telemetryBucket } from "../../components/influxdb/settings";
import { telegrafQueue } from "../../components/rabbitmq/definitions";
import { envRef, influxdbOutput, providerTelegrafConfig } from "../../components/telegraf/config";
import { forwardedMessage, MetricValue } from "../../components/thingsboard/rule-chain";
import { Database, pgliteDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { metricsVhost } from "../../runtime/shared/onboarding";
import { projectRoot } from "../../tools/stack-config";
import { freePort } from "../support/peers";
import { publishConfirmed, RunningGate, TestBroker } from "../support/rabbitmq";
import { eventually, fileOutput, installTelegraf, sleep, TelegrafProcess } from "../support/telegraf";

let telegraf: string;
let dir: string;

beforeAll(() => {
    telegraf = installTelegraf();
    dir = mkdtempSync(join(tmpdir(), "cdm-telegraf-"));
});

afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the provider's Telegraf", () => {
    let broker: TestBroker;
    let db: Database;
    const running: TelegrafProcess[] = [];

    let gate: RunningGate;

    beforeAll(async () => {
        broker = TestBroker.start();
        db = pgliteDatabase(new PGlite());
        await migrate(db);
        gate = await broker.startGate();
    });

    afterAll(async () => {
        for (const t of running) await t.stop();
        await broker?.stop();
        await db?.close();
    });

    const brokerUrl = () => `amqp://127.0.0.1:${broker.env.AMQP_PORT}/${metricsVhost}`;
    const credentials = () => ({
        RABBITMQ_USERNAME: broker.env.RABBITMQ_TELEGRAF_USERNAME,
        RABBITMQ_PASSWORD: broker.env.RABBITMQ_TELEGRAF_PASSWORD,
        INFLUX_TOKEN: "unused",
    });

    /** Telegraf on the rendered provider configuration with `output`, healthy and consuming. */
    async function start(output: Parameters<typeof providerTelegrafConfig>[0]["output"], name: string) {
        const healthPort = await freePort();
        const work = mkdtempSync(join(dir, `${name}-`));
        const instance = new TelegrafProcess(
            telegraf,
            work,
            providerTelegrafConfig({ brokerUrl: brokerUrl(), output, healthPort }),
            credentials(),
        );
        running.push(instance);
        await instance.healthy(healthPort);
        await eventually("Telegraf's consumer", async () =>
            (await queue()).consumers === 1 ? true : undefined,
        );
        return instance;
    }

    /** The queue's message counts and consumers, from the management API. */
    async function queue(): Promise<{ ready: number; unacked: number; consumers: number }> {
        const { json } = await broker.management("GET", `/queues/${metricsVhost}/${telegrafQueue}`);
        return {
            ready: json.messages_ready ?? 0,
            unacked: json.messages_unacknowledged ?? 0,
            consumers: json.consumers ?? 0,
        };
    }

    /** Waits until the queue is empty (every message acknowledged or dropped). */
    const drained = () =>
        eventually("an empty queue", async () => {
            const q = await queue();
            return q.ready === 0 && q.unacked === 0 ? q : undefined;
        });

    /** What a tenant's rule chain publishes for a telemetry message of `device` (`forwardedMessage`). */
    const chainOf =
        (tenant: string) => (device: string, ts: number, telemetry: Record<string, MetricValue>) => ({
            routingKey: `tenant.${tenant}.${device}`,
            body: JSON.stringify(forwardedMessage(tenant, device, ts, telemetry, Object.keys(telemetry))),
        });
    const chain = chainOf("acme");
    /** Anything else a tenant's publisher may send. */
    const raw = (body: unknown) => ({
        routingKey: `tenant.acme.${(body as { device?: string }).device ?? "dev-1"}`,
        body: typeof body === "string" ? body : JSON.stringify(body),
    });

    it("writes each rule-chain message as one device_telemetry point, dropping malformed ones and going on", async () => {
        const out = join(dir, "provider.lp");
        const consumer = await start(fileOutput(out), "consume");
        const { connection } = await broker.tenantPublisher(db, "acme");
        const before = { ...gate.gate.counts };
        await publishConfirmed(connection, [
            chain("dev-1", 1732760000123, { cpu_usage: 23.4, mem_free_mb: 512 }),
            raw("not json"),
            // Strings and booleans are no fields (if cdm:forwardedMetrics names such a metric).
            chain("dev-2", 1732760001000, { cpu_usage: 5, sw_version: "1.0.0", ota_ok: true }),
            raw({ device: "dev-3", ts: 1732760002000, cpu_usage: 1 }),
            raw({ tenant: "acme", ts: 1732760002000, cpu_usage: 1 }),
            raw({ tenant: "acme", device: "dev-4", cpu_usage: 7 }),
            raw({ tenant: "acme", device: "dev-5", ts: "soon", cpu_usage: 7 }),
            chain("dev-1", 1732760010000, { cpu_usage: 24 }),
        ]);
        const expected = [
            "device_telemetry,device=dev-1,tenant=acme cpu_usage=23.4,mem_free_mb=512 1732760000123000000",
            "device_telemetry,device=dev-2,tenant=acme cpu_usage=5 1732760001000000000",
            "device_telemetry,device=dev-1,tenant=acme cpu_usage=24 1732760010000000000",
        ];
        const lines = await eventually("three points", async () => {
            const written = readFileSync(out, "utf8").split("\n").filter(Boolean);
            return written.length >= expected.length ? written : undefined;
        });
        await drained();
        expect(lines.sort()).toEqual([...expected].sort());
        // The gate took the body that is not JSON and the two that do not name tenant and device;
        // Telegraf dropped the two without a valid time and the string and boolean fields.
        expect(gate.gate.counts).toEqual({
            forwarded: before.forwarded + 5,
            malformed: before.malformed + 1,
            mismatched: before.mismatched + 2,
        });
        expect(consumer.log).toContain("'json_time_key' could not be found");
        // Still consuming after the bad messages: a later one is written too.
        await publishConfirmed(connection, [chain("dev-1", 1732760020000, { load: 0.5 })]);
        await eventually("the fourth point", async () =>
            readFileSync(out, "utf8").includes(
                "device_telemetry,device=dev-1,tenant=acme load=0.5 1732760020000000000",
            )
                ? true
                : undefined,
        );
        expect(consumer.running).toBe(true);
        expect(await consumer.stop()).toBe(0);
    });

    it("acknowledges a message only once its output wrote it: with InfluxDB away it stays in the queue", async () => {
        const closed = await freePort();
        const unreachable = influxdbOutput({
            url: `http://127.0.0.1:${closed}`,
            token: envRef("INFLUX_TOKEN"),
            organization: "cdm",
            bucket: "telemetry",
        });
        const failing = await start(unreachable, "unreachable");
        const { connection } = await broker.tenantPublisher(db, "acme");
        await publishConfirmed(connection, [chain("dev-9", 1732760030000, { x: 1 })]);
        // Delivered, and still unacknowledged after more than a flush interval (5 s) of failed writes.
        await eventually("the delivery", async () => ((await queue()).unacked === 1 ? true : undefined));
        await sleep(7_000);
        expect(await queue()).toEqual({ ready: 0, unacked: 1, consumers: 1 });
        expect(failing.log).toMatch(/outputs.influxdb_v2.*connection refused/);
        await failing.stop();
        // Back in the queue when its consumer left (the management API's counts lag a few seconds).
        await eventually("the message back in the queue", async () => {
            const q = await queue();
            return q.ready === 1 && q.unacked === 0 ? true : undefined;
        });
        // The next Telegraf gets it again and writes it.
        const out = join(dir, "redelivered.lp");
        const next = await start(fileOutput(out), "redelivered");
        await drained();
        expect(readFileSync(out, "utf8")).toBe(
            "device_telemetry,device=dev-9,tenant=acme x=1 1732760030000000000\n",
        );
        await next.stop();
    });

    it("keeps running and retrying when the broker cannot be reached at start", async () => {
        const healthPort = await freePort();
        const closed = await freePort();
        const work = mkdtempSync(join(dir, "no-broker-"));
        const instance = new TelegrafProcess(
            telegraf,
            work,
            providerTelegrafConfig({
                brokerUrl: `amqp://127.0.0.1:${closed}/${metricsVhost}`,
                output: fileOutput(join(work, "out.lp")),
                healthPort,
            }),
            credentials(),
        );
        running.push(instance);
        await instance.healthy(healthPort);
        await sleep(2_000);
        expect(instance.running).toBe(true);
        expect(instance.log).toContain("Startup failed: could not connect to any broker; retrying...");
        expect(await instance.stop()).toBe(0);
    });

    describe("into a real InfluxDB", () => {
        const adminToken = "telegraf-test-admin-token";
        let influxd: ChildProcess;
        let influxUrl: string;
        let writeToken: string;

        /** An InfluxDB API call with the admin token. */
        const api = (path: string, init: RequestInit = {}) =>
            fetch(`${influxUrl}${path}`, {
                ...init,
                headers: { authorization: `Token ${adminToken}`, ...init.headers },
            });

        beforeAll(async () => {
            const bin = execFileSync(join(projectRoot, "scripts/peers/influxdb.sh"), ["install"], {
                encoding: "utf8",
            }).trim();
            const data = mkdtempSync(join(dir, "influxdb-"));
            influxUrl = `http://127.0.0.1:${await freePort()}`;
            influxd = spawn(
                join(bin, "influxd"),
                [
                    `--bolt-path=${data}/influxd.bolt`,
                    `--engine-path=${data}/engine`,
                    `--sqlite-path=${data}/influxd.sqlite`,
                    `--http-bind-address=${influxUrl.slice("http://".length)}`,
                    "--reporting-disabled",
                    "--log-level=error",
                ],
                { stdio: "ignore" },
            );
            await eventually("influxd", async () =>
                (await fetch(`${influxUrl}/health`).catch(() => undefined))?.ok ? true : undefined,
            );
            // The provider's organisation and bucket, as the image's first-boot setup makes them.
            const setup = await fetch(`${influxUrl}/api/v2/setup`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({
                    username: "admin",
                    password: "telegraf-test-password",
                    org: providerOrg,
                    bucket: telemetryBucket,
                    token: adminToken,
                }),
            });
            expect(setup.status).toBe(201);
            const { org, bucket } = (await setup.json()) as { org: { id: string }; bucket: { id: string } };
            // Telegraf's token as the token Job makes it: write on the telemetry bucket, nothing else.
            const auth = await api("/api/v2/authorizations", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({
                    orgID: org.id,
                    description: telegrafTokenSecret,
                    permissions: [
                        { action: "write", resource: { type: "buckets", id: bucket.id, orgID: org.id } },
                    ],
                }),
            });
            expect(auth.status).toBe(201);
            writeToken = ((await auth.json()) as { token: string }).token;
        }, 900_000);

        afterAll(() => {
            influxd?.kill();
        });

        /** Every point of the bucket: Flux's CSV, one row per field. */
        async function points(): Promise<string[]> {
            const res = await api(`/api/v2/query?org=${providerOrg}`, {
                method: "POST",
                headers: { "content-type": "application/vnd.flux", accept: "application/csv" },
                body: `from(bucket: "${telemetryBucket}") |> range(start: 0) |> keep(columns: ["_time", "_measurement", "tenant", "device", "_field", "_value"])`,
            });
            expect(res.status).toBe(200);
            const [header, ...rows] = (await res.text())
                .split(/\r?\n/)
                .filter((l) => l.trim())
                .map((l) => l.split(","));
            const column = (row: string[], name: string) => row[header.indexOf(name)];
            return rows
                .filter((row) => row.join(",") !== header.join(","))
                .map((row) =>
                    ["_measurement", "tenant", "device", "_time", "_field", "_value"]
                        .map((name) => column(row, name))
                        .join(" "),
                )
                .sort();
        }

        it("writes the points through the deployed output section with a write-only token", async () => {
            const output = influxdbOutput({
                url: influxUrl,
                token: envRef("INFLUX_TOKEN"),
                organization: providerOrg,
                bucket: telemetryBucket,
            });
            const healthPort = await freePort();
            const work = mkdtempSync(join(dir, "influx-"));
            const instance = new TelegrafProcess(
                telegraf,
                work,
                providerTelegrafConfig({ brokerUrl: brokerUrl(), output, healthPort }),
                { ...credentials(), INFLUX_TOKEN: writeToken },
            );
            running.push(instance);
            await instance.healthy(healthPort);
            const { connection } = await broker.tenantPublisher(db, "globex");
            await publishConfirmed(connection, [
                chainOf("globex")("pump-7", 1732760040250, { pressure_bar: 2.5, rpm: 1450 }),
                { routingKey: "tenant.globex.pump-7", body: "{" },
                chainOf("globex")("pump-8", 1732760041000, { pressure_bar: 3 }),
            ]);
            const expected = [
                "device_telemetry globex pump-7 2024-11-28T02:14:00.25Z pressure_bar 2.5",
                "device_telemetry globex pump-7 2024-11-28T02:14:00.25Z rpm 1450",
                "device_telemetry globex pump-8 2024-11-28T02:14:01Z pressure_bar 3",
            ];
            const stored = await eventually("the points in InfluxDB", async () => {
                const found = await points();
                return found.length >= expected.length ? found : undefined;
            });
            expect(stored).toEqual(expected);
            await drained();
            expect(await instance.stop()).toBe(0);
        });
    });
});
