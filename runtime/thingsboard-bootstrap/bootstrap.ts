/**
 * Brings a ThingsBoard to the platform's state, idempotently: every step finds what exists and
 * creates or updates it, so the Job can run again after any change or failure.
 *
 *  1. the system administrator: the installer's default password is replaced by the generated one;
 *  2. the tenant and its administrator (created and activated with the generated password);
 *  3. as the tenant administrator: the rule chain (components/thingsboard/rule-chain.ts), then
 *     the device profile that uses it as default chain (device-profile.ts);
 *  4. as the system administrator: the Keycloak OAuth2 client and the domain that shows it.
 *
 * Nothing secret is logged: steps report names and ids only.
 */
import { deviceProfile, deviceProfileName } from "../../components/thingsboard/device-profile";
import { oauth2Client, oauth2ClientTitle, oauth2Domain } from "../../components/thingsboard/oauth2";
import { ruleChainMetadata, ruleChainName } from "../../components/thingsboard/rule-chain";
import { expectOk, TbApi } from "./api";
import { sysadminEmail } from "../../components/thingsboard/users";
import { BootstrapConfig, installerSysadminPassword } from "./config";

type Log = (step: string, details?: Record<string, string>) => void;
type Entity = Record<string, any> & { id: { id: string; entityType?: string } };

const page = (text: string) => `pageSize=100&page=0&textSearch=${encodeURIComponent(text)}`;

/** The entity of a page (`{data: [...]}`) whose `field` equals `value` exactly. */
export function findIn(
    answer: { data?: Entity[] } | undefined,
    field: string,
    value: string,
): Entity | undefined {
    return answer?.data?.find((e) => e[field] === value);
}

/**
 * What to save: the desired body alone for a new entity; for an existing one, the stored entity
 * with the desired fields laid over it (keeping its id, tenant, creation time and version, which
 * ThingsBoard checks on update).
 */
export function mergeEntity<T extends object>(existing: Entity | undefined, desired: T): T | (Entity & T) {
    return existing ? { ...existing, ...desired } : desired;
}

/** The token of an activation link (`…/api/noauth/activate?activateToken=…`). */
export function activationToken(link: string): string {
    const token = new URL(link.replace(/^"|"$/g, "")).searchParams.get("activateToken");
    if (!token) throw new Error("ThingsBoard's activation link carries no activateToken");
    return token;
}

async function login(api: TbApi, username: string, password: string): Promise<string | undefined> {
    const answer = await api.call<{ token?: string }>("POST", "/api/auth/login", {
        body: { username, password },
    });
    if (answer.status === 401) return undefined;
    const token = expectOk(answer, `log in as ${username}`).token;
    if (!token) throw new Error(`logging in as ${username} returned no token`);
    return token;
}

/** The system administrator's token, after replacing the installer's password if it is still set. */
export async function sysadminToken(api: TbApi, password: string, log: Log): Promise<string> {
    const current = await login(api, sysadminEmail, password);
    if (current) return current;
    const initial = await login(api, sysadminEmail, installerSysadminPassword);
    if (!initial) {
        throw new Error(
            "the system administrator accepts neither the generated nor the installer's password",
        );
    }
    expectOk(
        await api.call("POST", "/api/auth/changePassword", {
            token: initial,
            body: { currentPassword: installerSysadminPassword, newPassword: password },
        }),
        "replace the system administrator's installer password",
    );
    log("replaced the system administrator's installer password");
    const token = await login(api, sysadminEmail, password);
    if (!token) throw new Error("the system administrator refuses its new password");
    return token;
}

async function ensureTenant(api: TbApi, token: string, title: string, log: Log): Promise<string> {
    const found = findIn(
        expectOk(await api.call("GET", `/api/tenants?${page(title)}`, { token }), "list tenants"),
        "title",
        title,
    );
    if (found) return found.id.id;
    const created = expectOk(
        await api.call<Entity>("POST", "/api/tenant", { token, body: { title } }),
        "create the tenant",
    );
    log("created the tenant", { id: created.id.id });
    return created.id.id;
}

/** The tenant administrator's token; the user is (re)created when missing or refusing its password. */
async function tenantAdminToken(
    api: TbApi,
    sysToken: string,
    tenantId: string,
    c: BootstrapConfig,
    log: Log,
) {
    const { email, password } = c.tenantAdmin;
    const users = expectOk(
        await api.call("GET", `/api/tenant/${tenantId}/users?${page(email)}`, { token: sysToken }),
        "list the tenant's users",
    );
    const existing = findIn(users, "email", email);
    if (existing) {
        const token = await login(api, email, password);
        if (token) return token;
        // A user that never activated, or whose password is not the Secret's: ThingsBoard lets
        // no administrator set another user's password, so it is made anew (entities belong to
        // the tenant, not the user).
        expectOk(
            await api.call("DELETE", `/api/user/${existing.id.id}`, { token: sysToken }),
            "remove the tenant administrator",
        );
        log("removed a tenant administrator that refused its password", { id: existing.id.id });
    }
    const user = expectOk(
        await api.call<Entity>("POST", "/api/user?sendActivationMail=false", {
            token: sysToken,
            body: {
                email,
                authority: "TENANT_ADMIN",
                tenantId: { entityType: "TENANT", id: tenantId },
                firstName: "Tenant",
                lastName: "Administrator",
            },
        }),
        "create the tenant administrator",
    );
    const link = expectOk(
        await api.call<string>("GET", `/api/user/${user.id.id}/activationLink`, { token: sysToken }),
        "get the tenant administrator's activation link",
    );
    expectOk(
        await api.call("POST", "/api/noauth/activate?sendActivationMail=false", {
            body: { activateToken: activationToken(String(link)), password },
        }),
        "activate the tenant administrator",
    );
    log("created the tenant administrator", { id: user.id.id });
    const token = await login(api, email, password);
    if (!token) throw new Error("the new tenant administrator refuses its password");
    return token;
}

