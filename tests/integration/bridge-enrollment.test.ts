/**
 * The tenant bridge as a process against real PostgreSQL, step-ca and hawkBit: a full enrollment,
 * renewal over mutual TLS and decommissioning; 500 concurrent enrollments; step-ca stopped in
 * the middle of a load run; the bridge killed with SIGKILL under load. After each, the database,
 * step-ca and hawkBit agree, and retries of what failed succeed.
 */
import { Server } from "node:http";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { HawkbitClient } from "../../runtime/shared/hawkbit/client";
import { deviceDnsName } from "../../runtime/shared/pki-names";
import { x509 } from "../../runtime/shared/x509";
import { serveJwks, testRealm, TestRealm, wireguardKey } from "../support/bridge";
import { BridgeProcess, httpsJson, startBridgeProcess } from "../support/bridge-process";
import { RunningHawkbit, startHawkbit } from "../support/hawkbit";
import { stopPeer } from "../support/peers";
import { csr, ecKey, KeyPair } from "../support/pki";
import { startTenantPeers, TenantPeers, tenantBridgeEnv } from "../support/tenant-peers";

const base = 20100 + Math.floor(Math.random() * 300);
const ports = { api: base, management: base + 1, stepCa: base + 2, jwks: base + 3, hawkbit: base + 4 };

let peers: TenantPeers;
let hawkbit: RunningHawkbit;
let realm: TestRealm;
let jwks: Server;
let env: Record<string, string>;
let bridge: BridgeProcess;
let pool: Pool;

beforeAll(async () => {
    peers = await startTenantPeers("bridge_e2e", ports.stepCa);
    hawkbit = await startHawkbit(ports.hawkbit);
    realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
    jwks = await serveJwks(realm, ports.jwks);
    env = {
        ...peers.pg,
        BRIDGE_DATABASE: "postgres",
        ...(await tenantBridgeEnv(peers, ports, { url: hawkbit.url, ...hawkbit.bridge }, realm.issuer)),
    };
    bridge = await startBridgeProcess(env);
    pool = peers.pool();
});

afterAll(async () => {
    await bridge?.stop();
    jwks?.close();
    await hawkbit?.stop();
    await peers?.close();
    stopPeer("postgres");
});

/** HTTPS to the bridge trusting the platform root, optionally presenting a client certificate. */
function call(
    method: string,
    path: string,
    body?: unknown,
    options: { bearer?: string; identity?: { cert: string; key: string } } = {},
): Promise<{ status: number; json: any }> {
    return httpsJson(`${bridge.url}${path}`, peers.root.pem, method, body, options);
}

async function token(options: { deviceId?: string; maxUses?: number }): Promise<string> {
    return (await issueToken(pgDatabase(pool), { ...options, ttlSeconds: 3600, createdBy: "test" })).token;
}

/** hawkBit targets whose controller id starts with `prefix` (management API, FIQL query). */
async function countTargets(prefix: string): Promise<number> {
    const auth = Buffer.from(`${hawkbit.username}:${hawkbit.password}`).toString("base64");
    const res = await fetch(
        `${hawkbit.url}/rest/v1/targets?limit=1&q=${encodeURIComponent(`controllerId==${prefix}*`)}`,
        {
            headers: { authorization: `Basic ${auth}` },
        },
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { total: number }).total;
}

interface Device {
    readonly id: string;
    readonly key: KeyPair;
    readonly csrPem: string;
    readonly wg: string;
}

async function device(id: string): Promise<Device> {
    const key = await ecKey();
    return { id, key, csrPem: await csr(key, id), wg: wireguardKey() };
}

const enroll = (d: Device, enrollmentToken: string) =>
    call("POST", `/devices/${d.id}/enroll`, {
        csr_pem: d.csrPem,
        wireguard_public_key: d.wg,
        enrollment_token: enrollmentToken,
    });

/** Counts that must agree after anything: devices, addresses, certificate records, peers, hawkBit targets. */
async function consistency() {
    const one = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0].n);
    return {
        devices: await one("SELECT count(*)::text AS n FROM devices"),
        addresses: await one("SELECT count(*)::text AS n FROM wireguard_addresses"),
        orphanAddresses: await one(
            "SELECT count(*)::text AS n FROM wireguard_addresses a WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = a.device_id)",
        ),
        addressSpace: await one(
            "SELECT ((SELECT count(*) FROM wireguard_addresses) + (SELECT count(*) FROM wireguard_address_pool))::text AS n",
        ),
        duplicateAddresses: await one(
            "SELECT count(*)::text AS n FROM (SELECT host_offset FROM wireguard_addresses GROUP BY host_offset HAVING count(*) > 1) x",
        ),
        livePeers: await one(
            "SELECT (count(*) FILTER (WHERE op = 'add') - count(*) FILTER (WHERE op = 'remove'))::text AS n FROM wireguard_peer_changes",
        ),
        tokenUses: await one("SELECT coalesce(sum(uses), 0)::text AS n FROM enrollment_tokens"),
    };
}

