/**
 * ThingsBoard's logins on a real Keycloak, mapped by the tenant bridge. ThingsBoard itself cannot
 * be had on this machine (its packages come from its own release site, not a registry this
 * machine reaches), so the test plays tb-node's part exactly as its custom mapper client does it:
 * the authorization code flow of the realm's `thingsboard` client, the userinfo call, and the
 * principal posted as text with Basic auth and the login's access token (`sendToken`). Everything
 * else is real: Keycloak's tokens, keys, roles and federation, and the bridge's API and verifier.
 */
import { PGlite } from "@electric-sql/pglite";
import { decodeJwt } from "jose";
import { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issuerUrl, oidcEndpoints } from "../../components/keycloak/model";
import { TenantBridgeConfig } from "../../runtime/bridge/config";
import { Database, pgliteDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { accessTokenVerifier } from "../../runtime/shared/auth/access-token";
import {
    lifecycleDeps,
    LocalSigner,
    MapTargets,
    testPki,
    testTenantApi,
    testTenantConfig,
} from "../support/bridge";
import { browserLogin } from "../support/browser-login";
import { Identity, startIdentity } from "../support/identity";
import { mapperRequest, oidcPrincipal } from "../support/thingsboard-login";

let identity: Identity;
let db: Database;
let tenant: TenantBridgeConfig;
let bridge: FastifyInstance;
const password = "correct-horse-battery";

beforeAll(async () => {
    identity = await startIdentity(["acme", "globex"]);
    const { admin } = identity.kc;
    await admin.createUser("acme", "acme-admin", password, ["tenant-admin"]);
    await admin.createUser("acme", "acme-operator", password, ["operator", "device-terminal"]);
    await admin.createUser("acme", "acme-viewer", password, ["viewer"]);
    await admin.createUser("acme", "acme-nobody", password, []);
    // What a realm administrator can do to a user: leave the e-mail unverified, or give it the
    // e-mail of one of ThingsBoard's own accounts.
    await admin.createUser("acme", "acme-unverified", password, ["operator"]);
    await admin.createUser("acme", "acme-impostor", password, ["operator"]);
    const [unverified] = await admin.call("GET", "/acme/users?username=acme-unverified&exact=true");
    await admin.call("PUT", `/acme/users/${unverified.id}`, { emailVerified: false });
    const [impostor] = await admin.call("GET", "/acme/users?username=acme-impostor&exact=true");
    await admin.call("PUT", `/acme/users/${impostor.id}`, { email: "sysadmin@thingsboard.org" });
    await admin.createUser("globex", "globex-admin", password, ["tenant-admin"]);
    await admin.createUser("platform", "staff", password, ["platform-operator"]);
    const pki = await testPki();
    db = pgliteDatabase(new PGlite());
    await migrate(db);
    tenant = testTenantConfig(pki.subCa.pem);
    const issuer = issuerUrl(identity.kc.origin, "acme");
    bridge = await testTenantApi(
        await lifecycleDeps(db, tenant, new LocalSigner(pki.subCa, [pki.ica.pem]), new MapTargets()),
        tenant,
        pki.root.pem,
        {
            verifier: () => accessTokenVerifier({ issuer, audience: "bridge", tenant: "acme" }),
            loginVerifier: () => accessTokenVerifier({ issuer, tenant: "acme" }),
        },
    );
}, 180_000);

afterAll(async () => {
    await bridge?.close();
    await db?.close();
    await identity?.kc.stop();
});

/** A user's login to ThingsBoard at `realm`, then the mapper call tb-node makes for it. */
async function thingsboardLogin(realm: string, username: string, idpHint?: string) {
    const issuer = issuerUrl(identity.kc.origin, realm);
    const tokens = await browserLogin({
        issuer,
        clientId: "thingsboard",
        clientSecret: identity.secrets[realm].thingsboard,
        redirectUri: `${identity.origins(realm).things}/login/oauth2/code/`,
        username,
        password,
        idpHint,
    });
    const userInfo = await fetch(oidcEndpoints(issuer).userInfoUrl, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(userInfo.status).toBe(200);
    const principal = oidcPrincipal(tokens.id_token, (await userInfo.json()) as Record<string, unknown>);
    const { headers, body } = mapperRequest(principal, tokens.access_token, {
        username: "thingsboard",
        password: tenant.serviceTokens.thingsboard,
    });
    const answer = await bridge.inject({
        method: "POST",
        url: "/webhooks/thingsboard/login",
        headers,
        payload: body,
    });
    return { status: answer.statusCode, body: answer.json(), tokens, principal };
}

describe("ThingsBoard logins with the tenant's Keycloak", () => {
    it("make tenant administrators of tenant-admins, named from their claims", async () => {
        const login = await thingsboardLogin("acme", "acme-admin");
        expect([login.status, login.body]).toEqual([
            200,
            {
                email: "acme-admin@example.com",
                firstName: "acme-admin",
                lastName: "Tester",
                tenantName: "ACME Corporation",
                alwaysFullScreen: false,
            },
        ]);
    });

    it("make operators users of the operators' customer, also platform staff through federation", async () => {
        const operator = await thingsboardLogin("acme", "acme-operator");
        expect([operator.status, operator.body]).toEqual([
            200,
            {
                email: "acme-operator@example.com",
                firstName: "acme-operator",
                lastName: "Tester",
                tenantName: "ACME Corporation",
                customerName: "Operators",
                alwaysFullScreen: false,
            },
        ]);
        const staff = await thingsboardLogin("acme", "staff", "provider");
        expect([staff.status, staff.body.email, staff.body.customerName]).toEqual([
            200,
            "staff@example.com",
            "Operators",
        ]);
    });

    it("refuse viewers and users without a role", async () => {
        for (const username of ["acme-viewer", "acme-nobody"]) {
            const login = await thingsboardLogin("acme", username);
            expect([login.status, login.body]).toEqual([
                403,
                {
                    error: "no_thingsboard_role",
                    message:
                        "ThingsBoard is for the tenant-admin and operator roles; viewers read the fleet in Grafana",
                },
            ]);
        }
    });

    it("map nobody to an unverified e-mail or to one of ThingsBoard's own accounts", async () => {
        const unverified = await thingsboardLogin("acme", "acme-unverified");
        expect([unverified.status, unverified.body]).toEqual([
            403,
            { error: "email_unverified", message: "the user's e-mail address is not verified" },
        ]);
        const impostor = await thingsboardLogin("acme", "acme-impostor");
        expect(decodeJwt(impostor.tokens.access_token).email).toBe("sysadmin@thingsboard.org");
        expect([impostor.status, impostor.body]).toEqual([
            403,
            {
                error: "local_account",
                message: "the e-mail address belongs to one of ThingsBoard's own accounts",
            },
        ]);
    });

    it("refuse another tenant's login, another client's token and a principal of someone else", async () => {
        const globex = await thingsboardLogin("globex", "globex-admin");
        expect([globex.status, globex.body.message]).toEqual([
            401,
            "token was not signed by a key of the realm",
        ]);
        const grafana = await browserLogin({
            issuer: issuerUrl(identity.kc.origin, "acme"),
            clientId: "grafana",
            clientSecret: identity.secrets.acme.grafana,
            redirectUri: `${identity.origins("acme").grafana}/login/generic_oauth`,
            username: "acme-admin",
            password,
        });
        const admin = await thingsboardLogin("acme", "acme-admin");
        const credential = { username: "thingsboard", password: tenant.serviceTokens.thingsboard };
        const post = (principal: Record<string, unknown>, token: string) => {
            const { headers, body } = mapperRequest(principal, token, credential);
            return bridge.inject({
                method: "POST",
                url: "/webhooks/thingsboard/login",
                headers,
                payload: body,
            });
        };
        const otherClient = await post(admin.principal, grafana.access_token);
        expect([otherClient.statusCode, otherClient.json().message]).toEqual([
            403,
            "the access token was issued to grafana, not thingsboard",
        ]);
        // An operator's principal with an administrator's token maps nobody.
        const operator = await thingsboardLogin("acme", "acme-operator");
        const swapped = await post(operator.principal, admin.tokens.access_token);
        expect([swapped.statusCode, swapped.json().message]).toEqual([
            403,
            "the principal and the access token name different users",
        ]);
    });
});
