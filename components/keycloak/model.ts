import * as pulumi from "@pulumi/pulumi";
import { literal } from "../../runtime/shared/regex";
import { thingsboardClientId } from "../thingsboard/users";

/**
 * The identity setup as data: which realms, roles, clients, claims and federation the platform
 * has. Pure functions build it from the stack's names; components/keycloak/realm.ts renders it
 * into @pulumi/keycloak resources, and the integration tests apply the very same model to a real
 * Keycloak through its admin API.
 */

/** A realm role. */
export interface RoleModel {
    readonly name: string;
    readonly description: string;
    /** Roles of the realm's `realm-management` client the role includes (admin API rights). */
    readonly realmManagement?: readonly string[];
}

/** An OpenID Connect client of a realm. */
export interface ClientModel {
    readonly clientId: string;
    readonly name: string;
    /** Confidential clients authenticate with a secret; public ones (browsers) use PKCE. */
    readonly access: "confidential" | "public";
    /** Browser login (authorization code). */
    readonly standardFlow: boolean;
    /** Client-credentials tokens for the client itself. */
    readonly serviceAccount: boolean;
    readonly redirectUris: readonly string[];
    readonly webOrigins: readonly string[];
    /** An audience added to the client's access tokens (the terminal proxy checks `terminal-proxy`). */
    readonly audience?: string;
    /** Add the user's realm roles as a flat `roles` claim (Grafana, ThingsBoard, the terminal proxy read it). */
    readonly rolesClaim: boolean;
    /** Roles of the realm's `realm-management` client granted to the service account (admin API rights). */
    readonly realmManagementRoles: readonly string[];
}

/** The tenant realm's link to the platform realm: platform staff log in to a tenant through it. */
export interface FederationModel {
    /** Identity provider alias in the tenant realm. */
    readonly alias: string;
    readonly displayName: string;
    /** OIDC issuer of the platform realm (a tenant stack reads it from the provider stack). */
    readonly issuer: pulumi.Input<string>;
    /** The tenant's client in the platform realm (its secret comes from the onboarding API). */
    readonly clientId: string;
    /** Platform role → tenant role, applied on every login (sync mode FORCE). */
    readonly roleMappings: readonly { readonly platformRole: string; readonly role: string }[];
    /**
     * The tenant role every mapped platform role also grants; the federation's post-login flow
     * refuses platform users without it (staff with no platform role get no way in).
     */
    readonly staffRole: string;
}

/** Alias of the tenant realm's flow that gates logins through federation. */
export const federationGateFlow = "federation-gate";

/** A whole realm. */
export interface RealmModel {
    readonly realm: string;
    readonly displayName: string;
    /** Value of the `tenant` claim every token of the realm carries; platform tokens carry none. */
    readonly tenantClaim?: string;
    readonly roles: readonly RoleModel[];
    readonly clients: readonly ClientModel[];
    readonly federation?: FederationModel;
    /** Login and admin events are the audit trail; kept this long. */
    readonly eventsExpirationSeconds: number;
    /** Access token lifetime (Keycloak duration, for example `5m`). */
    readonly accessTokenLifespan: string;
}

/** Alias of the platform realm as identity provider in every tenant realm. */
export const federationAlias = "provider";

/** Keycloak serves under `/auth`, as the platform's network diagram has it. */
export const keycloakBasePath = "/auth";

/** The OIDC issuer of `realm` on a Keycloak reachable at `origin` (scheme and host). */
export function issuerUrl(origin: string, realm: string): string {
    return `${origin}${keycloakBasePath}/realms/${realm}`;
}

/** The broker endpoint of a tenant realm: the redirect URI of its federation client. */
export function brokerRedirectUri(tenantOrigin: string, tenantRealm: string, alias: string): string {
    return `${issuerUrl(tenantOrigin, tenantRealm)}/broker/${alias}/endpoint`;
}

/** Seconds in a Keycloak duration such as `5m`, `300s` or `1h`. */
export function durationSeconds(duration: string): number {
    const match = /^([0-9]+)([smh])$/.exec(duration);
    if (!match) throw new Error(`"${duration}" is not a duration such as 5m`);
    return Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as "s" | "m" | "h"];
}

/** Events kept for 90 days. */
const auditRetentionSeconds = 90 * 24 * 3600;

/** Platform roles, and the tenant roles they grant through federation. */
export const platformRoles: readonly RoleModel[] = [
    {
        name: "platform-admin",
        description: "Runs the platform; full rights in every tenant reached through federation",
    },
    { name: "platform-operator", description: "Operates the platform; operator rights in tenants" },
    { name: "platform-viewer", description: "Reads platform and tenant state" },
];