describe("a device's life on real peers", () => {
    it("enrolls, renews over mutual TLS, and is decommissioned everywhere", async () => {
        const d = await device("dev-e2e-0001");
        const res = await enroll(d, await token({ deviceId: d.id }));
        expect(res.status).toBe(201);
        const cert = new x509.X509Certificate(res.json.certificate_pem);
        expect(cert.subject).toBe(`CN=${d.id}`);
        expect(cert.issuer).toBe(peers.subCa.cert.subject);
        const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
        expect(san.names.items.map((n) => n.value)).toEqual([deviceDnsName("acme", d.id)]);
        expect(res.json.chain_pem.map((p: string) => new x509.X509Certificate(p).subject)).toEqual([
            peers.subCa.cert.subject,
            peers.ica.cert.subject,
        ]);
        expect(res.json.wireguard.address).toBe("10.8.0.2/32");
        const hawkbitClient = new HawkbitClient({ url: hawkbit.url, ...hawkbit.bridge });
        expect((await hawkbitClient.getTarget(d.id))?.securityToken).toBe(res.json.hawkbit.target_token);
        // The device's own DDI poll with its target token works.
        const poll = await fetch(`${hawkbit.url}/${hawkbit.tenant}/controller/v1/${d.id}`, {
            headers: { authorization: `TargetToken ${res.json.hawkbit.target_token}` },
        });
        expect(poll.status).toBe(200);

        const identity = {
            cert: res.json.certificate_pem + res.json.chain_pem.join(""),
            key: d.key.privatePem,
        };
        const newKey = await ecKey();
        const renewed = await call(
            "POST",
            `/devices/${d.id}/renew`,
            { csr_pem: await csr(newKey, d.id) },
            { identity },
        );
        expect(renewed.status).toBe(200);
        const renewedCert = new x509.X509Certificate(renewed.json.certificate_pem);
        expect(renewedCert.serialNumber).not.toBe(cert.serialNumber);
        // The certificate it replaced is no credential any more.
        const again = await call(
            "POST",
            `/devices/${d.id}/renew`,
            { csr_pem: await csr(newKey, d.id) },
            { identity },
        );
        expect([again.status, again.json.error]).toEqual([401, "unknown_certificate"]);
        const withoutCert = await call("POST", `/devices/${d.id}/renew`, {
            csr_pem: await csr(newKey, d.id),
        });
        expect([withoutCert.status, withoutCert.json.error]).toEqual([401, "client_certificate_required"]);
        const otherDevice = await call(
            "POST",
            "/devices/dev-e2e-0002/renew",
            { csr_pem: await csr(newKey, "dev-e2e-0002") },
            { identity },
        );
        expect([otherDevice.status, otherDevice.json.error]).toEqual([403, "wrong_device"]);

        const admin = await realm.token({ roles: ["tenant-admin"] });
        const gone = await call("DELETE", `/devices/${d.id}`, undefined, { bearer: admin });
        expect(gone.status).toBe(200);
        expect(await hawkbitClient.getTarget(d.id)).toBeUndefined();
        const revoked = await pool.query(
            "SELECT serial FROM device_certificates WHERE device_id = $1 AND revoked_at IS NOT NULL ORDER BY serial",
            [d.id],
        );
        expect(revoked.rows.map((r) => r.serial).sort()).toEqual(
            [cert.serialNumber.toLowerCase(), renewedCert.serialNumber.toLowerCase()].sort(),
        );
        // step-ca refuses to renew a revoked certificate: the revocation reached it.
        await expect(
            peers.stepCa.client.renew({
                certificatePem: renewed.json.certificate_pem,
                keyPem: newKey.privatePem,
            }),
        ).rejects.toThrow(/401|revoked|unauthorized/i);
        const renewAfter = await call(
            "POST",
            `/devices/${d.id}/renew`,
            { csr_pem: await csr(newKey, d.id) },
            {
                identity: {
                    cert: renewed.json.certificate_pem + renewed.json.chain_pem.join(""),
                    key: newKey.privatePem,
                },
            },
        );
        expect([renewAfter.status, renewAfter.json.error]).toEqual([401, "unknown_certificate"]);
        expect(await consistency()).toMatchObject({
            devices: 0,
            addresses: 0,
            orphanAddresses: 0,
            livePeers: 0,
        });
    });
});

