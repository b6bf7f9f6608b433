/**
 * Enrollments per second through the tenant bridge's API (routes, validation, the enrollment
 * transaction on a real PostgreSQL, signing at a real step-ca), as a ratio against step-ca
 * signing alone (one-time token + sign, the same library) in the same run, both with 8 requests
 * in flight. OTA targets are kept in memory here: the ratio is about the bridge's own cost over
 * the CA, and hawkBit's is its own. CSRs and tokens are made beforehand, outside the timing.
 */
import { performance } from "node:perf_hooks";
import { Pool } from "pg";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { DeviceCertificates } from "../../runtime/bridge/device-certificates";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { migrate } from "../../runtime/bridge/db/migrations";
import {
    lifecycleDeps,
    MapTargets,
    testRealm,
    testTenantApi,
    testTenantConfig,
    wireguardKey,
} from "../support/bridge";
import { stopPeer } from "../support/peers";
import { csr, ecKey } from "../support/pki";
import { startTenantPeers } from "../support/tenant-peers";
import { Scenario, scenario } from "./scenario";

const inFlight = 8;

/** Runs `work(i)` for i in [0, count) with `inFlight` at a time; answers operations per second. */
export async function rate(count: number, work: (i: number) => Promise<void>): Promise<number> {
    let next = 0;
    const start = performance.now();
    await Promise.all(
        Array.from({ length: inFlight }, async () => {
            while (next < count) await work(next++);
        }),
    );
    return count / ((performance.now() - start) / 1000);
}

export async function enrollmentThroughput(quick: boolean): Promise<Scenario[]> {
    const count = quick ? 60 : 400;
    const peers = await startTenantPeers("bridge_bench", 19950 + Math.floor(Math.random() * 40));
    const pool = new Pool({ ...pgSettings(peers.pg), max: 20 });
    const db = pgDatabase(pool);
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
        const app = await testTenantApi(
            await lifecycleDeps(db, tenant, signer, new MapTargets()),
            tenant,
            peers.root.pem,
            await testRealm(),
        );
        const key = await ecKey();
        const warmUp = 10;
        const ids = Array.from({ length: 2 * count + warmUp }, (_, i) => `bench-${i}`);
        const csrs = await Promise.all(ids.map((id) => csr(key, id)));
        const batch = await issueToken(db, {
            maxUses: 2 * count + warmUp,
            ttlSeconds: 3600,
            createdBy: "bench",
        });
        const enroll = async (i: number) => {
            const res = await app.inject({
                method: "POST",
                url: `/devices/${ids[i]}/enroll`,
                payload: {
                    csr_pem: csrs[i],
                    wireguard_public_key: wireguardKey(),
                    enrollment_token: batch.token,
                },
            });
            if (res.statusCode !== 201) throw new Error(`enrollment answered ${res.statusCode}: ${res.body}`);
        };
        for (let i = 0; i < warmUp; i++) await enroll(count * 2 + i);
        // Alternate halves so neither side always meets a warmer CA database.
        const signing = await rate(count / 2, (i) =>
            signer.sign(csrs[count + i], ids[count + i]).then(() => undefined),
        );
        const enrolling = await rate(count / 2, (i) => enroll(i));
        const signing2 = await rate(count / 2, (i) =>
            signer.sign(csrs[count + count / 2 + i], ids[count + count / 2 + i]).then(() => undefined),
        );
        const enrolling2 = await rate(count / 2, (i) => enroll(count / 2 + i));
        await app.close();
        return [
            scenario(
                "enrollments end to end",
                "enrollments per second vs step-ca signing alone",
                "enrollments/s",
                (enrolling + enrolling2) / 2,
                (signing + signing2) / 2,
            ),
        ];
    } finally {
        await db.close();
        await peers.close();
        stopPeer("postgres");
    }
}

export function pgSettings(pg: Record<string, string>) {
    return {
        host: pg.PGHOST,
        port: Number(pg.PGPORT),
        user: pg.PGUSER,
        password: pg.PGPASSWORD,
        database: pg.PGDATABASE,
    };
}
