import * as pulumi from "@pulumi/pulumi";
import { Bridge } from "./bridge/bridge";
import { inClusterJwksUrl } from "./bridge/env";
import { ProviderConfig } from "./config/provider-config";
import { ProviderEndpoints, providerEndpoints } from "./endpoints";
import { platformDashboard } from "./grafana/dashboards";
import { Grafana } from "./grafana/grafana";
import { platformRoleMapping } from "./grafana/provisioning";
import { InfluxDb } from "./influxdb/influxdb";
import {
    grafanaTokenSecret,
    providerInfluxSetup,
    telegrafTokenSecret,
    telemetryMeasurement,
} from "./influxdb/settings";
import { Keycloak } from "./keycloak/keycloak";
import { platformRealm } from "./keycloak/model";
import { KeycloakRealm } from "./keycloak/realm";
import { PlatformPki } from "./pki/platform-pki";
import { subCaClaims } from "./pki/profile";
import { Postgres } from "./postgres/postgres";
import { PostgresConsumer } from "./postgres/provision";
import { RabbitMq } from "./rabbitmq/rabbitmq";
import { TelemetryGate } from "./rabbitmq/telemetry-gate";
import { createStackNamespace, kubernetesProvider } from "./stack-context";
import { StepCa } from "./step-ca/step-ca";
import { Telegraf } from "./telegraf/telegraf";
import { runtimeImage } from "./runtime-image";

export interface ProviderStackArgs {
    /** The validated provider configuration. */
    readonly config: ProviderConfig;
}

/** Services of the provider stack that keep data in its PostgreSQL. */
export const providerDatabaseConsumers: readonly PostgresConsumer[] = [
    { name: "keycloak", app: "keycloak" },
    { name: "bridge", app: "bridge" },
];

/** Name of the provider step-ca's CA-capable provisioner; the provider bridge holds its key. */
export const subCaProvisioner = "tenant-sub-ca";

/** The public certificates of the platform PKI. */
export interface PlatformCaCertificates {
    /** The root every chain ends at. */
    readonly root: pulumi.Output<string>;
    /** The provider intermediate, issuer of every tenant Sub-CA. */
    readonly intermediate: pulumi.Output<string>;
}

/**
 * The provider stack: one per platform. It owns the platform namespace and the shared services
 * (identity, metrics aggregation, the intermediate CA, tenant onboarding) that tenants plug into.
 */
