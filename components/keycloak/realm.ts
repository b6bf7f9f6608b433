import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import { renderFederationGate } from "./federation-gate";
import {
    clientMappers,
    federationClaimFilter,
    federationGate,
    federationMappers,
    oidcEndpoints,
    RealmModel,
} from "./model";

export interface KeycloakRealmArgs {
    /** The realm as data (components/keycloak/model.ts). */
    readonly model: RealmModel;
    /** Secret of the federation client in the platform realm, when the model federates. */
    readonly federationSecret?: pulumi.Input<string>;
}

/** The OIDC endpoints of an issuer that may only be known later (a stack reference). */
function endpointInputs(issuer: pulumi.Input<string>) {
    const endpoints = pulumi.output(issuer).apply(oidcEndpoints);
    return {
        authorizationUrl: endpoints.authorizationUrl,
        tokenUrl: endpoints.tokenUrl,
        userInfoUrl: endpoints.userInfoUrl,
        jwksUrl: endpoints.jwksUrl,
        logoutUrl: endpoints.logoutUrl,
    };
}

/**
 * Renders a realm model into @pulumi/keycloak resources: the realm with brute-force protection
 * and a password policy, its events (the audit trail) with retention, roles, clients with their
 * mappers, and the federation to the platform realm. Pass the Keycloak provider in `opts`.
 */
export class KeycloakRealm extends pulumi.ComponentResource {
    /** The realm's name. */
    public readonly realmId: pulumi.Output<string>;
    /** Client secrets of the confidential clients, by client id (Pulumi secrets). */
    public readonly clientSecrets: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: KeycloakRealmArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:keycloak:Realm", name, {}, opts);
        const { model } = args;
        const child = { parent: this };
        const realm = new keycloak.Realm(
            `${name}-realm`,
            {
                realm: model.realm,
                displayName: model.displayName,
                enabled: true,
                sslRequired: "external",
                accessTokenLifespan: model.accessTokenLifespan,
                loginWithEmailAllowed: true,
                resetPasswordAllowed: true,
                passwordPolicy: "length(12) and notUsername and notEmail",
                securityDefenses: { bruteForceDetection: { permanentLockout: false, maxLoginFailures: 10 } },
                // RealmEvents sets the retention of login events only; admin events need this.
                attributes: { adminEventsExpiration: String(model.eventsExpirationSeconds) },
            },
            child,
        );
        this.realmId = realm.realm;
        new keycloak.RealmEvents(
            `${name}-events`,
            {
                realmId: realm.id,
                eventsEnabled: true,
                eventsExpiration: model.eventsExpirationSeconds,
                adminEventsEnabled: true,
                adminEventsDetailsEnabled: true,
                eventsListeners: ["jboss-logging"],
            },
            child,
        );
        let realmManagement: pulumi.Output<{ id: string }> | undefined;
        const realmManagementClient = () =>
            (realmManagement ??= keycloak.openid.getClientOutput(
                { realmId: realm.id, clientId: "realm-management" },
                { parent: this, provider: opts?.provider },
            ));
        for (const role of model.roles) {
            const composites = (role.realmManagement ?? []).map(
                (r) =>
                    keycloak.getRoleOutput(
                        { realmId: realm.id, clientId: realmManagementClient().id, name: r },
                        { parent: this, provider: opts?.provider },
                    ).id,
            );
            new keycloak.Role(
                `${name}-role-${role.name}`,
                {
                    realmId: realm.id,
                    name: role.name,
                    description: role.description,
                    ...(composites.length > 0 ? { compositeRoles: composites } : {}),
                },
                child,
            );
        }
        for (const c of model.clients) {
            const client = new keycloak.openid.Client(
                `${name}-client-${c.clientId}`,
                {
                    realmId: realm.id,
                    clientId: c.clientId,
                    name: c.name,
                    accessType: c.access === "public" ? "PUBLIC" : "CONFIDENTIAL",
                    standardFlowEnabled: c.standardFlow,
                    implicitFlowEnabled: false,
                    directAccessGrantsEnabled: false,
                    serviceAccountsEnabled: c.serviceAccount,
                    validRedirectUris: [...c.redirectUris],
                    webOrigins: [...c.webOrigins],
                    ...(c.access === "public" ? { pkceCodeChallengeMethod: "S256" } : {}),
                },
                child,
            );
            if (c.access === "confidential") {
                this.clientSecrets[c.clientId] = pulumi.secret(client.clientSecret);
            }
            for (const role of c.realmManagementRoles) {
                new keycloak.openid.ClientServiceAccountRole(
                    `${name}-client-${c.clientId}-${role}`,
                    {
                        realmId: realm.id,
                        serviceAccountUserId: client.serviceAccountUserId,
                        clientId: realmManagementClient().id,
                        role,
                    },
                    child,
                );
            }
            for (const mapper of clientMappers(model, c)) {
                new keycloak.GenericProtocolMapper(
                    `${name}-client-${c.clientId}-${mapper.name}`,
                    {
                        realmId: realm.id,
                        clientId: client.id,
                        name: mapper.name,
                        protocol: "openid-connect",
                        protocolMapper: mapper.protocolMapper,
                        config: { ...mapper.config },
                    },
                    child,
                );
            }
        }
        if (model.federation) {
            const f = model.federation;
            const gate = renderFederationGate(`${name}-federation-gate`, realm.id, federationGate(f), child);
            const idp = new keycloak.oidc.IdentityProvider(
                `${name}-federation`,
                {
                    realm: realm.id,
                    alias: f.alias,
                    displayName: f.displayName,
                    providerId: "keycloak-oidc",
                    issuer: f.issuer,
                    ...endpointInputs(f.issuer),
                    clientId: f.clientId,
                    clientSecret: pulumi.secret(args.federationSecret ?? ""),
                    validateSignature: true,
                    syncMode: "FORCE",
                    trustEmail: true,
                    // Never keep platform staff's platform-realm tokens in a tenant's database.
                    storeToken: false,
                    backchannelSupported: false,
                    defaultScopes: "openid profile email",
                    // Platform users without a mapped role are refused before any tenant user is
                    // made (the claim filter), and again after the platform login (the gate).
                    postBrokerLoginFlowAlias: gate.flowAlias,
                    extraConfig: {
                        pkceEnabled: "true",
                        pkceMethod: "S256",
                        clientAuthMethod: "client_secret_post",
                        ...federationClaimFilter(f),
                    },
                },
                { ...child, dependsOn: [gate.complete] },
            );
            for (const mapper of federationMappers(f)) {
                new keycloak.CustomIdentityProviderMapping(
                    `${name}-federation-${mapper.name}`,
                    {
                        realm: realm.id,
                        identityProviderAlias: idp.alias,
                        name: mapper.name,
                        identityProviderMapper: mapper.identityProviderMapper,
                        extraConfig: { ...mapper.config },
                    },
                    child,
                );
            }
        }
        this.registerOutputs({ realmId: this.realmId });
    }
}
