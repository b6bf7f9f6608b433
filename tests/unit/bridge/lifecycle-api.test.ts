/** The tenant bridge after enrollment, on PGlite: decommissioning, the peer feed, services, auth, tokens, OpenAPI. */
import { PGlite } from "@electric-sql/pglite";
import { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TenantBridgeConfig } from "../../../runtime/bridge/config";
import { Database, pgliteDatabase } from "../../../runtime/bridge/db/database";
import { migrate } from "../../../runtime/bridge/db/migrations";
import { federationClientRoute, subCaRoute } from "../../../runtime/bridge/routes/provider-context";
import { federationClientPath, subCaPath } from "../../../runtime/shared/onboarding";
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
import { csr, ecKey, TestCa } from "../../support/pki";

let pki: { root: TestCa; ica: TestCa; subCa: TestCa };
let realm: TestRealm;
let db: Database;
let tenant: TenantBridgeConfig;
let signer: LocalSigner;
let targets: MapTargets;
let app: FastifyInstance;
let admin: string;

beforeAll(async () => {
    pki = await testPki();
    realm = await testRealm();
    admin = await realm.token({ roles: ["tenant-admin"] });
    db = pgliteDatabase(new PGlite());
    await migrate(db);
});

afterAll(async () => {
    await db.close();
});

beforeEach(async () => {
    await db.execute(`TRUNCATE ${tenantTables} RESTART IDENTITY`);
    tenant = testTenantConfig(pki.subCa.pem, "10.8.0.0/29");
    signer = new LocalSigner(pki.subCa, [pki.ica.pem]);
    targets = new MapTargets();
    app = await testTenantApi(await lifecycleDeps(db, tenant, signer, targets), tenant, pki.root.pem, realm);
});

afterEach(async () => {
    await app.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function enrolled(
    id: string,
    wg = wireguardKey(),
): Promise<{ serial: string; address: string; wg: string }> {
    const issued = await app.inject({
        method: "POST",
        url: "/enrollment-tokens",
        headers: bearer(admin),
        payload: { device_id: id, ttl_seconds: 600 },
    });
    const res = await app.inject({
        method: "POST",
        url: `/devices/${id}/enroll`,
        payload: {
            csr_pem: await csr(await ecKey(), id),
            wireguard_public_key: wg,
            enrollment_token: issued.json().token,
        },
    });
    expect(res.statusCode).toBe(201);
    const device = await app.inject({ url: `/devices/${id}`, headers: bearer(admin) });
    return { serial: device.json().certificateSerial, address: device.json().wireguardAddress, wg };
}

describe("decommissioning", () => {
    it("revokes, deletes the target, removes the peer, frees the address for reuse, and keeps the audit trail", async () => {
        const first = await enrolled("dev-0001");
        await enrolled("dev-0002");
        const operator = await realm.token({ sub: "olivia", roles: ["operator"] });
        const res = await app.inject({
            method: "DELETE",
            url: "/devices/dev-0001?reason=stolen",
            headers: bearer(operator),
        });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ id: "dev-0001", wireguardAddress: "10.8.0.2" });
        expect(signer.revoked).toEqual([first.serial]);
        expect([...targets.targets.keys()]).toEqual(["dev-0002"]);
        const events = await db.query<{ kind: string; actor: string; details: Record<string, unknown> }>(
            "SELECT kind, actor, details FROM device_events WHERE device_id = 'dev-0001' ORDER BY id",
        );
        expect(events.rows.map((e) => [e.kind, e.actor])).toEqual([
            ["enrolled", expect.stringMatching(/^enrollment-token:/)],
            ["decommissioned", "user:olivia"],
        ]);
        expect(events.rows[1].details).toEqual({
            reason: "stolen",
            address: "10.8.0.2",
            revokedSerials: [first.serial],
        });
        expect((await app.inject({ url: "/devices/dev-0001", headers: bearer(admin) })).statusCode).toBe(404);
        const again = await app.inject({
            method: "DELETE",
            url: "/devices/dev-0001",
            headers: bearer(operator),
        });
        expect(again.statusCode).toBe(404);
        expect(again.json()).toEqual({
            error: "device_not_found",
            message: "device dev-0001 is not enrolled",
        });
        expect((await enrolled("dev-0003")).address).toBe("10.8.0.2");
    });

    it("fills a /29 with five devices, refuses the sixth with 503, and changes nothing", async () => {
        for (const n of [1, 2, 3, 4, 5]) await enrolled(`dev-000${n}`);
        const token = await app.inject({
            method: "POST",
            url: "/enrollment-tokens",
            headers: bearer(admin),
            payload: { device_id: "dev-0006", ttl_seconds: 600 },
        });
        const res = await app.inject({
            method: "POST",
            url: "/devices/dev-0006/enroll",
            payload: {
                csr_pem: await csr(await ecKey(), "dev-0006"),
                wireguard_public_key: wireguardKey(),
                enrollment_token: token.json().token,
            },
        });
        expect(res.statusCode).toBe(503);
        expect(res.json()).toEqual({
            error: "addresses_exhausted",
            message: "no free WireGuard address left in 10.8.0.0/29",
        });
        const uses = await db.query<{ uses: number }>(
            "SELECT uses FROM enrollment_tokens WHERE device_id = 'dev-0006'",
        );
        expect(uses.rows).toEqual([{ uses: 0 }]);
    });
});