export class ProviderStack extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly endpoints: ProviderEndpoints;
    public readonly postgres: Postgres;
    public readonly caCertificates: PlatformCaCertificates;
    /** The provider step-ca (intermediate CA), which signs tenant Sub-CAs only. */
    public readonly stepCa: StepCa;
    /** The provider Keycloak with the `platform` realm. */
    public readonly keycloak: Keycloak;
    /** The provider IoT Bridge API: tenant onboarding, Sub-CA signing. */
    public readonly bridge: Bridge;
    /** The metrics broker (vhost `cdm-metrics`) tenants publish to and Telegraf consumes. */
    public readonly rabbitmq: RabbitMq;
    /** Forwarded telemetry: Telegraf writes the `telemetry` bucket, Grafana reads it. */
    public readonly influxdb: InfluxDb;
    /** The platform Grafana (Platform dashboard), with platform-realm login. */
    public readonly grafana: Grafana;
    /** Moves tenants' telemetry from RabbitMQ into InfluxDB. */
    public readonly telegraf: Telegraf;
    /** Between tenants and Telegraf: forwards only telemetry whose body names its routing key's tenant. */
    public readonly telemetryGate: TelemetryGate;

    constructor(name: string, args: ProviderStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:stack:ProviderStack", name, {}, opts);
        const { config } = args;
        const provider = kubernetesProvider(name, config, this);
        const child: pulumi.ComponentResourceOptions = { parent: this, provider };
        const { namespace, context } = createStackNamespace(name, config, "cdm-provider", child);
        this.namespace = namespace.name;
        this.endpoints = providerEndpoints(config.domain);
        this.postgres = new Postgres(
            `${name}-postgres`,
            { context, config: config.postgres, consumers: providerDatabaseConsumers },
            child,
        );
        const pki = new PlatformPki(`${name}-pki`, { source: config.pki }, { parent: this });
        this.caCertificates = { root: pki.rootCertificate, intermediate: pki.intermediateCertificate };
        this.stepCa = new StepCa(
            `${name}-step-ca`,
            {
                context,
                rootCertificate: pki.rootCertificate,
                signingCertificates: [pki.intermediateCertificate],
                signingKey: pki.intermediateKey,
                provisioners: [{ name: subCaProvisioner, issues: "sub-ca", claims: subCaClaims() }],
                clients: ["bridge"],
            },
            child,
        );
        this.keycloak = new Keycloak(
            `${name}-keycloak`,
            {
                context,
                publicOrigin: new URL(this.endpoints.identity).origin,
                database: this.postgres.connection("keycloak"),
                clients: ["bridge", "grafana"],
                adminUrl: config.keycloak.adminUrl,
                publicRealms: ["platform"],
            },
            child,
        );
        this.rabbitmq = new RabbitMq(
            `${name}-rabbitmq`,
            {
                context,
                publicEndpoint: this.endpoints.amqp,
                issuer: {
                    certificate: pki.intermediateCertificate,
                    privateKey: pki.intermediateKey,
                    root: pki.rootCertificate,
                },
            },
            child,
        );
        const realm = platformRealm(config.domain);
        const realmResource = config.keycloak.realms
            ? new KeycloakRealm(
                  `${name}-realm`,
                  { model: realm },
                  { parent: this, provider: this.keycloak.provider },
              )
            : undefined;
        const influxSetup = providerInfluxSetup(config.metrics.retention);
        this.influxdb = new InfluxDb(
            `${name}-influxdb`,
            {
                context,
                setup: influxSetup,
                storageSize: config.metrics.storageSize,
                clients: ["grafana", "telegraf"],
            },
            child,
        );
        this.grafana = new Grafana(
            `${name}-grafana`,
            {
                context,
                publicOrigin: this.endpoints.grafana,
                issuer: this.endpoints.identity,
                keycloakInternalUrl: this.keycloak.internalUrl,
                realm: realm.realm,
                clientSecret: realmResource?.clientSecrets.grafana,
                roles: platformRoleMapping,
                influx: {
                    url: this.influxdb.url,
                    org: influxSetup.org,
                    bucket: influxSetup.bucket,
                    tokenSecret: this.influxdb.tokenSecrets[grafanaTokenSecret],
                },
                dashboards: [platformDashboard(influxSetup.bucket, telemetryMeasurement)],
                folder: "Platform",
                dependsOn: [this.influxdb.tokenJob],
            },
            child,
        );
        this.telegraf = new Telegraf(
            `${name}-telegraf`,
            {
                context,
                amqpUrl: this.rabbitmq.amqpUrl,
                rabbitmqSecret: this.rabbitmq.telegrafSecret,
                influxUrl: this.influxdb.url,
                influxTokenSecret: this.influxdb.tokenSecrets[telegrafTokenSecret],
            },
            // Started with its token: the Job writes it into the Secret.
            { ...child, dependsOn: [this.influxdb.tokenJob] },
        );
        const image = runtimeImage(name, "bridge", config, this);
        this.telemetryGate = new TelemetryGate(
            `${name}-telemetry-gate`,
            {
                context,
                image,
                amqpUrl: this.rabbitmq.amqpUrl,
                rabbitmqSecret: this.rabbitmq.gateSecret,
            },
            child,
        );
        this.bridge = new Bridge(
            `${name}-bridge`,
            {
                context,
                role: "provider",
                image,
                database: this.postgres.connection("bridge"),
                stepCa: {
                    url: this.stepCa.url,
                    dnsName: this.stepCa.dnsName,
                    provisionerSecret: this.stepCa.provisionerSecrets[subCaProvisioner].secretName,
                    rootCertificate: pki.rootCertificate,
                },
                oidc: {
                    issuer: this.endpoints.identity,
                    jwksUrl: inClusterJwksUrl(this.keycloak.internalUrl, realm.realm),
                },
                publicUrl: this.endpoints.bridge,
                platformDomain: config.domain,
                intermediateCertificate: pki.intermediateCertificate,
                rabbitmqManagementUrl: this.rabbitmq.managementUrl,
                ...(realmResource
                    ? {
                          keycloakAdmin: {
                              url: this.keycloak.internalUrl,
                              clientSecret: realmResource.clientSecrets.bridge,
                          },
                      }
                    : {}),
            },
            child,
        );
        this.registerOutputs({
            namespace: this.namespace,
            endpoints: this.endpoints,
            caCertificates: this.caCertificates,
            postgres: this.postgres,
            stepCa: this.stepCa,
            keycloak: this.keycloak,
            bridge: this.bridge,
            rabbitmq: this.rabbitmq,
            influxdb: this.influxdb,
            grafana: this.grafana,
            telegraf: this.telegraf,
            telemetryGate: this.telemetryGate,
        });
    }
}
