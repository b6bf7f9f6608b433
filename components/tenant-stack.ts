import * as pulumi from "@pulumi/pulumi";
import { Bridge } from "./bridge/bridge";
import { inClusterJwksUrl } from "./bridge/env";
import { TenantConfig } from "./config/tenant-config";
import { ProviderEndpoints, TenantEndpoints, tenantEndpoints } from "./endpoints";
import { deviceFleetDashboard } from "./grafana/dashboards";
import { Grafana } from "./grafana/grafana";
import { tenantRoleMapping } from "./grafana/provisioning";
import { Hawkbit } from "./hawkbit/hawkbit";
import { InfluxDb } from "./influxdb/influxdb";
import { grafanaTokenSecret, tenantInfluxSetup } from "./influxdb/settings";
import { FederationClient } from "./keycloak/federation-client";
import { objectMeta } from "./k8s/context";
import { createCredentialSecret } from "./k8s/secret";
import { AmqpPublisher } from "./onboarding/amqp-publisher";
import { WireguardServerKey } from "./wireguard/server-key";
import { WireguardServer } from "./wireguard/server";
import { Keycloak } from "./keycloak/keycloak";
import { brokerRedirectUri, federationAlias, tenantOrigins, tenantRealm } from "./keycloak/model";
import { KeycloakRealm } from "./keycloak/realm";
import { deviceClaims } from "./pki/profile";
import { TenantSubCa } from "./pki/tenant-sub-ca";
import { Postgres } from "./postgres/postgres";
import { PostgresConsumer } from "./postgres/provision";
import { createStackNamespace, createVpnNamespace, kubernetesProvider } from "./stack-context";
import { StepCa } from "./step-ca/step-ca";
import { Thingsboard } from "./thingsboard/thingsboard";
import { runtimeImage } from "./runtime-image";

export interface TenantStackArgs {
    /** The validated tenant configuration. */
    readonly config: TenantConfig;
}

/** Services of a tenant stack that keep data in its PostgreSQL. */
export const tenantDatabaseConsumers: readonly PostgresConsumer[] = [
    { name: "thingsboard", app: "thingsboard" },
    { name: "hawkbit", app: "hawkbit" },
    { name: "keycloak", app: "keycloak" },
    { name: "bridge", app: "bridge" },
];

/** The Secret holding the tenant's AMQP publisher credentials; ThingsBoard's rule chain reads it. */
export const amqpPublisherSecretName = "thingsboard-amqp-publisher";
const amqpPublisherIdentity = { app: "thingsboard", component: "telemetry-forwarding" };

/**
 * Name of the tenant step-ca's device provisioner; the tenant bridge holds its key. Distinct per
 * tenant: step-ca's renewal finds the provisioner by the name a certificate carries, so one name
 * shared by all tenants would let another tenant's certificate renew here.
 */
export function deviceProvisioner(tenantId: string): string {
    return `bridge-${tenantId}`;
}

/** The public certificates a tenant's devices and services trust. */
export interface TenantCaCertificates {
    readonly root: pulumi.Output<string>;
    readonly intermediate: pulumi.Output<string>;
    /** This tenant's Sub-CA, issuer of its device certificates. */
    readonly subCa: pulumi.Output<string>;
}

/**
 * A tenant stack: one per tenant, in its own namespace with a quota, reading the provider stack
 * through a StackReference for what the tenant shares with the platform.
 */
