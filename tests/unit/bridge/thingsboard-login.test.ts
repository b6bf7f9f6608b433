/** ThingsBoard's custom OAuth2 mapper at the tenant bridge: the mapping, and the route on PGlite. */
import { PGlite } from "@electric-sql/pglite";
import { FastifyInstance, FastifyRequest } from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { TenantBridgeConfig } from "../../../runtime/bridge/config";
import { Database, pgliteDatabase } from "../../../runtime/bridge/db/database";
import { migrate } from "../../../runtime/bridge/db/migrations";
import pino from "pino";
import { redactedPaths } from "../../../runtime/bridge/app";
import { ServiceCredentials } from "../../../runtime/bridge/auth";
import { BridgeMetrics } from "../../../runtime/bridge/metrics";
import { ApiError } from "../../../runtime/bridge/errors";
import { principalSubject, thingsboardUser } from "../../../runtime/bridge/thingsboard-login";
import { Caller } from "../../../runtime/shared/auth/access-token";
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
import { mapperRequest, oidcPrincipal } from "../../support/thingsboard-login";

const claims = {
    azp: "thingsboard",
    email: "olga@acme.example",
    email_verified: true,
    given_name: "Olga",
    family_name: "Operator",
};

const logins = (tenantTitle: string) => ({
    tenantTitle,
    localAccounts: ["sysadmin@thingsboard.org", "admin@things.acme.test"],
});

function caller(roles: string[], extra: Record<string, unknown> = {}): Caller {
    return {
        subject: "user-1",
        roles,
        expiresAt: new Date(Date.now() + 60_000),
        claims: { sub: "user-1", ...claims, ...extra },
    };
}

function refusal(fn: () => unknown): { status: number; code: string; message: string } {
    try {
        fn();
    } catch (error) {
        expect(error).toBeInstanceOf(ApiError);
        const { status, code, message } = error as ApiError;
        return { status, code, message };
    }
    throw new Error("expected a refusal");
}

const user = (roles: string[], extra: Record<string, unknown> = {}, sub = "user-1") =>
    thingsboardUser(caller(roles, extra), sub, logins("A"));

describe("the ThingsBoard user of a login", () => {
    it("makes tenant administrators of tenant-admin, operators' customer users of operator", () => {
        expect(
            thingsboardUser(caller(["tenant-admin", "operator"]), "user-1", logins("ACME Corporation")),
        ).toEqual({
            email: "olga@acme.example",
            firstName: "Olga",
            lastName: "Operator",
            tenantName: "ACME Corporation",
            alwaysFullScreen: false,
        });
        expect(thingsboardUser(caller(["operator", "device-terminal"]), "user-1", logins("ACME"))).toEqual({
            email: "olga@acme.example",
            firstName: "Olga",
            lastName: "Operator",
            tenantName: "ACME",
            customerName: "Operators",
            alwaysFullScreen: false,
        });
        const unnamed = user(["operator"], { given_name: "", family_name: undefined });
        expect([unnamed.firstName, unnamed.lastName]).toEqual([undefined, undefined]);
    });

    it("refuses viewers, users without a role, other clients' tokens, another subject and no e-mail", () => {
        const why =
            "ThingsBoard is for the tenant-admin and operator roles; viewers read the fleet in Grafana";
        expect(refusal(() => user(["viewer"]))).toEqual({
            status: 403,
            code: "no_thingsboard_role",
            message: why,
        });
        expect(refusal(() => user([])).code).toBe("no_thingsboard_role");
        expect(refusal(() => user(["tenant-admin"], { azp: "grafana" }))).toEqual({
            status: 403,
            code: "not_a_thingsboard_login",
            message: "the access token was issued to grafana, not thingsboard",
        });
        expect(refusal(() => user(["tenant-admin"], {}, "user-2"))).toEqual({
            status: 403,
            code: "principal_mismatch",
            message: "the principal and the access token name different users",
        });
        expect(refusal(() => user(["tenant-admin"], { email: undefined }))).toEqual({
            status: 422,
            code: "email_missing",
            message: "the user has no e-mail address, which ThingsBoard keys users by",
        });
    });

    it("maps nobody to an unverified e-mail or to one of ThingsBoard's own accounts", () => {
        for (const verified of [false, undefined, "true"]) {
            expect(refusal(() => user(["operator"], { email_verified: verified }))).toEqual({
                status: 403,
                code: "email_unverified",
                message: "the user's e-mail address is not verified",
            });
        }
        for (const email of ["sysadmin@thingsboard.org", "Admin@Things.ACME.test"]) {
            expect(refusal(() => user(["tenant-admin"], { email }))).toEqual({
                status: 403,
                code: "local_account",
                message: "the e-mail address belongs to one of ThingsBoard's own accounts",
            });
        }
        expect(user(["operator"], { email: "admin@acme.test" }).email).toBe("admin@acme.test");
    });

    it("reads the subject from the principal's attributes, as text or parsed", () => {
        expect(principalSubject('{"attributes":{"sub":"user-1"},"name":"x"}')).toBe("user-1");
        expect(principalSubject({ attributes: { sub: "user-2" } })).toBe("user-2");
        expect(refusal(() => principalSubject("{not json"))).toEqual({
            status: 400,
            code: "principal_malformed",
            message: "the principal is not JSON",
        });
        for (const bad of [
            "null",
            '{"sub":"user-1"}',
            '{"attributes":{"sub":7}}',
            '{"attributes":{"sub":""}}',
        ]) {
            expect(refusal(() => principalSubject(bad)).message).toBe("the principal has no attributes.sub");
        }
    });
});

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

    it("decodes Basic credentials as ISO-8859-1, as Spring encodes them", () => {
        const password = "pässwörd-".repeat(4);
        const services = new ServiceCredentials({ thingsboard: password });
        const request = (encoding: BufferEncoding) =>
            ({
                headers: {
                    authorization: `Basic ${Buffer.from(`thingsboard:${password}`, encoding).toString("base64")}`,
                },
            }) as unknown as FastifyRequest;
        expect(services.requireBasic(request("latin1"), "thingsboard")).toEqual({
            kind: "service",
            name: "thingsboard",
        });
        expect(() => services.requireBasic(request("utf8"), "thingsboard")).toThrow(
            "this route needs the thingsboard service credential",
        );
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

    it("never logs the login's access token", () => {
        const lines: string[] = [];
        const log = pino(
            { redact: { paths: redactedPaths, censor: "[redacted]" } },
            { write: (line: string) => void lines.push(line) },
        );
        log.info({ req: { headers: { "provider-access-token": "eyJ.secret.token", host: "bridge" } } }, "x");
        expect(JSON.parse(lines[0]).req.headers).toEqual({
            "provider-access-token": "[redacted]",
            host: "bridge",
        });
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
