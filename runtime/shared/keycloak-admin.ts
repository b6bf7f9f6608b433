/**
 * A small client of Keycloak's admin REST API for one realm, authenticated as a confidential
 * client's service account (client-credentials grant; the token is cached until shortly before
 * it expires). The provider bridge uses it to manage tenants' federation clients.
 */

/** Keycloak answered something other than what the call needs. */
export class KeycloakAdminError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
        this.name = "KeycloakAdminError";
    }
}

export interface KeycloakAdminOptions {
    /** Keycloak's base URL including its relative path, for example `http://keycloak:8080/auth`. */
    readonly url: string;
    readonly realm: string;
    readonly clientId: string;
    readonly clientSecret: string;
    readonly timeoutMs?: number;
}

/** A protocol mapper in Keycloak's representation (components/keycloak/model.ts `clientMappers`). */
export interface ProtocolMapper {
    readonly name: string;
    readonly protocolMapper: string;
    readonly config: Readonly<Record<string, string>>;
}

/** A confidential OIDC client as the platform makes them. */
export interface ConfidentialClient {
    readonly clientId: string;
    readonly name: string;
    readonly redirectUris: readonly string[];
    /** The client's own mappers; others it has are left alone. */
    readonly protocolMappers: readonly ProtocolMapper[];
}

export class KeycloakAdmin {
    private token?: { value: string; expiresAt: number };

    constructor(private readonly options: KeycloakAdminOptions) {}

    /** The client's internal id, or undefined when there is no client `clientId`. */
    async findClient(clientId: string): Promise<{ id: string } | undefined> {
        const found = (await this.call(
            "GET",
            `/clients?clientId=${encodeURIComponent(clientId)}&search=false`,
        )) as { id: string; clientId: string }[];
        const client = found.find((c) => c.clientId === clientId);
        return client ? { id: client.id } : undefined;
    }

    /**
     * Creates the client (code flow only, confidential) or brings an existing one to these redirect
     * URIs and mappers; answers its id and secret. Idempotent: an existing client keeps its secret.
     */
    async ensureClient(client: ConfidentialClient): Promise<{ id: string; secret: string }> {
        return (await this.putClient(client, true))!;
    }

    /** Brings an existing client to the model like ensureClient; makes none (undefined). */
    async updateClient(client: ConfidentialClient): Promise<{ id: string; secret: string } | undefined> {
        return this.putClient(client, false);
    }

    private async putClient(
        client: ConfidentialClient,
        create: boolean,
    ): Promise<{ id: string; secret: string } | undefined> {
        const representation = {
            clientId: client.clientId,
            name: client.name,
            protocol: "openid-connect",
            publicClient: false,
            standardFlowEnabled: true,
            implicitFlowEnabled: false,
            directAccessGrantsEnabled: false,
            serviceAccountsEnabled: false,
            redirectUris: [...client.redirectUris],
            webOrigins: [],
        };
        let existing = await this.findClient(client.clientId);
        if (!existing && !create) return undefined;
        if (!existing) {
            // Made with its mappers, so it never issues a token without them.
            const protocolMappers = client.protocolMappers.map(oidcMapper);
            await this.call("POST", "/clients", { ...representation, protocolMappers });
            existing = await this.findClient(client.clientId);
            if (!existing) throw new KeycloakAdminError(502, `client ${client.clientId} was not created`);
        } else {
            // Whatever drifted (redirect URIs, flows, access type) is put back.
            await this.call("PUT", `/clients/${existing.id}`, { ...representation, id: existing.id });
        }
        await this.ensureMappers(existing.id, client.protocolMappers);
        const secret = (await this.call("GET", `/clients/${existing.id}/client-secret`)) as {
            value?: string;
        };
        if (!secret.value) throw new KeycloakAdminError(502, `client ${client.clientId} has no secret`);
        return { id: existing.id, secret: secret.value };
    }

    /**
     * Gives the client each mapper with exactly this type and configuration (a client made before
     * a mapper was added to the model gets it; a changed one is put back). A client update does
     * not touch mappers, so they have their own calls.
     */
    private async ensureMappers(id: string, mappers: readonly ProtocolMapper[]): Promise<void> {
        const path = `/clients/${id}/protocol-mappers/models`;
        const present = (await this.call("GET", path)) as (ProtocolMapper & { id: string })[];
        for (const mapper of mappers) {
            const wanted = oidcMapper(mapper);
            const found = present.find((m) => m.name === mapper.name);
            if (!found) {
                // Another replica may have added it meanwhile: a conflict means it is there.
                await this.call("POST", path, wanted).catch((error: unknown) => {
                    if (!(error instanceof KeycloakAdminError && error.status === 409)) throw error;
                });
            } else if (
                found.protocolMapper !== mapper.protocolMapper ||
                // Keycloak adds settings of its own (introspection.token.claim); only ours count.
                Object.entries(mapper.config).some(([key, value]) => found.config[key] !== value)
            ) {
                const config = { ...found.config, ...mapper.config };
                await this.call("PUT", `${path}/${found.id}`, { ...wanted, config, id: found.id });
            }
        }
    }

    /** Deletes the client; false when there was none. */
    async deleteClient(clientId: string): Promise<boolean> {
        const existing = await this.findClient(clientId);
        if (!existing) return false;
        await this.call("DELETE", `/clients/${existing.id}`);
        return true;
    }

    private async accessToken(): Promise<string> {
        if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
        const { url, realm, clientId, clientSecret } = this.options;
        const res = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
                grant_type: "client_credentials",
                client_id: clientId,
                client_secret: clientSecret,
            }),
            signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number };
        if (!res.ok || !body.access_token) {
            throw new KeycloakAdminError(
                res.status,
                `Keycloak refused the bridge's client credentials (${res.status})`,
            );
        }
        // Renew 30 s early so a token never expires in flight.
        this.token = {
            value: body.access_token,
            expiresAt: Date.now() + ((body.expires_in ?? 60) - 30) * 1000,
        };
        return this.token.value;
    }

    private async call(method: string, path: string, body?: unknown): Promise<unknown> {
        const { url, realm } = this.options;
        const res = await fetch(`${url}/admin/realms/${encodeURIComponent(realm)}${path}`, {
            method,
            headers: {
                authorization: `Bearer ${await this.accessToken()}`,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        const text = await res.text();
        if (!res.ok) {
            throw new KeycloakAdminError(
                res.status,
                `Keycloak answered ${res.status} to ${method} ${path.split("?")[0]}`,
            );
        }
        return text ? JSON.parse(text) : undefined;
    }
}

/** A mapper as the admin API takes it: of the OpenID Connect protocol. */
function oidcMapper(mapper: ProtocolMapper) {
    return { ...mapper, protocol: "openid-connect" };
}