export class TenantStack extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly endpoints: TenantEndpoints;
    /** The provider stack's public endpoints, as the provider exported them. */
    public readonly providerEndpoints: pulumi.Output<ProviderEndpoints>;
    public readonly postgres: Postgres;
    public readonly caCertificates: TenantCaCertificates;
    /** The tenant step-ca (Sub-CA), which signs device certificates for the tenant bridge. */
    public readonly stepCa: StepCa;
    /** The VPN server's key pair (the Secret `wireguard-server-key` of the VPN namespace). */
    public readonly wireguardKey: WireguardServerKey;
    /** The VPN server with its peer-sync agent, in the privileged VPN namespace. */
    public readonly wireguard: WireguardServer;
    /** The Secret with the tenant's AMQP publisher (`username`, `password`), for ThingsBoard. */
    public readonly amqpPublisherSecret: pulumi.Output<string>;
    /** The tenant Keycloak with the tenant realm, federated to the platform realm. */
    public readonly keycloak: Keycloak;
    /** hawkBit: DDI for devices and the management API at the OTA endpoint, on the tenant's PostgreSQL. */
    public readonly hawkbit: Hawkbit;
    /** The tenant IoT Bridge API: device enrollment, certificates, VPN addresses. */
    public readonly bridge: Bridge;
    /** ThingsBoard: devices' MQTTS, the rule chain forwarding metrics to the provider, the UI. */
    public readonly thingsboard: Thingsboard;
    /** Device metrics: devices' Telegraf writes through the metrics endpoint, Grafana reads. */
    public readonly influxdb: InfluxDb;
    /** The tenant's Grafana (Device fleet dashboard), with tenant-realm login. */
    public readonly grafana: Grafana;

    constructor(name: string, args: TenantStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:stack:TenantStack", name, {}, opts);
        const { config } = args;
        const providerStack = new pulumi.StackReference(
            `${name}-provider`,
            { name: config.providerStack },
            { parent: this },
        );
        this.providerEndpoints = providerStack.requireOutput("endpoints") as pulumi.Output<ProviderEndpoints>;
        const platformCa = providerStack.requireOutput("caCertificates") as pulumi.Output<{
            root: string;
            intermediate: string;
        }>;
        const provider = kubernetesProvider(name, config, this);
        const child: pulumi.ComponentResourceOptions = { parent: this, provider };
        const { namespace, context } = createStackNamespace(
            name,
            config,
            `cdm-tenant-${config.tenantId}`,
            child,
            {
                id: config.tenantId,
                quota: config.quota,
            },
        );
        this.namespace = namespace.name;
        this.endpoints = tenantEndpoints(config.domain, config.tenantId, config.wireguard.port);
        this.postgres = new Postgres(
            `${name}-postgres`,
            { context, config: config.postgres, consumers: tenantDatabaseConsumers },
            child,
        );
        const subCa = new TenantSubCa(
            `${name}-sub-ca`,
            {
                tenantId: config.tenantId,
                namespace: config.namespace,
                domain: config.domain,
                platformCa,
                bridgeUrl: this.providerEndpoints.bridge,
                onboardingToken: config.onboardingToken,
            },
            { parent: this },
        );
        this.caCertificates = {
            root: platformCa.root,
            intermediate: platformCa.intermediate,
            subCa: subCa.certificate,
        };
        this.stepCa = new StepCa(
            `${name}-step-ca`,
            {
                context,
                rootCertificate: platformCa.root,
                signingCertificates: pulumi
                    .all([subCa.certificate, subCa.chain])
                    .apply(([cert, chain]) => [cert, ...chain]),
                signingKey: subCa.key,
                provisioners: [
                    {
                        name: deviceProvisioner(config.tenantId),
                        issues: "device",
                        claims: deviceClaims(
                            config.deviceCertificates.lifetime,
                            config.deviceCertificates.maxLifetime,
                        ),
                    },
                ],
                clients: ["bridge"],
            },
            child,
        );
        const origins = tenantOrigins(config.domain, config.tenantId);
        this.keycloak = new Keycloak(
            `${name}-keycloak`,
            {
                context,
                publicOrigin: origins.identity,
                database: this.postgres.connection("keycloak"),
                clients: ["bridge", "grafana", "thingsboard"],
                // The terminal proxy, in the VPN pod, fetches the realm's keys.
                remoteClients: [
                    { namespace: config.vpnNamespace, podLabels: { "app.kubernetes.io/name": "wireguard" } },
                ],
                // The federation's back channel (token, keys) to the platform realm's public endpoint.
                egress: [{ peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port: 443 }] }],
                adminUrl: config.keycloak.adminUrl,
                publicRealms: [config.tenantId],
            },
            child,
        );
        this.hawkbit = new Hawkbit(
            `${name}-hawkbit`,
            {
                context,
                database: this.postgres.connection("hawkbit"),
                publicOrigin: this.endpoints.ota,
                subCa: { certificate: subCa.certificate, chain: subCa.chain, key: subCa.key },
            },
            child,
        );
        const vpn = createVpnNamespace(name, config, child);
        this.wireguardKey = new WireguardServerKey(`${name}-wireguard-key`, { context: vpn.context }, child);
        // The tenant's publisher on the provider's metrics RabbitMQ, for ThingsBoard's rule chain.
        const publisher = new AmqpPublisher(
            `${name}-amqp-publisher`,
            {
                bridgeUrl: this.providerEndpoints.bridge,
                tenantId: config.tenantId,
                token: config.onboardingToken ?? "",
            },
            { parent: this },
        );
        this.amqpPublisherSecret = createCredentialSecret(
            `${name}-amqp-publisher-credentials`,
            objectMeta(context, amqpPublisherIdentity, amqpPublisherSecretName),
            { username: publisher.username, password: publisher.password },
            child,
        ).secret.metadata.name;
        let realm: KeycloakRealm | undefined;
        if (config.keycloak.realms) {
            const federation = new FederationClient(
                `${name}-federation-client`,
                {
                    bridgeUrl: this.providerEndpoints.bridge,
                    tenantId: config.tenantId,
                    redirectUri: brokerRedirectUri(origins.identity, config.tenantId, federationAlias),
                    token: config.onboardingToken ?? "",
                },
                { parent: this },
            );
            realm = new KeycloakRealm(
                `${name}-realm`,
                {
                    model: tenantRealm(
                        config.tenantId,
                        config.displayName,
                        origins,
                        this.providerEndpoints.identity,
                    ),
                    federationSecret: federation.clientSecret,
                },
                { parent: this, provider: this.keycloak.provider },
            );
        }
        const influxSetup = tenantInfluxSetup(config.tenantId, config.metrics.retention);
        this.influxdb = new InfluxDb(
            `${name}-influxdb`,
            {
                context,
                setup: influxSetup,
                storageSize: config.metrics.storageSize,
                clients: ["grafana"],
                publicWrite: {
                    origin: this.endpoints.metrics,
                    subCa: { certificate: subCa.certificate, chain: subCa.chain, key: subCa.key },
                },
            },
            child,
        );
        this.grafana = new Grafana(
            `${name}-grafana`,
            {
                context,
                publicOrigin: origins.grafana,
                issuer: this.endpoints.identity,
                keycloakInternalUrl: this.keycloak.internalUrl,
                realm: config.tenantId,
                clientSecret: realm?.clientSecrets.grafana,
                roles: tenantRoleMapping,
                influx: {
                    url: this.influxdb.url,
                    org: influxSetup.org,
                    bucket: influxSetup.bucket,
                    tokenSecret: this.influxdb.tokenSecrets[grafanaTokenSecret],
                },
                dashboards: [deviceFleetDashboard(influxSetup.bucket)],
                folder: "Devices",
                dependsOn: [this.influxdb.tokenJob],
            },
            child,
        );
        const { network, prefixLength } = config.wireguard.cidr;
        // One image for the bridge, ThingsBoard's bootstrap and TLS proxy (built once, when built).
        const bridgeImage = runtimeImage(name, "bridge", config, this);
        this.bridge = new Bridge(
            `${name}-bridge`,
            {
                context,
                role: "tenant",
                image: bridgeImage,
                database: this.postgres.connection("bridge"),
                stepCa: {
                    url: this.stepCa.url,
                    dnsName: this.stepCa.dnsName,
                    provisionerSecret:
                        this.stepCa.provisionerSecrets[deviceProvisioner(config.tenantId)].secretName,
                    rootCertificate: platformCa.root,
                },
                oidc: {
                    issuer: this.endpoints.identity,
                    // The tenant realm is named after the tenant.
                    jwksUrl: inClusterJwksUrl(this.keycloak.internalUrl, config.tenantId),
                },
                publicUrl: this.endpoints.bridge,
                tenant: {
                    tenantId: config.tenantId,
                    displayName: config.displayName,
                    subCaCertificate: subCa.certificate,
                    wireguardCidr: `${network}/${prefixLength}`,
                    endpoints: this.endpoints,
                    wireguardPublicKey: this.wireguardKey.publicKey,
                    vpnNamespace: config.vpnNamespace,
                },
            },
            child,
        );
        this.wireguard = new WireguardServer(
            `${name}-wireguard`,
            {
                context: vpn.context,
                image: runtimeImage(name, "vpn", config, this),
                cidr: config.wireguard.cidr,
                port: config.wireguard.port,
                keySecret: this.wireguardKey.secretName,
                terminal: {
                    tenantId: config.tenantId,
                    issuer: this.endpoints.identity,
                    jwksUrl: inClusterJwksUrl(this.keycloak.internalUrl, config.tenantId),
                    // ThingsBoard's terminal widget and the terminal's own page.
                    allowedOrigins: [origins.things, origins.terminal],
                    host: new URL(origins.terminal).host,
                    bridgeToken: this.bridge.serviceTokens!.terminalProxy.value,
                },
                bridge: {
                    url: this.bridge.internalUrl,
                    serverName: new URL(this.bridge.publicUrl).host,
                    namespace: config.namespace,
                    peerAgentToken: this.bridge.serviceTokens!.peerAgent.value,
                },
            },
            child,
        );
        this.thingsboard = new Thingsboard(
            `${name}-thingsboard`,
            {
                context,
                database: this.postgres.connection("thingsboard"),
                runtimeImage: bridgeImage,
                tenantId: config.tenantId,
                displayName: config.displayName,
                endpoints: this.endpoints,
                subCa: { certificate: subCa.certificate, chain: subCa.chain, key: subCa.key },
                providerAmqp: { url: this.providerEndpoints.amqp, rootCertificate: platformCa.root },
                amqpPublisherSecret: this.amqpPublisherSecret,
                forwardedMetrics: config.forwardedMetrics,
                bridge: {
                    internalUrl: this.bridge.internalUrl,
                    serverName: new URL(this.bridge.publicUrl).host,
                    token: this.bridge.serviceTokens!.thingsboard.ref,
                },
                keycloak: realm
                    ? {
                          issuer: this.endpoints.identity,
                          internalIssuer: pulumi.interpolate`${this.keycloak.internalUrl}/realms/${config.tenantId}`,
                          clientSecret: realm.clientSecrets.thingsboard,
                      }
                    : undefined,
            },
            child,
        );
        this.registerOutputs({
            namespace: this.namespace,
            endpoints: this.endpoints,
            providerEndpoints: this.providerEndpoints,
            caCertificates: this.caCertificates,
            postgres: this.postgres,
            stepCa: this.stepCa,
            keycloak: this.keycloak,
            hawkbit: this.hawkbit,
            amqpPublisherSecret: this.amqpPublisherSecret,
            wireguardPublicKey: this.wireguardKey.publicKey,
            bridge: this.bridge,
            wireguard: this.wireguard,
            thingsboard: this.thingsboard,
            influxdb: this.influxdb,
            grafana: this.grafana,
        });
    }
}