/** Creates the rule chain when missing and (re)writes its nodes; answers its id. */
export async function ensureRuleChain(
    api: TbApi,
    token: string,
    c: BootstrapConfig,
    log: Log,
): Promise<string> {
    const chains = expectOk(
        await api.call("GET", `/api/ruleChains?type=CORE&${page(ruleChainName)}`, { token }),
        "list rule chains",
    );
    let id = findIn(chains, "name", ruleChainName)?.id.id;
    if (!id) {
        const created = expectOk(
            await api.call<Entity>("POST", "/api/ruleChain", {
                token,
                body: { name: ruleChainName, type: "CORE", debugMode: false },
            }),
            "create the rule chain",
        );
        id = created.id.id;
        log("created the rule chain", { id });
    }
    expectOk(
        await api.call("POST", "/api/ruleChain/metadata", {
            token,
            body: ruleChainMetadata(c.ruleChain, id),
        }),
        "save the rule chain's nodes",
    );
    log("saved the rule chain's nodes", { id });
    return id;
}

/** Creates or updates the device profile with `ruleChainId` as its default chain. */
export async function ensureDeviceProfile(
    api: TbApi,
    token: string,
    c: BootstrapConfig,
    ruleChainId: string,
    log: Log,
) {
    const profiles = expectOk(
        await api.call("GET", `/api/deviceProfiles?${page(deviceProfileName)}`, { token }),
        "list device profiles",
    );
    const found = findIn(profiles, "name", deviceProfileName);
    const existing = found
        ? expectOk(
              await api.call<Entity>("GET", `/api/deviceProfile/${found.id.id}`, { token }),
              "read the device profile",
          )
        : undefined;
    const saved = expectOk(
        await api.call<Entity>("POST", "/api/deviceProfile", {
            token,
            body: mergeEntity(existing, deviceProfile(c.subCaPem, ruleChainId)),
        }),
        "save the device profile",
    );
    log(existing ? "updated the device profile" : "created the device profile", { id: saved.id.id });
}

/** Creates or updates the Keycloak OAuth2 client and binds it to ThingsBoard's public host. */
async function ensureOauth2(
    api: TbApi,
    token: string,
    login_: NonNullable<BootstrapConfig["oauth2"]>,
    log: Log,
) {
    const clients = expectOk(
        await api.call("GET", `/api/oauth2/client/infos?${page(oauth2ClientTitle)}`, { token }),
        "list OAuth2 clients",
    );
    const found = findIn(clients, "title", oauth2ClientTitle);
    const existing = found
        ? expectOk(
              await api.call<Entity>("GET", `/api/oauth2/client/${found.id.id}`, { token }),
              "read the OAuth2 client",
          )
        : undefined;
    const client = expectOk(
        await api.call<Entity>("POST", "/api/oauth2/client", {
            token,
            body: mergeEntity(existing, oauth2Client(login_)),
        }),
        "save the OAuth2 client",
    );
    const domain = oauth2Domain(login_.thingsOrigin);
    const domains = expectOk(
        await api.call("GET", `/api/domain/infos?${page(domain.name)}`, { token }),
        "list domains",
    );
    const existingDomain = findIn(domains, "name", domain.name);
    if (existingDomain) {
        expectOk(
            await api.call("PUT", `/api/domain/${existingDomain.id.id}/oauth2Clients`, {
                token,
                body: [client.id.id],
            }),
            "bind the OAuth2 client to the domain",
        );
    } else {
        expectOk(
            await api.call("POST", `/api/domain?oauth2ClientIds=${client.id.id}`, { token, body: domain }),
            "create the domain",
        );
    }
    log("saved Keycloak login", { client: client.id.id, domain: domain.name });
}

/** Runs every step in order. */
export async function bootstrap(api: TbApi, c: BootstrapConfig, log: Log): Promise<void> {
    const sys = await sysadminToken(api, c.sysadminPassword, log);
    const tenantId = await ensureTenant(api, sys, c.tenantTitle, log);
    const admin = await tenantAdminToken(api, sys, tenantId, c, log);
    const ruleChainId = await ensureRuleChain(api, admin, c, log);
    await ensureDeviceProfile(api, admin, c, ruleChainId, log);
    if (c.oauth2) await ensureOauth2(api, sys, c.oauth2, log);
    else log("no Keycloak client secret: login stays with ThingsBoard's own accounts");
}
