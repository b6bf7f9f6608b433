/**
 * The fleet simulator (`npm run simulate`, tools/fleet-simulator/) as its own process against a
 * real tenant bridge (PostgreSQL, step-ca, hawkBit, as bridge-enrollment.test.ts), the Mosquitto
 * stand-in for ThingsBoard's MQTT transport (server certificate of the tenant Sub-CA, client
 * certificates anchored at the Sub-CA, CN as the username) and real hawkBit's DDI API: 20 devices
 * enroll with one batch token, each publishes at 2 msg/s for 5 s over mutual TLS with its
 * enrolled chain and polls hawkBit with its target token. Every count is exact. A second run with
 * the used-up token reports every device refused, with the bridge's reason.
 */
import { spawn } from "node:child_process";
import { Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MqttClient } from "mqtt";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { projectRoot } from "../../tools/stack-config";
import { serveJwks, testRealm } from "../support/bridge";
import { BridgeProcess, startBridgeProcess } from "../support/bridge-process";
import { RunningHawkbit, startHawkbit } from "../support/hawkbit";
import { mqttConnect, RunningBroker, startMosquitto, subCaTrustAnchor } from "../support/mosquitto";
import { freePort, stopPeer } from "../support/peers";
import { localhostTls } from "../support/pki";
import { startTenantPeers, TenantPeers, tenantBridgeEnv } from "../support/tenant-peers";

const base = 21400 + Math.floor(Math.random() * 300);
const ports = { api: base, management: base + 1, stepCa: base + 2, jwks: base + 3, hawkbit: base + 4 };
const topic = "v1/devices/me/telemetry";
const devices = 20;
const rate = 2;
const duration = 5;

let peers: TenantPeers;
let hawkbit: RunningHawkbit;
let jwks: Server;
let broker: RunningBroker;
let bridge: BridgeProcess;
let pool: Pool;
let listener: MqttClient;
let dir: string;

beforeAll(async () => {
    peers = await startTenantPeers("fleet_sim", ports.stepCa);
    hawkbit = await startHawkbit(ports.hawkbit);
    const realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
    jwks = await serveJwks(realm, ports.jwks);
    const server = await localhostTls(peers.subCa);
    broker = await startMosquitto(
        {
            serverChainPem: server.certPem + peers.ica.pem,
            serverKeyPem: server.keyPem,
            clientCaPem: await subCaTrustAnchor(peers.subCa),
        },
        { plain: true, tlsPort: await freePort() },
    );
    const env = {
        ...peers.pg,
        BRIDGE_DATABASE: "postgres",
        ...(await tenantBridgeEnv(peers, ports, { url: hawkbit.url, ...hawkbit.bridge }, realm.issuer)),
        // The enrollment answer sends devices to the stand-in broker.
        DEVICE_MQTT_URL: broker.tlsUrl,
    };
    bridge = await startBridgeProcess(env);
    pool = peers.pool();
    listener = (await mqttConnect(broker.plainUrl!)).client!;
    dir = mkdtempSync(join(tmpdir(), "fleet-sim-"));
}, 300_000);

