/**
 * What one machine's fleet simulator (`npm run simulate`, tools/fleet-simulator/, as its own
 * process) sustains against a local platform, each as a ratio against the peer's own ceiling in
 * the same run:
 *
 * - enrollments per second, each with the simulator's whole work (EC key, CSR, WireGuard key,
 *   the answer's checks and chain verification), 8 in flight, vs the bridge's ceiling: direct
 *   HTTPS enrollments of ready-made CSRs, 8 in flight, from this process. The bridge is the
 *   tenant API on real PostgreSQL and step-ca (as enrollment.ts; OTA targets in memory);
 * - telemetry messages per second from the enrolled devices over mutual TLS (QoS 1, each device
 *   on its own schedule, asking far more than it can send) vs the Mosquitto stand-in's own
 *   ceiling: one plain loopback client with the same subscriber (telemetry-mqtt.ts's run).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MqttClient } from "mqtt";
import { Pool } from "pg";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { DeviceCertificates } from "../../runtime/bridge/device-certificates";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { Summary } from "../../tools/fleet-simulator/summary";
import { projectRoot } from "../../tools/stack-config";
import {
    lifecycleDeps,
    MapTargets,
    testRealm,
    testTenantApi,
    testTenantConfig,
    wireguardKey,
} from "../support/bridge";
import { mosquittoBinary, startMosquitto, subCaTrustAnchor } from "../support/mosquitto";
import { stopPeer } from "../support/peers";
import { csr, ecKey, localhostTls } from "../support/pki";
import { startTenantPeers } from "../support/tenant-peers";
import { pgSettings, rate } from "./enrollment";
import { Scenario, scenario } from "./scenario";
import { connected, run, topic } from "./telemetry-mqtt";

/** One enrollment over HTTPS; throws unless it is a 201. */
function post(url: string, ca: string, body: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
        const req = request(
            url,
            { method: "POST", ca, headers: { "content-type": "application/json" } },
            (res) => {
                res.resume();
                res.on("end", () =>
                    res.statusCode === 201
                        ? resolve()
                        : reject(new Error(`enrollment answered ${res.statusCode}`)),
                );
            },
        );
        req.on("error", reject);
        req.end(JSON.stringify(body));
    });
}

/** The simulator as its own process; answers its summary. */
function simulate(args: string[], token: string, json: string): Promise<Summary> {
    return new Promise((resolve, reject) => {
        const child = spawn(
            process.execPath,
            ["--import", "tsx", "tools/fleet-simulator/main.ts", ...args, "--json", json],
            {
                cwd: projectRoot,
                env: { PATH: process.env.PATH ?? "", CDM_ENROLLMENT_TOKEN: token },
                stdio: ["ignore", "pipe", "pipe"],
            },
        );
        let output = "";
        child.stdout.on("data", (d: Buffer) => (output += d.toString()));
        child.stderr.on("data", (d: Buffer) => (output += d.toString()));
        child.on("error", reject);
        child.on("close", (status) =>
            status === 0
                ? resolve(JSON.parse(readFileSync(json, "utf8")) as Summary)
                : reject(new Error(`simulator exited ${status}:\n${output}`)),
        );
    });
}

