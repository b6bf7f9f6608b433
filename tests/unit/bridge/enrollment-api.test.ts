/** The tenant bridge's enrollment API on PGlite: the happy path, rollbacks and the bad-input corpus. */
import { PGlite } from "@electric-sql/pglite";
import { webcrypto } from "node:crypto";
import { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TenantBridgeConfig } from "../../../runtime/bridge/config";
import { LifecycleDeps } from "../../../runtime/bridge/enrollment";
import { retryPendingUndo } from "../../../runtime/bridge/pending-undo";
import { Database, pgliteDatabase } from "../../../runtime/bridge/db/database";
import { migrate } from "../../../runtime/bridge/db/migrations";
import { x509 } from "../../../runtime/shared/x509";
import {
    lifecycleDeps,
    LocalSigner,
    MapTargets,
    tenantTables,
    testPki,
    testRealm,
    TestRealm,
    testTenantApi,
    testTenantConfig,
    wireguardKey,
} from "../../support/bridge";
import { csr, ecKey, rsaCsr, TestCa } from "../../support/pki";

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];

let root: TestCa;
let ica: TestCa;
let subCa: TestCa;
let realm: TestRealm;
let db: Database;
let tenant: TenantBridgeConfig;
let signer: LocalSigner;
let targets: MapTargets;
let app: FastifyInstance;
let deps: LifecycleDeps;
let admin: string;

beforeAll(async () => {
    ({ root, ica, subCa } = await testPki());
    realm = await testRealm();
    admin = await realm.token({ roles: ["tenant-admin"] });
});

beforeAll(async () => {
    db = pgliteDatabase(new PGlite());
    await migrate(db);
});

afterAll(async () => {
    await db.close();
});

beforeEach(async () => {
    await db.execute(`TRUNCATE ${tenantTables} RESTART IDENTITY`);
    // A /24 keeps each test's address pool small; the /16 is the integration tier's.
    tenant = testTenantConfig(subCa.pem, "10.8.0.0/24");
    signer = new LocalSigner(subCa, [ica.pem]);
    targets = new MapTargets();
    deps = await lifecycleDeps(db, tenant, signer, targets);
    app = await testTenantApi(deps, tenant, root.pem, realm);
});

afterEach(async () => {
    await app.close();
});

async function issue(body: Record<string, unknown> = { ttl_seconds: 3600 }): Promise<string> {
    const res = await app.inject({
        method: "POST",
        url: "/enrollment-tokens",
        headers: { authorization: `Bearer ${admin}` },
        payload: body,
    });
    expect(res.statusCode).toBe(201);
    return res.json().token;
}

async function enroll(id: string, token: string, csrPem?: string, wgKey = wireguardKey()) {
    return app.inject({
        method: "POST",
        url: `/devices/${id}/enroll`,
        payload: {
            csr_pem: csrPem ?? (await csr(await ecKey(), id)),
            wireguard_public_key: wgKey,
            enrollment_token: token,
        },
    });
}

/** Rows in every table enrollment writes, and the uses of every token. */
async function state() {
    const count = async (table: string) =>
        Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0].n);
    const uses = await db.query<{ uses: number }>("SELECT uses FROM enrollment_tokens ORDER BY id");
    return {
        devices: await count("devices"),
        addresses: await count("wireguard_addresses"),
        free: await count("wireguard_address_pool"),
        certificates: await count("device_certificates"),
        events: await count("device_events"),
        peers: await count("wireguard_peer_changes"),
        tokenUses: uses.rows.map((r) => r.uses),
        targets: targets.targets.size,
    };
}

