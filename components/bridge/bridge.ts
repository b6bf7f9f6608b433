import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { TenantEndpoints } from "../endpoints";
import { AppIdentity, labelPrefix, objectMeta, StackContext } from "../k8s/context";
import { MountSpec, SecretKeyRef, VolumeSpec } from "../k8s/pod";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress, ingressTlsSecret, serviceHost } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { PostgresConnection } from "../postgres/postgres";
import { localAccounts } from "../thingsboard/users";
import {
    bridgeApp,
    bridgeEnv,
    bridgeManagementPort,
    bridgeNetwork,
    bridgePaths,
    bridgePort,
    bridgeUid,
    caFiles,
    hawkbitService,
    RoleEnvInputs,
    ServiceTokenName,
    serviceTokenLength,
    serviceTokens,
} from "./env";

/** The step-ca the bridge signs with. */
export interface BridgeStepCa {
    /** In-cluster URL (`StepCa.url`). */
    readonly url: pulumi.Input<string>;
    /** The CA's DNS name, host of the token audience (`StepCa.dnsName`). */
    readonly dnsName: pulumi.Input<string>;
    /** Name of the provisioner Secret the bridge mounts (`StepCa.provisionerSecrets[...]`). */
    readonly provisionerSecret: pulumi.Input<string>;
    /** The platform root (PEM) every chain, step-ca's included, ends at. */
    readonly rootCertificate: pulumi.Input<string>;
}

interface BridgeBaseArgs {
    /** The stack the bridge runs in. */
    readonly context: StackContext;
    /** Image reference, pinned (a tag or a digest). */
    readonly image: pulumi.Input<string>;
    /** Its PostgreSQL database (`postgres.connection("bridge")`). */
    readonly database: PostgresConnection;
    /** The stack's step-ca and the provisioner the bridge holds the key of. */
    readonly stepCa: BridgeStepCa;
    /** The realm whose access tokens authorize management calls. */
    readonly oidc: {
        /** Public issuer, as tokens carry it. */
        readonly issuer: pulumi.Input<string>;
        /** The realm's keys on the in-cluster Keycloak (`inClusterJwksUrl`). */
        readonly jwksUrl: pulumi.Input<string>;
    };
    /** Public URL (`https://api.…`); the Ingress is bound to its host. */
    readonly publicUrl: string;
}

/** The tenant bridge: device enrollment for one tenant. */
export interface TenantBridgeArgs extends BridgeBaseArgs {
    readonly role: "tenant";
    readonly tenant: {
        /** The tenant this bridge serves. */
        readonly tenantId: string;
        /** The tenant's display name: the title of its ThingsBoard tenant. */
        readonly displayName: string;
        /** The tenant Sub-CA (PEM): device certificates must come from it. */
        readonly subCaCertificate: pulumi.Input<string>;
        /** The VPN's address space as CIDR text; addresses for devices are allocated from it. */
        readonly wireguardCidr: string;
        /** The tenant's public endpoints: MQTT, hawkBit, InfluxDB and the VPN handed to devices. */
        readonly endpoints: TenantEndpoints;
        /** The WireGuard server's public key. */
        readonly wireguardPublicKey: pulumi.Input<string>;
        /** The VPN namespace, whose server pod (peer agent, terminal proxy) calls the bridge. */
        readonly vpnNamespace: string;
    };
}

/** The provider bridge: tenant onboarding and Sub-CA signing. */
export interface ProviderBridgeArgs extends BridgeBaseArgs {
    readonly role: "provider";
    /** The platform's DNS domain, from which tenants' public names derive. */
    readonly platformDomain: string;
    /** The provider intermediate (PEM): the issuer every signed Sub-CA must have. */
    readonly intermediateCertificate: pulumi.Input<string>;
    /**
     * The platform realm's admin API for tenants' federation clients: Keycloak's in-cluster base
     * URL and the secret of the realm's `bridge` client; federation is off without it.
     */
    readonly keycloakAdmin?: {
        readonly url: pulumi.Input<string>;
        readonly clientSecret: pulumi.Input<string>;
    };
    /**
     * In-cluster URL of the metrics RabbitMQ's management API, where tenants' publishers are
     * made (`RabbitMq.managementUrl`); the RabbitMq component creates the user's Secret.
     */
    readonly rabbitmqManagementUrl: pulumi.Input<string>;
}