describe("under load", () => {
    it("gives 500 concurrent enrollments 500 distinct addresses, targets and certificates", async () => {
        const batch = await token({ maxUses: 500 });
        const devices = await Promise.all(
            Array.from({ length: 500 }, (_, i) => device(`dev-load-${String(i).padStart(4, "0")}`)),
        );
        // As devices do: a bridge too busy to take a request now (503 busy) is asked again.
        const enrollPatiently = async (d: Device) => {
            for (;;) {
                const res = await enroll(d, batch);
                if (res.status !== 503 || res.json.error !== "busy") return res;
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
        };
        const answers = await Promise.all(devices.map(enrollPatiently));
        expect(answers.filter((a) => a.status !== 201).map((a) => a.json)).toEqual([]);
        expect(new Set(answers.map((a) => a.json.wireguard.address)).size).toBe(500);
        const state = await consistency();
        expect(state).toMatchObject({
            devices: 500,
            addresses: 500,
            orphanAddresses: 0,
            duplicateAddresses: 0,
            livePeers: 500,
            addressSpace: 65533,
        });
        const targets = await countTargets("dev-load-");
        expect(targets).toBe(500);
    });

    it("survives step-ca stopping mid-run: each enrollment completed or left nothing, and retries succeed", async () => {
        const devices = await Promise.all(
            Array.from({ length: 120 }, (_, i) => device(`dev-out-${String(i).padStart(4, "0")}`)),
        );
        const tokens = await Promise.all(devices.map((d) => token({ deviceId: d.id })));
        const before = await consistency();
        const run = devices.map((d, i) =>
            new Promise((r) => setTimeout(r, i * 5)).then(() => enroll(d, tokens[i])),
        );
        await new Promise((r) => setTimeout(r, 200));
        await peers.stopStepCa();
        const answers = await Promise.all(run);
        const ok = answers.filter((a) => a.status === 201).length;
        const failed = answers.filter((a) => a.status === 503 || a.status === 502);
        expect(ok + failed.length).toBe(120);
        expect(failed.length).toBeGreaterThan(0);
        const after = await consistency();
        expect(after.devices - before.devices).toBe(ok);
        expect(after.addresses - before.addresses).toBe(ok);
        expect(after.tokenUses - before.tokenUses).toBe(ok);
        expect(after.orphanAddresses).toBe(0);
        expect(await countTargets("dev-out-")).toBe(ok);
        await peers.restartStepCa();
        const retries = await Promise.all(
            devices.map((d, i) => (answers[i].status === 201 ? undefined : enroll(d, tokens[i]))),
        );
        expect(retries.filter((r) => r && r.status !== 201).map((r) => r!.json)).toEqual([]);
        expect((await consistency()).devices - before.devices).toBe(120);
    });

    it("stays consistent when the bridge is killed with SIGKILL under load, and retries succeed", async () => {
        const devices = await Promise.all(
            Array.from({ length: 120 }, (_, i) => device(`dev-kill-${String(i).padStart(4, "0")}`)),
        );
        const tokens = await Promise.all(devices.map((d) => token({ deviceId: d.id })));
        const before = await consistency();
        const run = devices.map((d, i) =>
            new Promise((r) => setTimeout(r, i * 5)).then(() =>
                enroll(d, tokens[i]).catch(() => ({ status: 0, json: undefined })),
            ),
        );
        await new Promise((r) => setTimeout(r, 250));
        expect(await bridge.stop("SIGKILL")).toBe("SIGKILL");
        const answers = await Promise.all(run);
        bridge = await startBridgeProcess(env);
        const after = await consistency();
        // Answered successes are committed; a kill can also commit an enrollment whose answer was lost.
        expect(after.devices - before.devices).toBeGreaterThanOrEqual(
            answers.filter((a) => a.status === 201).length,
        );
        expect(after.addresses - before.addresses).toBe(after.devices - before.devices);
        expect(after.tokenUses - before.tokenUses).toBe(after.devices - before.devices);
        expect(after.livePeers - before.livePeers).toBe(after.devices - before.devices);
        expect(after.orphanAddresses).toBe(0);
        const enrolled = new Set(
            (await pool.query<{ id: string }>("SELECT id FROM devices WHERE id LIKE 'dev-kill-%'")).rows.map(
                (r) => r.id,
            ),
        );
        const retries = await Promise.all(
            devices.map((d, i) => (enrolled.has(d.id) ? undefined : enroll(d, tokens[i]))),
        );
        expect(retries.filter((r) => r && r.status !== 201).map((r) => r!.json)).toEqual([]);
        expect((await consistency()).devices - before.devices).toBe(120);
        expect(await countTargets("dev-kill-")).toBe(120);
    });
});
