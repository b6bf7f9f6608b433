/** ThingsBoard's custom OAuth2 mapper at the tenant bridge: the route and its bindings, on PGlite. */
import { PGlite } from "@electric-sql/pglite";
import { FastifyInstance } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TenantBridgeConfig } from "../../../runtime/bridge/config";
import { Database, pgliteDatabase } from "../../../runtime/bridge/db/database";
import { migrate } from "../../../runtime/bridge/db/migrations";
import { BridgeMetrics } from "../../../runtime/bridge/metrics";
import {
    lifecycleDeps,
    LocalSigner,
    MapTargets,
    testPki,
    testRealm,
    TestRealm,
    testTenantApi,
    testTenantConfig,
} from "../../support/bridge";
import { loginClaims as claims, mapperRequest, oidcPrincipal } from "../../support/thingsboard-login";

describe("POST /webhooks/thingsboard/login", () => {
    let realm: TestRealm;
    let db: Database;
    let tenant: TenantBridgeConfig;
    let app: FastifyInstance;
    const metrics = new BridgeMetrics(false);

    beforeAll(async () => {
        const pki = await testPki();
        realm = await testRealm();
        db = pgliteDatabase(new PGlite());
        await migrate(db);
        tenant = testTenantConfig(pki.subCa.pem);
        const deps = await lifecycleDeps(
            db,
            tenant,
            new LocalSigner(pki.subCa, [pki.ica.pem]),
            new MapTargets(),
        );
        app = await testTenantApi(deps, tenant, pki.root.pem, realm, undefined, metrics);
    });

    afterAll(async () => {
        await app.close();
        await db.close();
    });

    beforeEach(async () => {
        await db.execute("TRUNCATE thingsboard_users");
    });

    /** A login of `sub` as tb-node reports it: principal from an ID token, the access token. */
    async function login(
        roles: string[],
        options: {
            sub?: string;
            tenant?: string;
            azp?: string;
            principalSub?: string;
            expiresIn?: string;
            email?: string;
        } = {},
    ) {
        const sub = options.sub ?? "user-1";
        const extra = { ...claims, azp: options.azp ?? "thingsboard", email: options.email ?? claims.email };
        const access = await realm.token({
            sub,
            roles,
            tenant: options.tenant,
            aud: "account",
            expiresIn: options.expiresIn,
            extra,
        });
        const id = await realm.token({ sub: options.principalSub ?? sub, aud: "thingsboard", extra });
        return { access, principal: oidcPrincipal(id, { sub: options.principalSub ?? sub, ...claims }) };
    }

    async function call(
        l: { access?: string; principal: Record<string, unknown> },
        credential = { username: "thingsboard", password: tenant.serviceTokens.thingsboard },
    ) {
        const { headers, body } = mapperRequest(l.principal, l.access, credential);
        return app.inject({ method: "POST", url: "/webhooks/thingsboard/login", headers, payload: body });
    }

    it("answers ThingsBoard's OAuth2User for a tenant administrator and an operator", async () => {
        const admin = await call(await login(["tenant-admin"]));
        expect(admin.statusCode).toBe(200);
        expect(admin.headers["content-type"]).toMatch(/^application\/json/);
        expect(admin.json()).toEqual({
            email: "olga@acme.example",
            firstName: "Olga",
            lastName: "Operator",
            tenantName: "ACME Corporation",
            alwaysFullScreen: false,
        });
        const operator = await call(await login(["operator"], { sub: "user-2", email: "oleg@acme.example" }));
        expect(operator.json()).toEqual({
            ...admin.json(),
            email: "oleg@acme.example",
            customerName: "Operators",
        });
    });

    it("refuses callers without ThingsBoard's credential, before looking at the login", async () => {
        // A broken login too: were it looked at first, the answer would name the token.
        const l = { ...(await login(["tenant-admin"])), access: "not-a-token" };
        for (const credential of [
            { username: "thingsboard", password: "wrong" },
            { username: "terminal-proxy", password: tenant.serviceTokens.terminalProxy },
            { username: "thingsboard", password: tenant.serviceTokens.peerAgent },
        ]) {
            const res = await call(l, credential);
            expect([res.statusCode, res.json()]).toEqual([
                401,
                { error: "unauthenticated", message: "this route needs the thingsboard service credential" },
            ]);
        }
        const post = (authorization: string) =>
            app.inject({
                method: "POST",
                url: "/webhooks/thingsboard/login",
                headers: { authorization, "provider-access-token": l.access },
                payload: l.principal,
            });
        const noColon = `Basic ${Buffer.from(tenant.serviceTokens.thingsboard).toString("base64")}`;
        for (const [authorization, message] of [
            [`Bearer ${tenant.serviceTokens.thingsboard}`, "an Authorization: Basic credential is required"],
            ["Basic !!!", "an Authorization: Basic credential is required"],
            [noColon, "this route needs the thingsboard service credential"],
        ]) {
            const res = await post(authorization);
            expect([res.statusCode, res.json().message]).toEqual([401, message]);
        }
    });

    it("refuses a login without its token, with another tenant's, another client's or an expired one", async () => {
        const cases: [Promise<{ access?: string; principal: Record<string, unknown> }>, number, string][] = [
            [
                login(["tenant-admin"]).then((l) => ({ ...l, access: undefined })),
                401,
                "the login's access token (provider-access-token) is missing",
            ],
            [login(["tenant-admin"], { tenant: "globex" }), 403, "token is for tenant globex, not acme"],
            [
                login(["tenant-admin"], { azp: "grafana" }),
                403,
                "the access token was issued to grafana, not thingsboard",
            ],
            [login(["tenant-admin"], { expiresIn: "-2m" }), 401, "token expired"],
            [
                login(["tenant-admin"], { principalSub: "user-2" }),
                403,
                "the principal and the access token name different users",
            ],
            [
                login(["viewer"]),
                403,
                "ThingsBoard is for the tenant-admin and operator roles; viewers read the fleet in Grafana",
            ],
        ];
        for (const [l, status, message] of cases) {
            const res = await call(await l);
            expect([res.statusCode, res.json().message]).toEqual([status, message]);
        }
        const forged = await login(["operator"]);
        const [header, payload, signature] = forged.access.split(".");
        const elevated = Buffer.from(
            JSON.stringify({
                ...JSON.parse(Buffer.from(payload, "base64url").toString()),
                roles: ["tenant-admin"],
            }),
        ).toString("base64url");
        const tampered = await call({ ...forged, access: `${header}.${elevated}.${signature}` });
        expect([tampered.statusCode, tampered.json().message]).toEqual([401, "token signature is invalid"]);
        const { headers } = mapperRequest({}, forged.access, {
            username: "thingsboard",
            password: tenant.serviceTokens.thingsboard,
        });
        const garbage = await app.inject({
            method: "POST",
            url: "/webhooks/thingsboard/login",
            headers,
            payload: "{oops",
        });
        expect([garbage.statusCode, garbage.json().message]).toEqual([400, "the principal is not JSON"]);
    });

    it("refuses a token signed by another realm's key (of the same key id)", async () => {
        const other = await testRealm();
        const access = await other.token({
            sub: "user-1",
            roles: ["tenant-admin"],
            aud: "account",
            extra: claims,
        });
        const { principal } = await login(["tenant-admin"]);
        const res = await call({ access, principal });
        expect([res.statusCode, res.json().message]).toEqual([401, "token signature is invalid"]);
    });

    it("is described with Basic auth in the OpenAPI document", async () => {
        const doc = (await app.inject({ url: "/openapi.json" })).json();
        expect(doc.paths["/webhooks/thingsboard/login"].post.security).toEqual([{ basic: [] }]);
        expect(doc.components.securitySchemes.basic).toEqual({ type: "http", scheme: "basic" });
    });

    it("keeps each e-mail's ThingsBoard user with its first Keycloak user and kind until an admin lets go", async () => {
        const bearer = async (roles: string[]) => ({
            authorization: `Bearer ${await realm.token({ sub: "admin-1", roles })}`,
        });
        expect((await call(await login(["tenant-admin"]))).statusCode).toBe(200);
        expect((await call(await login(["tenant-admin"]))).statusCode).toBe(200);
        const demoted = await call(await login(["operator"]));
        expect([demoted.statusCode, demoted.json()]).toEqual([
            409,
            {
                error: "role_changed",
                message:
                    "ThingsBoard's user olga@acme.example was made as a tenant administrator, the roles now give an operator; a tenant administrator deletes it and its binding to have it made anew",
            },
        ]);
        const rebound = await call(
            await login(["tenant-admin"], { sub: "user-9", email: "Olga@acme.example" }),
        );
        expect([rebound.statusCode, rebound.json()]).toEqual([
            403,
            {
                error: "email_rebound",
                message:
                    "ThingsBoard's user olga@acme.example belongs to another Keycloak user; a tenant administrator deletes it and its binding first",
            },
        ]);
        const list = await app.inject({ url: "/thingsboard/users", headers: await bearer(["tenant-admin"]) });
        expect(list.json()).toEqual([
            {
                email: "olga@acme.example",
                subject: "user-1",
                kind: "tenant_admin",
                firstLoginAt: expect.any(String),
                lastLoginAt: expect.any(String),
            },
        ]);
        const url = "/thingsboard/users/olga@acme.example";
        expect(
            (await app.inject({ url, method: "DELETE", headers: await bearer(["operator"]) })).statusCode,
        ).toBe(403);
        expect(
            (await app.inject({ url: "/thingsboard/users", headers: await bearer(["operator"]) })).statusCode,
        ).toBe(403);
        expect(
            (await app.inject({ url, method: "DELETE", headers: await bearer(["tenant-admin"]) })).statusCode,
        ).toBe(204);
        const again = await app.inject({ url, method: "DELETE", headers: await bearer(["tenant-admin"]) });
        expect([again.statusCode, again.json().error]).toEqual([404, "binding_not_found"]);
        const remade = await call(await login(["operator"]));
        expect([remade.statusCode, remade.json().customerName]).toEqual([200, "Operators"]);
    });

    it("binds one of two concurrent first logins of an e-mail, and refuses the other", async () => {
        const logins = await Promise.all([
            login(["tenant-admin"], { sub: "user-a" }),
            login(["tenant-admin"], { sub: "user-b" }),
        ]);
        const answers = await Promise.all(logins.map((l) => call(l)));
        expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 403]);
    });

    it("counts logins by outcome", async () => {
        const values = async () =>
            Object.fromEntries(
                (await metrics.thingsboardLogins.get()).values.map((v) => [v.labels.outcome, v.value]),
            );
        const before = await values();
        await call(await login(["tenant-admin"]));
        const operator = { sub: "user-2", email: "oleg@acme.example" };
        await call(await login(["operator"], operator));
        await call(await login(["operator"], operator));
        await call(await login(["viewer"], { sub: "user-3", email: "vera@acme.example" }));
        await call(await login(["operator"]), { username: "thingsboard", password: "wrong" });
        const after = await values();
        const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
        expect(["tenant_admin", "operator", "no_thingsboard_role", "unauthenticated"].map(delta)).toEqual([
            1, 2, 1, 1,
        ]);
    });
});