describe("the peer feed", () => {
    const peers = (query: string) =>
        app.inject({ url: `/wireguard/peers${query}`, headers: bearer(tenant.serviceTokens.peerAgent) });

    it("answers the full list, then changes after a revision", async () => {
        const a = await enrolled("dev-0001");
        const b = await enrolled("dev-0002");
        expect((await peers("")).json()).toEqual({
            kind: "full",
            revision: 2,
            peers: [
                { deviceId: "dev-0001", publicKey: a.wg, address: "10.8.0.2" },
                { deviceId: "dev-0002", publicKey: b.wg, address: "10.8.0.3" },
            ],
        });
        await app.inject({ method: "DELETE", url: "/devices/dev-0001", headers: bearer(admin) });
        const changes = (await peers("?since=2")).json();
        expect(changes).toEqual({
            kind: "changes",
            revision: 3,
            changes: [
                { revision: 3, op: "remove", deviceId: "dev-0001", publicKey: a.wg, address: "10.8.0.2" },
            ],
        });
        expect((await peers("?since=3")).json()).toEqual({ kind: "changes", revision: 3, changes: [] });
        expect((await peers("?since=99")).json().kind).toBe("full");
    });

    it("holds a long poll until a device enrolls", async () => {
        const waiting = peers("?since=0&wait=20");
        const started = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 200));
        const device = await enrolled("dev-0001");
        const page = (await waiting).json();
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(page.changes).toEqual([
            { revision: 1, op: "add", deviceId: "dev-0001", publicKey: device.wg, address: "10.8.0.2" },
        ]);
    });
});

describe("authentication and authorization", () => {
    it.each([
        ["no token", undefined, 401, "an Authorization: Bearer token is required"],
        ["a viewer deleting", { roles: ["viewer"] }, 403, "needs one of the roles tenant-admin, operator"],
        [
            "another tenant's admin",
            { roles: ["tenant-admin"], tenant: "globex" },
            403,
            "token is for tenant globex, not acme",
        ],
        [
            "a token for another audience",
            { roles: ["tenant-admin"], aud: "grafana" },
            401,
            "token aud claim is not acceptable",
        ],
        ["an expired token", { roles: ["tenant-admin"], expiresIn: "-2m" }, 401, "token expired"],
    ])("refuses %s", async (_name, claims, status, message) => {
        await enrolled("dev-0001");
        const headers = claims ? bearer(await realm.token(claims)) : {};
        const res = await app.inject({ method: "DELETE", url: "/devices/dev-0001", headers });
        expect([res.statusCode, res.json().message]).toEqual([status, message]);
        expect((await app.inject({ url: "/devices", headers: bearer(admin) })).json().devices).toHaveLength(
            1,
        );
    });

    it("lets viewers read and only tenant admins manage tokens", async () => {
        await enrolled("dev-0001");
        const viewer = bearer(await realm.token({ roles: ["viewer"] }));
        const list = await app.inject({ url: "/devices?limit=1", headers: viewer });
        expect(list.json()).toMatchObject({ devices: [{ id: "dev-0001" }], next: "dev-0001" });
        const operator = bearer(await realm.token({ roles: ["operator"] }));
        const refused = await app.inject({
            method: "POST",
            url: "/enrollment-tokens",
            headers: operator,
            payload: { ttl_seconds: 600 },
        });
        expect(refused.statusCode).toBe(403);
    });

    it("gives each service its own credential and route", async () => {
        await enrolled("dev-0001");
        const wg = (token: string) =>
            app.inject({ url: "/devices/dev-0001/wireguard", headers: bearer(token) });
        expect((await wg(tenant.serviceTokens.terminalProxy)).json()).toMatchObject({
            device_id: "dev-0001",
            address: "10.8.0.2",
        });
        const wrong = await wg(tenant.serviceTokens.peerAgent);
        expect([wrong.statusCode, wrong.json().message]).toEqual([
            401,
            "this route needs the terminal-proxy service credential",
        ]);
        expect((await wg(admin)).statusCode).toBe(401);
    });
});

