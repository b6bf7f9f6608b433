/**
 * The identity model on a real Keycloak: the platform realm, two tenant realms federated to it,
 * all applied from the same model the program renders. One Keycloak process hosts every realm;
 * federation still runs the real OIDC broker flow over HTTP between them.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issuerUrl, keycloakBasePath } from "../../components/keycloak/model";
import { AccessDenied, accessTokenVerifier, requireRole } from "../../runtime/shared/auth/access-token";
import { browserLogin } from "../support/browser-login";
import { startIdentity } from "../support/identity";
import { RunningKeycloak } from "../support/keycloak";

let kc: RunningKeycloak;
let secrets: Readonly<Record<string, Record<string, string>>>;
const password = "correct-horse-battery";

beforeAll(async () => {
    ({ kc, secrets } = await startIdentity(["acme", "globex"]));
    for (const tenant of ["acme", "globex"]) {
        await kc.admin.createUser(tenant, `${tenant}-operator`, password, ["operator", "device-terminal"]);
        await kc.admin.createUser(tenant, `${tenant}-admin`, password, ["tenant-admin"]);
    }
    await kc.admin.createUser("platform", "staff", password, ["platform-operator"]);
}, 180_000);

afterAll(async () => {
    await kc?.stop();
});

const terminalLogin = (tenant: string, username: string, idpHint?: string) =>
    browserLogin({
        issuer: issuerUrl(kc.origin, tenant),
        clientId: "terminal-proxy",
        redirectUri: `https://terminal.${tenant}.cdm.example.com/callback`,
        username,
        password,
        idpHint,
    });

describe("tenant admins", () => {
    /** A call to Keycloak's admin API with a user's access token. */
    async function adminCall(token: string, method: string, path: string, body?: unknown): Promise<number> {
        const res = await fetch(`${kc.origin}${keycloakBasePath}/admin/realms${path}`, {
            method,
            headers: {
                authorization: `Bearer ${token}`,
                ...(body ? { "content-type": "application/json" } : {}),
            },
            body: body ? JSON.stringify(body) : undefined,
        });
        return res.status;
    }

    it("manage their tenant's users themselves, and nothing else", async () => {
        const admin = (await terminalLogin("acme", "acme-admin")).access_token;
        expect(
            await adminCall(admin, "POST", "/acme/users", { username: "acme-new-user", enabled: true }),
        ).toBe(201);
        expect(await adminCall(admin, "GET", "/acme/users?username=acme-new-user&exact=true")).toBe(200);
        expect(await adminCall(admin, "GET", "/acme/events")).toBe(200);
        // Not the realm's clients, not the realm itself, not another tenant's users.
        expect(await adminCall(admin, "GET", "/acme/clients")).toBe(403);
        expect(await adminCall(admin, "PUT", "/acme", { enabled: false })).toBe(403);
        expect(await adminCall(admin, "GET", "/globex/users")).toBe(403);
        const operator = (await terminalLogin("acme", "acme-operator")).access_token;
        expect(
            await adminCall(operator, "POST", "/acme/users", { username: "acme-sneaky", enabled: true }),
        ).toBe(403);
    });
});