export const tenantRoles: readonly RoleModel[] = [
    {
        name: "tenant-admin",
        description: "Manages the tenant: users, devices, enrollment tokens, rollouts",
        // Users and groups of the tenant realm and its login events; not clients, roles or the realm.
        realmManagement: ["view-users", "manage-users", "query-users", "query-groups", "view-events"],
    },
    { name: "operator", description: "Operates devices: rollouts, decommissioning" },
    { name: "viewer", description: "Reads device state and metrics" },
    { name: "device-terminal", description: "Opens a browser terminal to the tenant's devices" },
];

/** Client defaults: confidential, code flow, no direct grants, no roles claim. */
function client(c: Partial<ClientModel> & Pick<ClientModel, "clientId" | "name">): ClientModel {
    return {
        access: "confidential",
        standardFlow: true,
        serviceAccount: false,
        redirectUris: [],
        webOrigins: [],
        rolesClaim: false,
        realmManagementRoles: [],
        ...c,
    };
}

/** The provider's `platform` realm: platform staff and the platform Grafana. */
export function platformRealm(domain: string): RealmModel {
    return {
        realm: "platform",
        displayName: "cdm-platform",
        roles: platformRoles,
        clients: [
            // The provider bridge makes tenants' federation clients through the admin API.
            client({
                clientId: "bridge",
                name: "IoT Bridge API (provider)",
                standardFlow: false,
                serviceAccount: true,
                realmManagementRoles: ["view-clients", "manage-clients"],
            }),
            client({
                clientId: "grafana",
                name: "Platform Grafana",
                redirectUris: [`https://grafana.${domain}/login/generic_oauth`],
                webOrigins: [`https://grafana.${domain}`],
                rolesClaim: true,
            }),
        ],
        eventsExpirationSeconds: auditRetentionSeconds,
        accessTokenLifespan: "5m",
    };
}

/** A tenant's federation client in the platform realm (created through the onboarding API). */
export function federationClient(tenantId: string, redirectUri: string): ClientModel {
    return client({
        clientId: `tenant-${tenantId}`,
        name: `Federation of tenant ${tenantId}`,
        redirectUris: [redirectUri],
        // The tenant realm admits a platform user only when the ID token's roles name a mapped role.
        rolesClaim: true,
    });
}

/** Origins of a tenant's services, for redirect URIs. */
export interface TenantOrigins {
    readonly identity: string;
    readonly things: string;
    readonly grafana: string;
    readonly ota: string;
    readonly terminal: string;
}

/** The origins of a tenant under `<tenantId>.<domain>`. */
export function tenantOrigins(domain: string, tenantId: string): TenantOrigins {
    const at = (service: string) => `https://${service}.${tenantId}.${domain}`;
    return {
        identity: at("auth"),
        things: at("things"),
        grafana: at("grafana"),
        ota: at("ota"),
        terminal: at("terminal"),
    };
}

/** A tenant realm: its roles, its applications' clients, federation to the platform realm. */
export function tenantRealm(
    tenantId: string,
    displayName: string,
    origins: TenantOrigins,
    platformIssuer: pulumi.Input<string>,
): RealmModel {
    return {
        realm: tenantId,
        displayName,
        tenantClaim: tenantId,
        roles: [
            ...tenantRoles,
            {
                name: "platform-staff",
                description: "Platform staff signed in through federation (granted by it only)",
            },
        ],
        clients: [
            client({
                clientId: thingsboardClientId,
                name: "ThingsBoard",
                redirectUris: [`${origins.things}/login/oauth2/code/`],
                webOrigins: [origins.things],
                rolesClaim: true,
            }),
            client({
                clientId: "grafana",
                name: "Grafana",
                redirectUris: [`${origins.grafana}/login/generic_oauth`],
                webOrigins: [origins.grafana],
                rolesClaim: true,
            }),
            client({
                clientId: "hawkbit",
                name: "hawkBit",
                redirectUris: [`${origins.ota}/login/oauth2/code/keycloak`],
                webOrigins: [origins.ota],
                rolesClaim: true,
            }),
            // Browsers (the ThingsBoard terminal widget) get terminal tokens with PKCE.
            client({
                clientId: "terminal-proxy",
                name: "Device terminal",
                access: "public",
                // Exact callback only: a wildcard would hand codes to any page on these origins.
                redirectUris: [`${origins.terminal}/callback`],
                webOrigins: [origins.terminal, origins.things],
                audience: "terminal-proxy",
                rolesClaim: true,
            }),
            client({ clientId: "bridge", name: "IoT Bridge API", standardFlow: false, serviceAccount: true }),
        ],
        federation: {
            alias: federationAlias,
            displayName: "cdm-platform staff",
            issuer: platformIssuer,
            clientId: `tenant-${tenantId}`,
            roleMappings: [
                { platformRole: "platform-admin", role: "tenant-admin" },
                { platformRole: "platform-operator", role: "operator" },
                { platformRole: "platform-viewer", role: "viewer" },
            ],
            staffRole: "platform-staff",
        },
        eventsExpirationSeconds: auditRetentionSeconds,
        accessTokenLifespan: "5m",
    };
}