describe("enrollment tokens and the connect webhook", () => {
    it("lists tokens without their secrets and revokes them", async () => {
        const made = await app.inject({
            method: "POST",
            url: "/enrollment-tokens",
            headers: bearer(admin),
            payload: { max_uses: 5, ttl_seconds: 600 },
        });
        const { id, token } = made.json();
        const list = await app.inject({ url: "/enrollment-tokens?active=true", headers: bearer(admin) });
        expect(list.json().tokens).toEqual([
            expect.objectContaining({
                id,
                deviceId: null,
                maxUses: 5,
                uses: 0,
                reenroll: false,
                createdBy: "user:alice",
                revokedAt: null,
            }),
        ]);
        expect(JSON.stringify(list.json())).not.toContain(token);
        expect(
            (await app.inject({ method: "DELETE", url: `/enrollment-tokens/${id}`, headers: bearer(admin) }))
                .statusCode,
        ).toBe(204);
        expect(
            (await app.inject({ method: "DELETE", url: `/enrollment-tokens/${id}`, headers: bearer(admin) }))
                .statusCode,
        ).toBe(404);
        expect(
            (await app.inject({ url: "/enrollment-tokens?active=true", headers: bearer(admin) })).json()
                .tokens,
        ).toEqual([]);
    });

    it("records connections and restores a missing OTA target with the device's token", async () => {
        await enrolled("dev-0001");
        const token = targets.targets.get("dev-0001");
        targets.targets.clear();
        const hook = () =>
            app.inject({
                method: "POST",
                url: "/webhooks/thingsboard/connect",
                headers: bearer(tenant.serviceTokens.thingsboard),
                payload: { device_id: "dev-0001" },
            });
        const first = (await hook()).json();
        expect(targets.targets.get("dev-0001")).toBe(token);
        const second = (await hook()).json();
        expect(second.firstConnectedAt).toBe(first.firstConnectedAt);
        expect(Date.parse(second.lastConnectedAt)).toBeGreaterThanOrEqual(Date.parse(first.lastConnectedAt));
        const unknown = await app.inject({
            method: "POST",
            url: "/webhooks/thingsboard/connect",
            headers: bearer(tenant.serviceTokens.thingsboard),
            payload: { device_id: "dev-9999" },
        });
        expect(unknown.statusCode).toBe(404);
    });
});

describe("the API description", () => {
    it("serves an OpenAPI document with every route", async () => {
        const doc = (await app.inject({ url: "/openapi.json" })).json();
        expect(doc.openapi).toBe("3.1.0");
        expect(Object.keys(doc.paths).sort()).toEqual([
            "/devices",
            "/devices/{id}",
            "/devices/{id}/enroll",
            "/devices/{id}/renew",
            "/devices/{id}/wireguard",
            "/enrollment-tokens",
            "/enrollment-tokens/{id}",
            "/thingsboard/users",
            "/thingsboard/users/{email}",
            "/webhooks/thingsboard/connect",
            "/webhooks/thingsboard/login",
            "/wireguard/peers",
        ]);
    });

    it("serves the provider's Sub-CA route at the path tenant stacks call", () => {
        expect(subCaRoute.replace(":tenantId", "acme")).toBe(subCaPath("acme"));
        expect(federationClientRoute.replace(":tenantId", "acme")).toBe(federationClientPath("acme"));
    });
});