describe("enrollment", () => {
    it("enrolls a device and answers everything it needs", async () => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        const wg = wireguardKey();
        const res = await enroll("dev-0001", token, undefined, wg);
        expect(res.statusCode).toBe(201);
        const body = res.json();
        const cert = new x509.X509Certificate(body.certificate_pem);
        expect(cert.subject).toBe("CN=dev-0001");
        expect(body.chain_pem).toEqual([subCa.pem, ica.pem]);
        expect(body.root_ca_pem).toBe(root.pem);
        expect(body.certificate_not_after).toBe(cert.notAfter.toISOString());
        expect(body.reenrolled).toBe(false);
        expect(body.wireguard).toEqual({
            address: "10.8.0.2/32",
            server_public_key: tenant.wireguard.serverPublicKey,
            endpoint: "vpn.acme.test:51820",
            allowed_ips: ["10.8.0.1/32"],
            persistent_keepalive: 25,
        });
        expect(body.mqtt).toEqual({
            url: "mqtts://things.acme.test:8883",
            telemetry_topic: "v1/devices/me/telemetry",
        });
        expect(body.hawkbit).toEqual({
            url: "https://ota.acme.test",
            tenant: "DEFAULT",
            controller_id: "dev-0001",
            target_token: targets.targets.get("dev-0001"),
        });
        expect(body.hawkbit.target_token).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(body.influxdb).toEqual({
            url: "https://metrics.acme.test",
            org: "acme",
            bucket: "devices",
            token: "influx-device-write-token",
        });
        expect(await state()).toMatchObject({
            devices: 1,
            addresses: 1,
            certificates: 1,
            events: 1,
            peers: 1,
            tokenUses: [1],
            targets: 1,
        });
        const device = await app.inject({
            url: "/devices/dev-0001",
            headers: { authorization: `Bearer ${admin}` },
        });
        expect(device.json()).toMatchObject({
            id: "dev-0001",
            status: "enrolled",
            wireguardAddress: "10.8.0.2",
            wireguardPublicKey: wg,
            keyAlgorithm: "EC P-256",
            certificateSerial: cert.serialNumber.toLowerCase(),
            certificateNotAfter: cert.notAfter.toISOString(),
            firstConnectedAt: null,
        });
        expect(device.json().events.map((e: { kind: string }) => e.kind)).toEqual(["enrolled"]);
        expect(JSON.stringify(device.json())).not.toContain(body.hawkbit.target_token);
    });

    it("leaves nothing behind when step-ca fails, and the same token and CSR then succeed", async () => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        const request = await csr(await ecKey(), "dev-0001");
        const before = await state();
        signer.failNext = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9000"), {
            code: "ECONNREFUSED",
        });
        const failed = await enroll("dev-0001", token, request);
        expect(failed.statusCode).toBe(503);
        expect(failed.json()).toEqual({
            error: "peer_unavailable",
            message: "step-ca is unavailable; retry later",
        });
        expect(await state()).toEqual(before);
        expect((await enroll("dev-0001", token, request)).statusCode).toBe(201);
    });

    it("revokes the new certificate when hawkBit fails, leaving nothing behind", async () => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        const before = await state();
        targets.failNext = new Error("hawkBit answered 500");
        const failed = await enroll("dev-0001", token);
        expect(failed.statusCode).toBe(503);
        expect(failed.json().message).toBe("hawkBit is unavailable; retry later");
        expect(signer.signed).toBe(1);
        expect(signer.revoked).toHaveLength(1);
        expect(await state()).toEqual(before);
        expect((await enroll("dev-0001", token)).statusCode).toBe(201);
    });

    it("records an undo that failed and retries it until step-ca takes the revocation", async () => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        targets.failNext = new Error("hawkBit answered 500");
        signer.failRevokes = 2;
        expect((await enroll("dev-0001", token)).statusCode).toBe(503);
        expect(signer.revoked).toEqual([]);
        const pending = async () =>
            (await db.query<{ kind: string; attempts: number }>("SELECT kind, attempts FROM pending_undo"))
                .rows;
        expect(await pending()).toEqual([{ kind: "revoke-certificate", attempts: 0 }]);
        expect(await retryPendingUndo(deps)).toBe(0);
        expect(await pending()).toEqual([{ kind: "revoke-certificate", attempts: 1 }]);
        await db.query("UPDATE pending_undo SET next_at = now()");
        expect(await retryPendingUndo(deps)).toBe(1);
        expect(signer.revoked).toHaveLength(1);
        expect(await pending()).toEqual([]);
    });

    it("keeps an OTA target whose undo was pending once the device enrolled after all", async () => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        const request = await csr(await ecKey(), "dev-0001");
        // The target is made, then the transaction fails on another device's WireGuard key.
        const taken = wireguardKey();
        await enroll("dev-0002", await issue({ device_id: "dev-0002", ttl_seconds: 600 }), undefined, taken);
        const deleteTarget = targets.deleteTarget.bind(targets);
        targets.deleteTarget = async () => {
            throw new Error("hawkBit unreachable");
        };
        const clash = await enroll("dev-0001", token, request, taken);
        expect([clash.statusCode, clash.json().error]).toEqual([409, "wireguard_key_in_use"]);
        targets.deleteTarget = deleteTarget;
        expect((await enroll("dev-0001", token, request)).statusCode).toBe(201);
        expect(await retryPendingUndo(deps)).toBe(1);
        expect(targets.targets.has("dev-0001")).toBe(true);
    });

    it("refuses a second enrollment unless its own token allows it; re-enrollment keeps the address, not the old credentials", async () => {
        const first = await enroll("dev-0001", await issue({ device_id: "dev-0001", ttl_seconds: 600 }));
        const firstSerial = new x509.X509Certificate(first.json().certificate_pem).serialNumber.toLowerCase();
        await enroll("dev-0002", await issue({ device_id: "dev-0002", ttl_seconds: 600 }));
        const batchTakeover = await app.inject({
            method: "POST",
            url: "/enrollment-tokens",
            headers: { authorization: `Bearer ${admin}` },
            payload: { max_uses: 5, reenroll: true, ttl_seconds: 600 },
        });
        expect([batchTakeover.statusCode, batchTakeover.json().error]).toEqual([400, "invalid_reenroll"]);
        const again = await enroll("dev-0001", await issue({ ttl_seconds: 600 }));
        expect(again.statusCode).toBe(409);
        expect(again.json()).toEqual({
            error: "already_enrolled",
            message: "device dev-0001 is already enrolled; re-enrolling needs a token that allows it",
        });
        const oldToken = targets.targets.get("dev-0001");
        const newKey = wireguardKey();
        const re = await enroll(
            "dev-0001",
            await issue({ device_id: "dev-0001", reenroll: true, ttl_seconds: 600 }),
            undefined,
            newKey,
        );
        expect(re.statusCode).toBe(201);
        expect(re.json().reenrolled).toBe(true);
        expect(re.json().wireguard.address).toBe("10.8.0.2/32");
        // The replaced unit loses OTA access and its certificate: a new target token, the old one revoked.
        expect(re.json().hawkbit.target_token).not.toBe(oldToken);
        expect(targets.targets.get("dev-0001")).toBe(re.json().hawkbit.target_token);
        expect(signer.revoked).toEqual([firstSerial]);
        const feed = await app.inject({
            url: "/wireguard/peers?since=2",
            headers: { authorization: `Bearer ${tenant.serviceTokens.peerAgent}` },
        });
        expect(
            feed.json().changes.map((c: { op: string; publicKey: string }) => [c.op, c.publicKey === newKey]),
        ).toEqual([
            ["remove", false],
            ["add", true],
        ]);
    });

    it("lets a batch token enroll exactly max_uses devices", async () => {
        const token = await issue({ max_uses: 3, ttl_seconds: 600 });
        for (const id of ["dev-a01", "dev-a02", "dev-a03"])
            expect((await enroll(id, token)).statusCode).toBe(201);
        const fourth = await enroll("dev-a04", token);
        expect(fourth.statusCode).toBe(401);
        expect(fourth.json()).toEqual({
            error: "enrollment_token_refused",
            message: "enrollment token refused: used up",
        });
    });
});