describe("tenant users", () => {
    it("get terminal tokens with the issuer, audience, tenant and role claims", async () => {
        const tokens = await terminalLogin("acme", "acme-operator");
        const claims = decodeJwt(tokens.access_token);
        expect(claims.iss).toBe(issuerUrl(kc.origin, "acme"));
        // The audience the terminal proxy checks, besides Keycloak's own account audience.
        expect(claims.aud).toEqual(["terminal-proxy", "account"]);
        expect(claims.azp).toBe("terminal-proxy");
        expect(claims.tenant).toBe("acme");
        expect(
            (claims.roles as string[])
                .filter(
                    (r) =>
                        !r.startsWith("default-roles") &&
                        !["offline_access", "uma_authorization"].includes(r),
                )
                .sort(),
        ).toEqual(["device-terminal", "operator"]);
        expect(claims.preferred_username).toBe("acme-operator");
        expect(decodeJwt(tokens.id_token).tenant).toBe("acme");
    });

    it("log in to confidential applications of their tenant with the code flow", async () => {
        const tokens = await browserLogin({
            issuer: issuerUrl(kc.origin, "acme"),
            clientId: "grafana",
            clientSecret: secrets.acme.grafana,
            redirectUri: "https://grafana.acme.cdm.example.com/login/generic_oauth",
            username: "acme-operator",
            password,
        });
        const claims = decodeJwt(tokens.access_token);
        expect(claims.azp).toBe("grafana");
        expect(claims.tenant).toBe("acme");
        expect(claims.roles).toContain("operator");
    });

    it("are not accepted by another tenant", async () => {
        await expect(terminalLogin("globex", "acme-operator")).rejects.toThrow(
            "login refused: Invalid username or password.",
        );
        const tokens = await terminalLogin("acme", "acme-operator");
        const userinfo = await fetch(`${issuerUrl(kc.origin, "globex")}/protocol/openid-connect/userinfo`, {
            headers: { authorization: `Bearer ${tokens.access_token}` },
        });
        expect(userinfo.status).toBe(401);
        const introspection = await fetch(
            `${issuerUrl(kc.origin, "globex")}/protocol/openid-connect/token/introspect`,
            {
                method: "POST",
                body: new URLSearchParams({
                    token: tokens.access_token,
                    client_id: "bridge",
                    client_secret: secrets.globex.bridge,
                }),
            },
        );
        expect(await introspection.json()).toEqual({ active: false });
    });

    it("lets the bridge's service account get tokens for its tenant only", async () => {
        const response = await fetch(`${issuerUrl(kc.origin, "acme")}/protocol/openid-connect/token`, {
            method: "POST",
            body: new URLSearchParams({
                grant_type: "client_credentials",
                client_id: "bridge",
                client_secret: secrets.acme.bridge,
            }),
        });
        const claims = decodeJwt(((await response.json()) as { access_token: string }).access_token);
        expect(claims.tenant).toBe("acme");
        expect(claims.azp).toBe("bridge");
        const wrong = await fetch(`${issuerUrl(kc.origin, "globex")}/protocol/openid-connect/token`, {
            method: "POST",
            body: new URLSearchParams({
                grant_type: "client_credentials",
                client_id: "bridge",
                client_secret: secrets.acme.bridge,
            }),
        });
        expect(wrong.status).toBe(401);
    });
});

describe("platform staff through federation", () => {
    it("log in to a tenant through the platform realm and get the mapped tenant role", async () => {
        const tokens = await terminalLogin("acme", "staff", "provider");
        const claims = decodeJwt(tokens.access_token);
        expect(claims.iss).toBe(issuerUrl(kc.origin, "acme"));
        expect(claims.tenant).toBe("acme");
        expect(claims.roles).toContain("operator");
        expect(claims.roles).not.toContain("device-terminal");
        expect(claims.email).toBe("staff@example.com");
    });

    it("get only the rights the platform realm grants them, updated on every login", async () => {
        const user = (await kc.admin.call("GET", "/platform/users?username=staff&exact=true"))[0];
        const admin = await kc.admin.call("GET", "/platform/roles/platform-admin");
        await kc.admin.call("POST", `/platform/users/${user.id}/role-mappings/realm`, [admin]);
        const tokens = await terminalLogin("globex", "staff", "provider");
        const claims = decodeJwt(tokens.access_token);
        expect(claims.tenant).toBe("globex");
        expect(claims.roles).toEqual(expect.arrayContaining(["tenant-admin", "operator"]));
    });

    it("keep their tenant roles in step with the platform realm on every login", async () => {
        const user = (await kc.admin.call("GET", "/platform/users?username=staff&exact=true"))[0];
        const admin = await kc.admin.call("GET", "/platform/roles/platform-admin");
        await kc.admin.call("DELETE", `/platform/users/${user.id}/role-mappings/realm`, [admin]);
        const tokens = await terminalLogin("globex", "staff", "provider");
        const roles = decodeJwt(tokens.access_token).roles as string[];
        expect(roles).toContain("operator");
        expect(roles).not.toContain("tenant-admin");
    });

    it("are refused by a tenant when the platform realm gives them no role, at first and later logins", async () => {
        /** Logs in through federation; answers the tenant's verdict as its event records it. */
        const refusal = async (username: string) => {
            await expect(terminalLogin("acme", username, "provider")).rejects.toThrow(
                /^login (refused|stopped)/,
            );
            const events: { type: string; error?: string; details: Record<string, string> }[] =
                await kc.admin.call("GET", "/acme/events?max=20");
            // The newest event is this login's: the claim filter refuses before the broker
            // knows the user, so the event names no identity (the tests here run one at a time).
            return [events[0]?.type, events[0]?.error];
        };
        await kc.admin.createUser("platform", "visitor", password, []);
        expect(await refusal("visitor")).toEqual([
            "IDENTITY_PROVIDER_LOGIN_ERROR",
            "identity_provider_login_failure",
        ]);
        // Refused before the tenant's first-login flow: no user, so nothing to clean up.
        expect(await kc.admin.call("GET", "/acme/users?username=visitor&exact=true")).toEqual([]);
        // Staff whose last platform role is taken away lose their way in at the next login.
        const user = (await kc.admin.call("GET", "/platform/users?username=staff&exact=true"))[0];
        const operator = await kc.admin.call("GET", "/platform/roles/platform-operator");
        await kc.admin.call("DELETE", `/platform/users/${user.id}/role-mappings/realm`, [operator]);
        try {
            expect(await refusal("staff")).toEqual([
                "IDENTITY_PROVIDER_LOGIN_ERROR",
                "identity_provider_login_failure",
            ]);
        } finally {
            await kc.admin.call("POST", `/platform/users/${user.id}/role-mappings/realm`, [operator]);
        }
        expect(decodeJwt((await terminalLogin("acme", "staff", "provider")).access_token).roles).toContain(
            "operator",
        );
    });

    it("record logins as events, the audit trail", async () => {
        const events = await kc.admin.call("GET", "/acme/events?type=LOGIN&max=100");
        expect(
            events.some(
                (e: { details?: Record<string, string> }) => e.details?.identity_provider === "provider",
            ),
        ).toBe(true);
        expect(
            events.some((e: { details?: Record<string, string> }) => e.details?.username === "acme-operator"),
        ).toBe(true);
        const adminEvents = await kc.admin.call(
            "GET",
            "/acme/admin-events?operationTypes=CREATE&resourceTypes=USER&max=10",
        );
        expect(adminEvents.length).toBeGreaterThan(0);
        const realm = await kc.admin.call("GET", "/acme");
        expect(realm.eventsExpiration).toBe(7776000);
        expect(realm.attributes.adminEventsExpiration).toBe("7776000");
    });
});

