import {
    brokerRedirectUri,
    clientMappers,
    federationAlias,
    federationClient,
    tenantOrigins,
} from "../../components/keycloak/model";
import { FederationClientResponse } from "../shared/onboarding";
import { ConfidentialClient, KeycloakAdmin } from "../shared/keycloak-admin";
import { Database } from "./db/database";
import { ApiError, callPeer } from "./errors";
import { tenantEvent, TenantRecord } from "./onboarding";

/**
 * The one redirect URI a tenant's federation client may have: its own Keycloak's broker
 * endpoint, derived from the tenant's registration, never taken from the request. A tenant that
 * could choose it could have the platform realm send staff login codes anywhere.
 */
export function expectedRedirectUri(tenantId: string, tenant: TenantRecord): string {
    return brokerRedirectUri(tenantOrigins(tenant.domain, tenantId).identity, tenantId, federationAlias);
}

/** The tenant's federation client as the platform realm's admin API is asked for it. */
export function federationClientRequest(tenantId: string, redirectUri: string): ConfidentialClient {
    const model = federationClient(tenantId, redirectUri);
    return {
        clientId: model.clientId,
        name: model.name,
        redirectUris: model.redirectUris,
        // The platform realm has no tenant claim: only the roles the tenant realm filters on.
        protocolMappers: clientMappers({}, model),
    };
}

/**
 * Creates (or returns) the tenant's federation client in the platform realm. The request's
 * redirect URI must be the derived one: a mismatch is refused, naming the one expected.
 */
export async function ensureFederationClient(
    db: Database,
    keycloak: KeycloakAdmin,
    tenantId: string,
    tenant: TenantRecord,
    redirectUri: string,
): Promise<FederationClientResponse> {
    const expected = expectedRedirectUri(tenantId, tenant);
    if (redirectUri !== expected) {
        throw new ApiError(
            400,
            "invalid_redirect_uri",
            `the federation client's redirect URI must be ${expected}`,
        );
    }
    const client = federationClientRequest(tenantId, expected);
    const made = await callPeer("Keycloak", () => keycloak.ensureClient(client));
    await db.transaction((tx) =>
        tenantEvent(tx, tenantId, "federation client ensured", `tenant:${tenantId}`, {
            clientId: client.clientId,
        }),
    );
    return { client_id: client.clientId, client_secret: made.secret };
}

/**
 * Brings every registered tenant's existing federation client to the model (its redirect URI and
 * its roles mapper), so a client an older bridge made gets what the tenant realm's claim filter
 * reads. A tenant without a client is left without one (a client deleted meanwhile is not made
 * again). One tenant's failure does not stop the others: throws after trying them all, naming
 * those that failed. Answers the client ids brought up to date.
 */
export async function reconcileFederationClients(db: Database, keycloak: KeycloakAdmin): Promise<string[]> {
    const { rows } = await db.query<{ id: string; namespace: string; domain: string }>(
        "SELECT id, namespace, domain FROM tenants ORDER BY id",
    );
    const updated: string[] = [];
    const failed: string[] = [];
    for (const tenant of rows) {
        const request = federationClientRequest(tenant.id, expectedRedirectUri(tenant.id, tenant));
        try {
            if (await keycloak.updateClient(request)) updated.push(request.clientId);
        } catch (error) {
            failed.push(`${request.clientId} (${error instanceof Error ? error.message : String(error)})`);
        }
    }
    if (failed.length) throw new Error(`federation clients not brought up to date: ${failed.join(", ")}`);
    return updated;
}

/** Removes the tenant's federation client; 404 when there is none. */
export async function removeFederationClient(
    db: Database,
    keycloak: KeycloakAdmin,
    tenantId: string,
): Promise<void> {
    const clientId = federationClient(tenantId, "").clientId;
    if (!(await callPeer("Keycloak", () => keycloak.deleteClient(clientId)))) {
        throw new ApiError(404, "federation_client_not_found", `tenant ${tenantId} has no federation client`);
    }
    await db.transaction((tx) =>
        tenantEvent(tx, tenantId, "federation client removed", `tenant:${tenantId}`, { clientId }),
    );
}