describe("the bad-input corpus: each answered with its 4xx and changing nothing", () => {
    const other = async () => ecKey();
    const signedByAnother = async (id: string) => {
        const [a, b] = [await ecKey(), await ecKey()];
        const generated = await x509.Pkcs10CertificateRequestGenerator.create(
            {
                name: `CN=${id}`,
                keys: { publicKey: b.keys.publicKey, privateKey: a.keys.privateKey },
                signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
            },
            crypto,
        );
        return generated.toString("pem");
    };
    const rsa = (bits: number) => rsaCsr(bits, "dev-0001");

    type Case = {
        name: string;
        id?: string;
        body: (token: string) => Promise<Record<string, unknown> | string>;
        status: number;
        error: string;
        message?: string;
    };
    const valid = async (token: string, id = "dev-0001") => ({
        csr_pem: await csr(await other(), id),
        wireguard_public_key: wireguardKey(),
        enrollment_token: token,
    });
    const cases: Case[] = [
        {
            name: "malformed PEM",
            body: async (t) => ({
                ...(await valid(t)),
                csr_pem: "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----",
            }),
            status: 400,
            error: "csr_refused",
            message: "csr_pem is not a PEM certificate request",
        },
        {
            name: "CSR signed by another key",
            body: async (t) => ({ ...(await valid(t)), csr_pem: await signedByAnother("dev-0001") }),
            status: 400,
            error: "csr_refused",
            message: "csr_pem is not signed by its own key",
        },
        {
            name: "wrong CN",
            body: async (t) => ({ ...(await valid(t)), csr_pem: await csr(await other(), "dev-0002") }),
            status: 400,
            error: "csr_refused",
            message: "the request's subject must be exactly CN=dev-0001, not CN=dev-0002",
        },
        {
            name: "extra SANs",
            body: async (t) => ({
                ...(await valid(t)),
                csr_pem: await csr(await other(), "dev-0001", ["evil.example.com"]),
            }),
            status: 400,
            error: "csr_refused",
            message: "the request must not ask for names or other extensions",
        },
        {
            name: "RSA 1024 key",
            body: async (t) => ({ ...(await valid(t)), csr_pem: await rsa(1024) }),
            status: 400,
            error: "csr_refused",
        },
        {
            name: "RSA 2048 key where RSA is not allowed",
            body: async (t) => ({ ...(await valid(t)), csr_pem: await rsa(2048) }),
            status: 400,
            error: "csr_refused",
        },
        {
            name: "oversized body",
            body: async (t) => ({ ...(await valid(t)), padding: "x".repeat(70 * 1024) }),
            status: 413,
            error: "fst_err_ctp_body_too_large",
        },
        {
            name: "unknown field",
            body: async (t) => ({ ...(await valid(t)), certificate_pem: "x" }),
            status: 400,
            error: "invalid_request",
        },
        {
            name: "missing CSR",
            body: async (t) => ({ wireguard_public_key: wireguardKey(), enrollment_token: t }),
            status: 400,
            error: "invalid_request",
            message: "body must have required property 'csr_pem'",
        },
        {
            name: "not JSON",
            body: async () => "{csr_pem:",
            status: 400,
            error: "fst_err_ctp_invalid_json_body",
        },
        {
            name: "upper-case id",
            id: "Dev-0001",
            body: (t) => valid(t, "Dev-0001"),
            status: 400,
            error: "invalid_device_id",
        },
        {
            name: "too-short id",
            id: "ab",
            body: (t) => valid(t, "ab"),
            status: 400,
            error: "invalid_device_id",
        },
        {
            name: "too-long id",
            id: "d".repeat(64),
            body: (t) => valid(t),
            status: 400,
            error: "invalid_request",
        },
        {
            name: "bad WireGuard key",
            body: async (t) => ({ ...(await valid(t)), wireguard_public_key: "not-a-key" }),
            status: 400,
            error: "invalid_wireguard_key",
        },
        {
            name: "unknown token",
            body: () => valid("cdm_et_unknown"),
            status: 401,
            error: "enrollment_token_refused",
            message: "enrollment token refused: unknown",
        },
        {
            name: "token of another tenant's bridge",
            body: () => valid(`cdm_et_${"A".repeat(43)}`),
            status: 401,
            error: "enrollment_token_refused",
            message: "enrollment token refused: unknown",
        },
        {
            name: "token for another device",
            body: async () => valid(await issue({ device_id: "dev-9999", ttl_seconds: 600 })),
            status: 401,
            error: "enrollment_token_refused",
            message: "enrollment token refused: for another device",
        },
    ];

    it.each(cases)("$name → $status $error", async (c) => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        const body = await c.body(token);
        const before = await state();
        const res = await app.inject({
            method: "POST",
            url: `/devices/${c.id ?? "dev-0001"}/enroll`,
            headers: { "content-type": "application/json" },
            payload: typeof body === "string" ? body : JSON.stringify(body),
        });
        expect(res.statusCode).toBe(c.status);
        expect(res.json().error).toBe(c.error);
        if (c.message) expect(res.json().message).toBe(c.message);
        expect(await state()).toEqual(before);
        expect(signer.signed).toBe(0);
    });

    it.each([
        ["expired", "UPDATE enrollment_tokens SET expires_at = now() - interval '1 second'"],
        ["revoked", "UPDATE enrollment_tokens SET revoked_at = now()"],
    ])("a %s token is refused and changes nothing", async (reason, sql) => {
        const token = await issue({ device_id: "dev-0001", ttl_seconds: 600 });
        await db.query(sql);
        const before = await state();
        const res = await enroll("dev-0001", token);
        expect(res.statusCode).toBe(401);
        expect(res.json().message).toBe(`enrollment token refused: ${reason}`);
        expect(await state()).toEqual(before);
    });

    it("a reused one-time token is refused and changes nothing", async () => {
        const token = await issue({ device_id: "dev-0001", reenroll: false, ttl_seconds: 600 });
        expect((await enroll("dev-0001", token)).statusCode).toBe(201);
        const before = await state();
        const res = await enroll("dev-0001", token);
        expect(res.statusCode).toBe(401);
        expect(res.json().message).toBe("enrollment token refused: used up");
        expect(await state()).toEqual(before);
    });
});