afterAll(async () => {
    await listener?.endAsync(true);
    await bridge?.stop();
    await broker?.stop();
    jwks?.close();
    await hawkbit?.stop();
    await peers?.close();
    stopPeer("postgres");
    if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `npm run simulate` (its script, under Node with tsx) with the token in the environment. */
function simulate(args: string[], token: string) {
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "tools/fleet-simulator/main.ts", ...args], {
            cwd: projectRoot,
            env: { PATH: process.env.PATH ?? "", CDM_ENROLLMENT_TOKEN: token },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}

const batchToken = async (maxUses: number) =>
    (await issueToken(pgDatabase(pool), { maxUses, ttlSeconds: 3600, createdBy: "test" })).token;

const commonArgs = (prefix: string, json: string) => [
    ...["--bridge", bridge.url, "--ca", join(peers.dir, "root.crt"), "--prefix", prefix],
    ...["--hawkbit-url", hawkbit.url, "--concurrency", "8", "--json", json],
];

describe("the fleet simulator against a real tenant bridge, broker and hawkBit", () => {
    it("enrolls 20 devices, publishes every scheduled message over mTLS and polls hawkBit", async () => {
        const token = await batchToken(devices);
        const received: { topic: string; payload: string }[] = [];
        listener.on("message", (t, payload) => received.push({ topic: t, payload: payload.toString() }));
        await listener.subscribeAsync(topic, { qos: 1 });
        const json = join(dir, "fleet.json");
        const run = await simulate(
            [
                ...commonArgs("fleet", json),
                ...["--devices", String(devices), "--rate", String(rate), "--duration", String(duration)],
            ],
            token,
        );
        expect([run.status, run.stderr]).toEqual([0, ""]);
        // Not a TTY: plain progress lines, then the summary; no secret anywhere.
        expect(run.stdout).toContain(`enrolled ${devices} of ${devices}`);
        expect(run.stdout).not.toContain(token);
        expect(run.stdout).not.toMatch(/PRIVATE KEY|TargetToken/);
        const summary = JSON.parse(readFileSync(json, "utf8"));

        // 20 devices at 2 msg/s with phases spread over 500 ms: 10 slots each in 5 s.
        expect(summary).toMatchObject({
            devices,
            enrolled: devices,
            failed: 0,
            failures: [],
            messagesSent: devices * rate * duration,
            messagesScheduled: devices * rate * duration,
            late: 0,
            polls: devices,
        });
        expect(summary.errors).toEqual({});
        expect(summary.latency.enroll.count).toBe(devices);
        expect(summary.latency.publish.count).toBe(devices * rate * duration);
        for (const name of ["enroll", "publish", "poll"]) {
            expect(summary.latency[name].p50Ms).toBeLessThanOrEqual(summary.latency[name].p99Ms);
        }

        // Distinct addresses, as the bridge recorded them.
        const ids = Array.from({ length: devices }, (_, i) => `fleet-${String(i + 1).padStart(4, "0")}`);
        expect(summary.enrolledDevices.map((d: { id: string }) => d.id).sort()).toEqual(ids);
        const addresses = summary.enrolledDevices.map((d: { address: string }) => d.address);
        expect(new Set(addresses).size).toBe(devices);
        const recorded = await pool.query<{ device_id: string; address: string }>(
            "SELECT device_id, (host(network + host_offset) || '/32') AS address FROM wireguard_addresses WHERE device_id LIKE 'fleet-%'",
        );
        expect(Object.fromEntries(recorded.rows.map((r) => [r.device_id, r.address]))).toEqual(
            Object.fromEntries(
                summary.enrolledDevices.map((d: { id: string; address: string }) => [d.id, d.address]),
            ),
        );

        // Every message arrived, each the spec's message; each device came in as its certificate's CN.
        const deadline = Date.now() + 10_000;
        while (received.length < devices * rate * duration && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
        }
        expect(received).toHaveLength(devices * rate * duration);
        for (const m of received) {
            expect(m.topic).toBe(topic);
            expect(Object.keys(JSON.parse(m.payload))).toEqual([
                "cpu_usage",
                "mem_free_mb",
                "sw_version",
                "rauc_slot",
                "ota_status",
            ]);
        }
        for (const id of ids) {
            expect(broker.log()).toMatch(
                new RegExp(`New client connected from \\S+ as ${id} \\(.*u'${id}'\\)`),
            );
        }

        // hawkBit saw each device's poll under its own target token.
        const auth = `Basic ${Buffer.from(`${hawkbit.username}:${hawkbit.password}`).toString("base64")}`;
        const polled = async () => {
            let n = 0;
            for (const id of ids) {
                const res = await fetch(`${hawkbit.url}/rest/v1/targets/${id}`, {
                    headers: { authorization: auth },
                });
                const target = (await res.json()) as { pollStatus?: { lastRequestAt?: number } };
                if (target.pollStatus?.lastRequestAt) n++;
            }
            return n;
        };
        const until = Date.now() + 30_000;
        let seen = await polled();
        while (seen < devices && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 1000));
            seen = await polled();
        }
        expect(seen).toBe(devices);
    }, 240_000);

    it("reports every device refused, with the bridge's reason, when the token is used up", async () => {
        const token = await batchToken(1);
        const json = join(dir, "refused.json");
        const first = await simulate(
            [...commonArgs("spent", json), "--devices", "1", "--duration", "0", "--no-mqtt", "--no-poll"],
            token,
        );
        expect(first.status).toBe(0);
        const run = await simulate(
            [...commonArgs("again", json), "--devices", "3", "--duration", "0", "--no-mqtt", "--no-poll"],
            token,
        );
        expect(run.status).toBe(1);
        const summary = JSON.parse(readFileSync(json, "utf8"));
        expect(summary).toMatchObject({ devices: 3, enrolled: 0, failed: 3 });
        expect(summary.failures).toHaveLength(1);
        expect(summary.failures[0]).toMatchObject({ count: 3 });
        expect(summary.failures[0].reason).toMatch(/^401 enrollment_token_refused: .*used up/);
        expect(run.stdout).not.toContain(token);
    }, 120_000);
});