export async function fleetSimulator(quick: boolean): Promise<Scenario[]> {
    const count = quick ? 40 : 300;
    // Per device; far above what the simulator can send, so the measured rate is its ceiling.
    const perDeviceRate = quick ? 500 : 200;
    const seconds = quick ? 3 : 10;
    const ceilingMessages = quick ? 5000 : 40_000;
    mosquittoBinary();
    const peers = await startTenantPeers("fleet_bench", 19900 + Math.floor(Math.random() * 40));
    const pool = new Pool({ ...pgSettings(peers.pg), max: 20 });
    const db = pgDatabase(pool);
    const dir = mkdtempSync(join(tmpdir(), "fleet-bench-"));
    const clients: MqttClient[] = [];
    let broker: Awaited<ReturnType<typeof startMosquitto>> | undefined;
    let app: Awaited<ReturnType<typeof testTenantApi>> | undefined;
    try {
        await migrate(db);
        const tenant = testTenantConfig(peers.subCa.pem);
        const signer = new DeviceCertificates({
            tenantId: "acme",
            client: peers.stepCa.client,
            caDnsName: "localhost",
            provisioner: peers.provisioner.signer,
            rootPem: peers.root.pem,
            subCaPem: peers.subCa.pem,
        });
        app = await testTenantApi(
            await lifecycleDeps(db, tenant, signer, new MapTargets()),
            tenant,
            peers.root.pem,
            await testRealm(),
            await localhostTls(peers.ica),
        );
        await app.listen({ host: "127.0.0.1", port: 0 });
        const bridgeUrl = `https://localhost:${(app.server.address() as { port: number }).port}`;
        const server = await localhostTls(peers.subCa);
        broker = await startMosquitto(
            {
                serverChainPem: server.certPem + peers.ica.pem,
                serverKeyPem: server.keyPem,
                clientCaPem: await subCaTrustAnchor(peers.subCa),
            },
            { plain: true },
        );
        const subscriber = await connected(broker.plainUrl!);
        clients.push(subscriber);
        await subscriber.subscribeAsync(topic, { qos: 1 });
        const token = (await issueToken(db, { maxUses: 2 * count + 5, ttlSeconds: 3600, createdBy: "bench" }))
            .token;
        const rootFile = join(dir, "root.pem");
        writeFileSync(rootFile, peers.root.pem);

        // The bridge's ceiling over HTTPS: ready CSRs, no checks of the answers.
        const key = await ecKey();
        const ids = Array.from({ length: count + 5 }, (_, i) => `direct-${i}`);
        const csrs = await Promise.all(ids.map((id) => csr(key, id)));
        const direct = (i: number) =>
            post(`${bridgeUrl}/devices/${ids[i]}/enroll`, peers.root.pem, {
                csr_pem: csrs[i],
                wireguard_public_key: wireguardKey(),
                enrollment_token: token,
            });
        for (let i = count; i < count + 5; i++) await direct(i); // warm-up
        const ceilingEnrollments = await rate(count, direct);

        const summary = await simulate(
            [
                ...[
                    "--bridge",
                    bridgeUrl,
                    "--ca",
                    rootFile,
                    "--devices",
                    String(count),
                    "--prefix",
                    "bench-sim",
                ],
                ...["--rate", String(perDeviceRate), "--duration", String(seconds), "--concurrency", "8"],
                ...["--mqtt-url", broker.tlsUrl, "--no-poll"],
            ],
            token,
            join(dir, "summary.json"),
        );
        if (summary.enrolled !== count || Object.keys(summary.errors).length) {
            throw new Error(
                `simulator: ${summary.enrolled} of ${count} enrolled, errors ${JSON.stringify(summary.errors)}`,
            );
        }
        const plain = await connected(broker.plainUrl!, { clientId: "bench-plain" });
        clients.push(plain);
        await run([plain], subscriber, 500); // warm-up
        const ceilingMessagesPerSecond = await run([plain], subscriber, ceilingMessages);
        return [
            scenario(
                "fleet simulator enrollments",
                "simulated enrollments per second (keys, CSR, answer checks; 8 in flight) vs direct HTTPS enrollments of ready CSRs",
                "enrollments/s",
                summary.enrollmentsPerSecond,
                ceilingEnrollments,
            ),
            scenario(
                `fleet simulator MQTT (${count} devices)`,
                "state messages per second the simulator's mTLS devices sustain (QoS 1) vs one plain loopback client",
                "msg/s",
                summary.messagesPerSecond,
                ceilingMessagesPerSecond,
            ),
        ];
    } finally {
        for (const c of clients) await c.endAsync(true).catch(() => undefined);
        await broker?.stop();
        await app?.close();
        await db.close();
        await peers.close();
        stopPeer("postgres");
        rmSync(dir, { recursive: true, force: true });
    }
}
