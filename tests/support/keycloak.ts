/**
 * A real Keycloak for the integration tests (scripts/peers/keycloak.sh), and the admin-API
 * applier that puts a realm model (components/keycloak/model.ts) into it, field for field as
 * components/keycloak/realm.ts renders the model for Pulumi.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import {
    clientMappers,
    federationClaimFilter,
    federationMappers,
    durationSeconds,
    FederationModel,
    federationGate,
    keycloakBasePath,
    oidcEndpoints,
    RealmModel,
} from "../../components/keycloak/model";
import { projectRoot } from "../../tools/stack-config";

export interface RunningKeycloak {
    /** `http://127.0.0.1:<port>`: scheme and host, without the /auth base path. */
    readonly origin: string;
    readonly admin: KeycloakAdmin;
    stop(): Promise<void>;
}

/** Starts Keycloak in dev mode on loopback with a bootstrap admin, and waits until it is ready. */
export async function startKeycloak(port: number, managementPort: number): Promise<RunningKeycloak> {
    const [home, javaHome] = execFileSync(join(projectRoot, "scripts/peers/keycloak.sh"), ["install"], {
        encoding: "utf8",
    })
        .trim()
        .split(" ");
    const password = `admin-${Math.random().toString(36).slice(2)}`;
    let output = "";
    const child: ChildProcess = spawn(
        join(home, "bin/kc.sh"),
        [
            "start-dev",
            `--http-host=127.0.0.1`,
            `--http-port=${port}`,
            `--http-relative-path=${keycloakBasePath}`,
            `--http-management-port=${managementPort}`,
            "--health-enabled=true",
            // In memory: every run starts from an empty Keycloak.
            "--db=dev-mem",
        ],
        {
            env: {
                PATH: process.env.PATH ?? "",
                JAVA_HOME: javaHome,
                KC_BOOTSTRAP_ADMIN_USERNAME: "admin",
                KC_BOOTSTRAP_ADMIN_PASSWORD: password,
            },
            stdio: ["ignore", "pipe", "pipe"],
        },
    );
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 120_000;
    for (;;) {
        if (child.exitCode !== null)
            throw new Error(`keycloak exited ${child.exitCode}:\n${output.slice(-3000)}`);
        const ready = await fetch(`http://127.0.0.1:${managementPort}${keycloakBasePath}/health/ready`).then(
            (r) => r.ok,
            () => false,
        );
        if (ready) break;
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`keycloak did not become ready:\n${output.slice(-3000)}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
    const origin = `http://127.0.0.1:${port}`;
    return {
        origin,
        admin: await KeycloakAdmin.login(origin, "admin", password),
        stop: () =>
            new Promise<void>((resolve) => {
                if (child.exitCode !== null) return resolve();
                child.once("exit", () => resolve());
                child.kill("SIGTERM");
            }),
    };
}

/** The admin REST API, authenticated as the bootstrap admin. */
export class KeycloakAdmin {
    private constructor(
        private readonly origin: string,
        private token: string,
    ) {}

    static async login(origin: string, username: string, password: string): Promise<KeycloakAdmin> {
        const answer = await postForm(
            `${origin}${keycloakBasePath}/realms/master/protocol/openid-connect/token`,
            {
                grant_type: "password",
                client_id: "admin-cli",
                username,
                password,
            },
        );
        return new KeycloakAdmin(origin, answer.access_token as string);
    }

    /** Calls `/admin/realms/...`; returns the parsed body, or the Location's last segment on 201. */
    async call(method: string, path: string, body?: unknown): Promise<any> {
        const response = await fetch(`${this.origin}${keycloakBasePath}/admin/realms${path}`, {
            method,
            headers: {
                authorization: `Bearer ${this.token}`,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
        if (response.status === 201) return response.headers.get("location")?.split("/").pop();
        const text = await response.text();
        return text ? JSON.parse(text) : undefined;
    }

    /** Applies a realm model as components/keycloak/realm.ts does. Returns confidential client secrets. */
    async applyRealm(model: RealmModel, federationSecret?: string): Promise<Record<string, string>> {
        await this.call("POST", "", {
            realm: model.realm,
            displayName: model.displayName,
            enabled: true,
            sslRequired: "external",
            accessTokenLifespan: durationSeconds(model.accessTokenLifespan),
            attributes: { adminEventsExpiration: String(model.eventsExpirationSeconds) },
            loginWithEmailAllowed: true,
            resetPasswordAllowed: true,
            passwordPolicy: "length(12) and notUsername and notEmail",
            bruteForceProtected: true,
            failureFactor: 10,
            eventsEnabled: true,
            eventsExpiration: model.eventsExpirationSeconds,
            adminEventsEnabled: true,
            adminEventsDetailsEnabled: true,
            eventsListeners: ["jboss-logging"],
        });
        let management: { id: string } | undefined;
        for (const role of model.roles) {
            await this.call("POST", `/${model.realm}/roles`, {
                name: role.name,
                description: role.description,
            });
            if (!role.realmManagement?.length) continue;
            management ??= (await this.call("GET", `/${model.realm}/clients?clientId=realm-management`))[0];
            const composites = await Promise.all(
                role.realmManagement.map((r) =>
                    this.call("GET", `/${model.realm}/clients/${management!.id}/roles/${r}`),
                ),
            );
            await this.call("POST", `/${model.realm}/roles/${role.name}/composites`, composites);
        }
        const secrets: Record<string, string> = {};
        for (const c of model.clients) {
            const id = await this.call("POST", `/${model.realm}/clients`, {
                clientId: c.clientId,
                name: c.name,
                publicClient: c.access === "public",
                standardFlowEnabled: c.standardFlow,
                implicitFlowEnabled: false,
                directAccessGrantsEnabled: false,
                serviceAccountsEnabled: c.serviceAccount,
                redirectUris: [...c.redirectUris],
                webOrigins: [...c.webOrigins],
                attributes: c.access === "public" ? { "pkce.code.challenge.method": "S256" } : {},
                protocolMappers: clientMappers(model, c).map((m) => ({ ...m, protocol: "openid-connect" })),
            });
            if (c.access === "confidential")
                secrets[c.clientId] = (
                    await this.call("GET", `/${model.realm}/clients/${id}/client-secret`)
                ).value;
            if (c.realmManagementRoles.length > 0) {
                const user = await this.call("GET", `/${model.realm}/clients/${id}/service-account-user`);
                const [management] = await this.call(
                    "GET",
                    `/${model.realm}/clients?clientId=realm-management`,
                );
                const roles = await Promise.all(
                    c.realmManagementRoles.map((r) =>
                        this.call("GET", `/${model.realm}/clients/${management.id}/roles/${r}`),
                    ),
                );
                await this.call(
                    "POST",
                    `/${model.realm}/users/${user.id}/role-mappings/clients/${management.id}`,
                    roles,
                );
            }
        }
        if (model.federation) {
            const f = model.federation;
            await this.applyFederationGate(model.realm, f);
            // Tests build models from plain strings.
            const issuer = f.issuer as string;
            await this.call("POST", `/${model.realm}/identity-provider/instances`, {
                alias: f.alias,
                displayName: f.displayName,
                providerId: "keycloak-oidc",
                enabled: true,
                trustEmail: true,
                storeToken: false,
                config: {
                    backchannelSupported: "false",
                    issuer,
                    ...oidcEndpoints(issuer),
                    clientId: f.clientId,
                    clientSecret: federationSecret ?? "",
                    validateSignature: "true",
                    useJwksUrl: "true",
                    syncMode: "FORCE",
                    defaultScope: "openid profile email",
                    pkceEnabled: "true",
                    pkceMethod: "S256",
                    clientAuthMethod: "client_secret_post",
                    ...federationClaimFilter(f),
                },
                postBrokerLoginFlowAlias: federationGate(f).flow,
            });
            for (const m of federationMappers(f)) {
                await this.call("POST", `/${model.realm}/identity-provider/instances/${f.alias}/mappers`, {
                    name: m.name,
                    identityProviderAlias: f.alias,
                    identityProviderMapper: m.identityProviderMapper,
                    config: { ...m.config },
                });
            }
        }
        return secrets;
    }

    /** Creates a user with a password, complete profile and realm roles. */
    /** The post-login flow of federation, as components/keycloak/realm.ts renders it. */
    private async applyFederationGate(realm: string, f: FederationModel): Promise<void> {
        const gate = federationGate(f);
        const flows = `/${realm}/authentication/flows`;
        await this.call("POST", flows, {
            alias: gate.flow,
            providerId: "basic-flow",
            topLevel: true,
            builtIn: false,
        });
        await this.call("POST", `${flows}/${gate.flow}/executions/flow`, {
            alias: gate.subflow,
            type: "basic-flow",
            provider: "registration-page-form",
        });
        for (const step of [gate.condition, gate.deny]) {
            await this.call("POST", `${flows}/${gate.subflow}/executions/execution`, {
                provider: step.authenticator,
            });
        }
        await this.call("POST", `${flows}/${gate.flow}/executions/execution`, {
            provider: gate.allow.authenticator,
        });
        const executions: { id: string; displayName: string; providerId?: string; level: number }[] =
            await this.call("GET", `${flows}/${gate.flow}/executions`);
        for (const e of executions) {
            const requirement =
                e.level === 0 && e.providerId !== gate.allow.authenticator ? "CONDITIONAL" : "REQUIRED";
            await this.call("PUT", `${flows}/${gate.flow}/executions`, { ...e, requirement });
            if (e.providerId === gate.condition.authenticator) {
                await this.call("POST", `/${realm}/authentication/executions/${e.id}/config`, {
                    alias: `${gate.flow}-condition`,
                    config: gate.condition.config,
                });
            }
        }
    }

    async createUser(realm: string, username: string, password: string, roles: string[]): Promise<void> {
        const id = await this.call("POST", `/${realm}/users`, {
            username,
            email: `${username}@example.com`,
            firstName: username,
            lastName: "Tester",
            emailVerified: true,
            enabled: true,
            credentials: [{ type: "password", value: password, temporary: false }],
        });
        const representations = await Promise.all(roles.map((r) => this.call("GET", `/${realm}/roles/${r}`)));
        if (representations.length)
            await this.call("POST", `/${realm}/users/${id}/role-mappings/realm`, representations);
    }
}

async function postForm(url: string, form: Record<string, string>): Promise<Record<string, unknown>> {
    const response = await fetch(url, { method: "POST", body: new URLSearchParams(form) });
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new Error(`${url}: ${response.status} ${JSON.stringify(body)}`);
    return body;
}