export type BridgeArgs = TenantBridgeArgs | ProviderBridgeArgs;

/** A generated service token: its value, and where services read it from. */
export interface ServiceToken {
    /** The token, a Pulumi secret. */
    readonly value: pulumi.Output<string>;
    /** Its key in the bridge's `bridge-service-tokens` Secret, for the service's env. */
    readonly ref: SecretKeyRef;
}

/** Annotation that makes ingress-nginx forward the TLS stream unopened (needs `--enable-ssl-passthrough`). */
export const sslPassthroughAnnotation = "nginx.ingress.kubernetes.io/ssl-passthrough";

const identity: AppIdentity = { app: bridgeApp, component: "api" };
const management = (path: string) => ({ http: { path, port: bridgeManagementPort } });

/**
 * The IoT Bridge API (runtime/bridge) as a two-replica Deployment on PostgreSQL, signing with the
 * stack's step-ca through its provisioner, behind the ingress.
 *
 * TLS: the bridge terminates TLS itself, because devices renew their certificates over mutual
 * TLS and a client certificate must reach the bridge unopened. Its Ingress therefore asks for
 * SSL passthrough; its server certificate is the Ingress's TLS Secret `bridge-tls`, which
 * cert-manager's ingress-shim issues from `cdm:ingressTlsIssuer` for the public host (or which
 * is provided out of band without an issuer), mounted at /etc/bridge/tls. The certificate names
 * the public host only: in-cluster callers verify it against that name (TLS server name).
 */
export class Bridge extends pulumi.ComponentResource {
    /** In-cluster URL of the API (`https://bridge.<ns>.svc.cluster.local:8443`). */
    public readonly internalUrl: pulumi.Output<string>;
    /** Public URL; the name the server certificate carries. */
    public readonly publicUrl: string;
    /** Tenant role: the tokens of the terminal proxy, the peer agent and ThingsBoard's webhook. */
    public readonly serviceTokens?: Readonly<Record<ServiceTokenName, ServiceToken>>;