/** A protocol mapper in Keycloak's own representation (type and string config). */
export interface MapperModel {
    readonly name: string;
    readonly protocolMapper: string;
    readonly config: Readonly<Record<string, string>>;
}

const inTokens = { "access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true" };

/** The mappers of a client: the tenant claim, the roles claim, the extra audience. */
export function clientMappers(realm: Pick<RealmModel, "tenantClaim">, c: ClientModel): MapperModel[] {
    return [
        ...(realm.tenantClaim
            ? [
                  {
                      name: "tenant",
                      protocolMapper: "oidc-hardcoded-claim-mapper",
                      config: {
                          "claim.name": "tenant",
                          "claim.value": realm.tenantClaim,
                          "jsonType.label": "String",
                          ...inTokens,
                      },
                  },
              ]
            : []),
        ...(c.rolesClaim
            ? [
                  {
                      name: "roles",
                      protocolMapper: "oidc-usermodel-realm-role-mapper",
                      config: {
                          "claim.name": "roles",
                          "jsonType.label": "String",
                          multivalued: "true",
                          ...inTokens,
                      },
                  },
              ]
            : []),
        ...(c.audience
            ? [
                  {
                      name: "audience",
                      protocolMapper: "oidc-audience-mapper",
                      config: {
                          "included.custom.audience": c.audience,
                          "access.token.claim": "true",
                          "id.token.claim": "false",
                      },
                  },
              ]
            : []),
    ];
}

/** An identity-provider mapper in Keycloak's representation. */
export interface FederationMapperModel {
    readonly name: string;
    readonly identityProviderMapper: string;
    readonly config: Readonly<Record<string, string>>;
}

/** The federation's role mappings: a platform role in the token grants a tenant role. */
export function federationMappers(federation: FederationModel): FederationMapperModel[] {
    const mapper = (platformRole: string, role: string): FederationMapperModel => ({
        name: `${platformRole}-to-${role}`,
        identityProviderMapper: "keycloak-oidc-role-to-role-idp-mapper",
        config: { "external.role": platformRole, role, syncMode: "FORCE" },
    });
    return [
        ...federation.roleMappings.map((m) => mapper(m.platformRole, m.role)),
        ...federation.roleMappings.map((m) => mapper(m.platformRole, federation.staffRole)),
    ];
}

/**
 * The steps of the post-login flow of federation, in order: a conditional sub-flow that runs
 * when the user lacks the staff role (the condition negated) and denies access, then a step
 * that lets everyone else through.
 */
export function federationGate(federation: FederationModel) {
    return {
        flow: federationGateFlow,
        subflow: `${federationGateFlow}-staff-only`,
        condition: {
            authenticator: "conditional-user-role",
            config: { condUserRole: federation.staffRole, negate: "true" },
        },
        deny: { authenticator: "deny-access-authenticator" },
        // A flow in which nothing succeeded fails: staff with the role pass through this step.
        allow: { authenticator: "allow-access-authenticator" },
    } as const;
}

/**
 * The identity provider's claim filter (Keycloak's "essential claim"): the platform realm's ID
 * token must carry, in its `roles` claim, one of the mapped platform roles, or the tenant realm
 * refuses the login before its first-login flow runs, so a refused platform user leaves no user,
 * no link and no session behind in the tenant realm. The post-login gate (federationGate) stays
 * as the second check.
 */
export function federationClaimFilter(federation: FederationModel): Record<string, string> {
    const roles = federation.roleMappings.map((m) => literal(m.platformRole));
    return {
        filteredByClaim: "true",
        claimFilterName: "roles",
        claimFilterValue: `^(${roles.join("|")})$`,
    };
}

/** The OIDC endpoints under an issuer, as Keycloak lays them out. */
export function oidcEndpoints(issuer: string) {
    const base = `${issuer}/protocol/openid-connect`;
    return {
        authorizationUrl: `${base}/auth`,
        tokenUrl: `${base}/token`,
        userInfoUrl: `${base}/userinfo`,
        jwksUrl: `${base}/certs`,
        logoutUrl: `${base}/logout`,
    };
}