describe("access tokens verified by the platform's services", () => {
    const policy = (tenant: string, audience?: string) => ({
        issuer: issuerUrl(kc.origin, tenant),
        audience,
        tenant,
    });

    it("accepts a tenant's terminal token with its audience, tenant and roles", async () => {
        const tokens = await terminalLogin("acme", "acme-operator");
        const caller = await accessTokenVerifier(policy("acme", "terminal-proxy"))(tokens.access_token);
        expect(caller).toMatchObject({ username: "acme-operator", tenant: "acme" });
        expect(caller.roles).toEqual(expect.arrayContaining(["operator", "device-terminal"]));
        expect(() => requireRole(caller, ["device-terminal"])).not.toThrow();
        expect(() => requireRole(caller, ["tenant-admin"])).toThrow(
            new AccessDenied(403, "needs one of the roles tenant-admin"),
        );
    });

    it("refuses another realm's token, a wrong audience, a tampered signature and an unsigned token", async () => {
        const tokens = await terminalLogin("acme", "acme-operator");
        // Another realm's keys do not know the token's signing key.
        await expect(
            accessTokenVerifier(policy("globex", "terminal-proxy"))(tokens.access_token),
        ).rejects.toThrow(new AccessDenied(401, "token was not signed by a key of the realm"));
        // And with the right keys but another issuer expected, the issuer check refuses it.
        const acmeKeys = `${issuerUrl(kc.origin, "acme")}/protocol/openid-connect/certs`;
        await expect(
            accessTokenVerifier({ ...policy("globex"), jwksUrl: acmeKeys })(tokens.access_token),
        ).rejects.toThrow(new AccessDenied(401, "token iss claim is not acceptable"));
        await expect(accessTokenVerifier(policy("acme", "grafana"))(tokens.access_token)).rejects.toThrow(
            new AccessDenied(401, "token aud claim is not acceptable"),
        );
        const [header, payload, signature] = tokens.access_token.split(".");
        const forgedPayload = Buffer.from(
            JSON.stringify({ ...decodeJwt(tokens.access_token), roles: ["tenant-admin"] }),
        ).toString("base64url");
        await expect(
            accessTokenVerifier(policy("acme"))(`${header}.${forgedPayload}.${signature}`),
        ).rejects.toThrow(new AccessDenied(401, "token signature is invalid"));
        const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${payload}.`;
        await expect(accessTokenVerifier(policy("acme"))(unsigned)).rejects.toThrow(AccessDenied);
    });

    it("refuses a token of the right realm for another tenant", async () => {
        const tokens = await terminalLogin("acme", "acme-operator");
        await expect(
            accessTokenVerifier({ issuer: issuerUrl(kc.origin, "acme"), tenant: "globex" })(
                tokens.access_token,
            ),
        ).rejects.toThrow(new AccessDenied(403, "token is for tenant acme, not globex"));
    });
});