    constructor(name: string, args: BridgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:bridge:Bridge", name, {}, opts);
        const { context: ctx, database: db } = args;
        const child = { parent: this };
        let roleEnv: RoleEnvInputs;
        if (args.role === "tenant") {
            const tokens = this.createServiceTokens(name, ctx, child);
            this.serviceTokens = tokens;
            const { tenantId, displayName, wireguardCidr, endpoints, wireguardPublicKey } = args.tenant;
            const hawkbit = serviceHost(hawkbitService.app, ctx.namespace);
            roleEnv = {
                role: "tenant",
                tenant: {
                    tenantId,
                    thingsboard: { tenantTitle: displayName, localAccounts: localAccounts(endpoints.things) },
                    wireguardCidr,
                    endpoints,
                    hawkbitUrl: pulumi.interpolate`http://${hawkbit}:${hawkbitService.port}`,
                    wireguardPublicKey,
                    tokens: mapTokens(tokens, (t) => t.ref),
                    // Only the bridge holds it: devices and the terminal proxy get each
                    // device's derived credential from the bridge.
                    terminalCredentialKey: createCredentialSecret(
                        `${name}-terminal-credential-key`,
                        objectMeta(ctx, identity, "bridge-terminal-credential-key"),
                        { key: generatedPassword(`${name}-terminal-credential-key`, child, 43) },
                        child,
                    ).ref("key"),
                },
            };
        } else {
            const admin = args.keycloakAdmin;
            roleEnv = {
                role: "provider",
                platformDomain: args.platformDomain,
                rabbitmqManagementUrl: args.rabbitmqManagementUrl,
                ...(admin
                    ? {
                          keycloakAdmin: {
                              url: admin.url,
                              clientSecret: createCredentialSecret(
                                  `${name}-keycloak-client`,
                                  objectMeta(ctx, identity, "bridge-keycloak-client"),
                                  { "client-secret": admin.clientSecret },
                                  child,
                              ).ref("client-secret"),
                          },
                      }
                    : {}),
            };
        }
        const pems: Record<string, pulumi.Input<string>> = {
            [caFiles.root]: args.stepCa.rootCertificate,
            ...(args.role === "tenant"
                ? { [caFiles.subCa]: args.tenant.subCaCertificate }
                : { [caFiles.intermediate]: args.intermediateCertificate }),
        };
        const ca = createConfigMap(`${name}-ca`, objectMeta(ctx, identity, "bridge-ca"), pems, child);
        // The runtime reads the certificates at start: new ones roll the pods.
        const checksum = pulumi
            .all(Object.values(pems))
            .apply((parts) => createHash("sha256").update(parts.join("\n")).digest("hex"));
        const volumes: VolumeSpec[] = [
            { name: "tls", secret: ingressTlsSecret(bridgeApp) },
            { name: "ca", configMap: ca.metadata.name },
            { name: "provisioner", secret: args.stepCa.provisionerSecret },
            ...(db.caFile ? [{ name: "postgres-ca", secret: db.secretName }] : []),
        ];
        const mounts: MountSpec[] = [
            { volume: "tls", path: bridgePaths.tls, readOnly: true },
            { volume: "ca", path: bridgePaths.ca, readOnly: true },
            { volume: "provisioner", path: bridgePaths.provisioner, readOnly: true },
            ...(db.caFile
                ? [{ volume: "postgres-ca", path: db.caFile, subPath: "ca.crt", readOnly: true }]
                : []),
        ];
        const network = bridgeNetwork(
            args.role,
            ctx,
            db.egress,
            args.role === "tenant" ? args.tenant.vpnNamespace : undefined,
        );
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                replicas: 2,
                podAnnotations: { [`${labelPrefix}/config-sha256`]: checksum },
                pod: {
                    runAsUser: bridgeUid,
                    volumes,
                    containers: [
                        {
                            name: bridgeApp,
                            image: args.image,
                            ports: [
                                { name: "https", port: bridgePort },
                                { name: "management", port: bridgeManagementPort },
                            ],
                            env: bridgeEnv({
                                database: db,
                                stepCa: args.stepCa,
                                oidc: args.oidc,
                                ...roleEnv,
                            }),
                            resources: { cpu: "100m", memory: "128Mi", cpuLimit: "1", memoryLimit: "512Mi" },
                            // Migrations run before the server listens.
                            startup: { ...management("/healthz"), periodSeconds: 2, failureThreshold: 60 },
                            readiness: management("/readyz"),
                            liveness: { ...management("/healthz"), failureThreshold: 6 },
                            mounts,
                            scratch: ["/tmp"],
                        },
                    ],
                },
                servicePorts: [{ name: "https", port: bridgePort }],
                ingress: network.ingress,
                egress: network.egress,
            },
            child,
        );
        createIngress(
            `${name}-ingress`,
            ctx,
            objectMeta(ctx, identity, bridgeApp, { [sslPassthroughAnnotation]: "true" }),
            [{ host: new URL(args.publicUrl).host, path: "/", service: bridgeApp, port: bridgePort }],
            child,
        );
        this.publicUrl = args.publicUrl;
        this.internalUrl = pulumi.interpolate`https://${workload.host!}:${bridgePort}`;
        this.registerOutputs({
            internalUrl: this.internalUrl,
            publicUrl: this.publicUrl,
            serviceTokens: this.serviceTokens,
        });
    }

    /** One generated token per calling service, all in the Secret `bridge-service-tokens`. */
    private createServiceTokens(
        name: string,
        ctx: StackContext,
        child: pulumi.CustomResourceOptions,
    ): Record<ServiceTokenName, ServiceToken> {
        const values = mapTokens(serviceTokens, (t) =>
            generatedPassword(`${name}-${t.key}`, child, serviceTokenLength),
        );
        const secret = createCredentialSecret(
            `${name}-service-tokens`,
            objectMeta(ctx, identity, "bridge-service-tokens"),
            Object.fromEntries(tokenNames.map((n) => [serviceTokens[n].key, values[n]])),
            child,
        );
        return mapTokens(serviceTokens, (t, n) => ({ value: values[n], ref: secret.ref(t.key) }));
    }
}

const tokenNames = Object.keys(serviceTokens) as ServiceTokenName[];

/** `fn` applied to each service's entry of `record`. */
function mapTokens<T, U>(
    record: Readonly<Record<ServiceTokenName, T>>,
    fn: (value: T, name: ServiceTokenName) => U,
): Record<ServiceTokenName, U> {
    return Object.fromEntries(tokenNames.map((n) => [n, fn(record[n], n)])) as Record<ServiceTokenName, U>;
}
