/**
 * What the IoT Bridge API's pods are given, as pure functions of the stack's settings: the
 * environment `readBridgeConfig` (runtime/bridge/config.ts) reads, the files it names, and the
 * traffic the bridge needs. The Bridge component turns these into objects; tests call them.
 */
import * as pulumi from "@pulumi/pulumi";
import { TenantEndpoints } from "../endpoints";
import { StackContext } from "../k8s/context";
import { Allow, Peer } from "../k8s/network-policy";
import { EnvValue, SecretKeyRef } from "../k8s/pod";
import { PostgresConnection } from "../postgres/postgres";
import { keycloakApp, keycloakHttpPort } from "../keycloak/keycloak";
import { oidcEndpoints } from "../keycloak/model";
import { stepCaApp, stepCaPort } from "../step-ca/step-ca";

export const bridgeApp = "bridge";
/** The API: HTTPS, client certificates optional (devices renew over mTLS). */
export const bridgePort = 8443;
/** Health (`/healthz`), readiness (`/readyz`) and metrics (`/metrics`), plain HTTP, never published. */
export const bridgeManagementPort = 9464;
/** uid and gid of the image's user (`USER 10001:10001` in the Dockerfile). */
export const bridgeUid = 10001;

/** Where the bridge's volumes are mounted; the environment names the files in them. */
export const bridgePaths = {
    /** The server certificate's Secret (`tls.crt`, `tls.key`). */
    tls: "/etc/bridge/tls",
    /** The CA ConfigMap (`root_ca.crt`; `intermediate_ca.crt` on the provider, `sub_ca.crt` on tenants). */
    ca: "/etc/bridge/ca",
    /** The step-ca provisioner Secret (`name`, `kid`, `private-key.pem`). */
    provisioner: "/etc/bridge/provisioner",
} as const;

/** Keys of the CA ConfigMap. */
export const caFiles = {
    root: "root_ca.crt",
    intermediate: "intermediate_ca.crt",
    subCa: "sub_ca.crt",
} as const;

/** The tenant services that call the bridge with a generated bearer token. */
export type ServiceTokenName = "terminalProxy" | "peerAgent" | "thingsboard";

/**
 * A service token: the variable that holds it, its Secret key, the app whose pods call, and
 * whether those run in the tenant's VPN namespace rather than beside the bridge.
 */
export interface ServiceTokenSpec {
    readonly env: string;
    readonly key: string;
    readonly app: string;
    readonly inVpnNamespace: boolean;
}

/**
 * Each token is a key of the bridge's `bridge-service-tokens` Secret. The terminal proxy and the
 * peer agent run in the WireGuard server's pod (app `wireguard`), in the VPN namespace.
 */
export const serviceTokens: Readonly<Record<ServiceTokenName, ServiceTokenSpec>> = {
    terminalProxy: {
        env: "TERMINAL_PROXY_TOKEN",
        key: "terminal-proxy-token",
        app: "wireguard",
        inVpnNamespace: true,
    },
    peerAgent: { env: "PEER_AGENT_TOKEN", key: "peer-agent-token", app: "wireguard", inVpnNamespace: true },
    thingsboard: {
        env: "THINGSBOARD_WEBHOOK_TOKEN",
        key: "thingsboard-webhook-token",
        app: "thingsboard",
        inVpnNamespace: false,
    },
};
/** Characters in a generated service token; `readBridgeConfig` refuses fewer than 32. */
export const serviceTokenLength = 32;

/*
 * The bridge reads hawkBit's and InfluxDB's credentials from these Secrets, which those
 * components create under exactly these names and keys. Until one exists (InfluxDB is not
 * deployed yet: its own issue), the tenant bridge's pods wait in CreateContainerConfigError:
 * nothing here invents a value for them.
 */
/** hawkBit's management API user of the bridge (OTA targets are made there). */
export const hawkbitCredentialsSecret = {
    name: "hawkbit-bridge-credentials",
    username: "username",
    password: "password",
} as const;
/** The write-only InfluxDB token handed to devices for their metrics. */
export const influxDeviceTokenSecret = { name: "influxdb-device-token", token: "token" } as const;
/** hawkBit's in-cluster Service and port (management API). */
export const hawkbitService = { app: "hawkbit", port: 8080 } as const;
/** The provider bridge's user of the provider RabbitMQ's management API (tenants' publishers). */
export const rabbitmqCredentialsSecret = {
    name: "rabbitmq-bridge-credentials",
    username: "username",
    password: "password",
} as const;
/** The provider RabbitMQ's in-cluster Service and management API port. */
export const rabbitmqManagementService = { app: "rabbitmq", port: 15672 } as const;
/** The tenant InfluxDB's bucket for device metrics; the organisation is the tenant id. */
export const deviceMetricsBucket = "devices";

/** The JWKS of `realm` on Keycloak's in-cluster base URL (`http://keycloak.<ns>…:8080/auth`). */
export function inClusterJwksUrl(internalUrl: pulumi.Input<string>, realm: string): pulumi.Output<string> {
    return pulumi.output(internalUrl).apply((base) => oidcEndpoints(`${base}/realms/${realm}`).jwksUrl);
}

/** What both roles' environments are made of. */
export interface CommonEnvInputs {
    readonly database: Pick<PostgresConnection, "ref" | "caFile">;
    readonly stepCa: { readonly url: pulumi.Input<string>; readonly dnsName: pulumi.Input<string> };
    readonly oidc: { readonly issuer: pulumi.Input<string>; readonly jwksUrl: pulumi.Input<string> };
}

/** The tenant bridge's own settings. */
export interface TenantEnvInputs {
    readonly tenantId: string;
    /** The VPN's address space as CIDR text. */
    readonly wireguardCidr: string;
    /** Where devices reach MQTT, hawkBit DDI, InfluxDB and the VPN. */
    readonly endpoints: Pick<TenantEndpoints, "mqtt" | "ota" | "metrics" | "vpn">;
    /** hawkBit's in-cluster management URL. */
    readonly hawkbitUrl: pulumi.Input<string>;
    /** The WireGuard server's public key, handed to devices (public: a plain value). */
    readonly wireguardPublicKey: pulumi.Input<string>;
    /** The generated service tokens, in the bridge's Secret. */
    readonly tokens: Readonly<Record<ServiceTokenName, SecretKeyRef>>;
    /** The key devices' ttyd credentials derive from, in a Secret of the bridge's own. */
    readonly terminalCredentialKey: SecretKeyRef;
    /** ThingsBoard's logins: the tenant's title (its display name) and its local accounts. */
    readonly thingsboard: { readonly tenantTitle: string; readonly localAccounts: readonly string[] };
}

export type RoleEnvInputs =
    | {
          readonly role: "provider";
          readonly platformDomain: string;
          /** The platform realm's admin API (federation clients); the secret in a Secret. */
          readonly keycloakAdmin?: {
              readonly url: pulumi.Input<string>;
              readonly clientSecret: SecretKeyRef;
          };
          /** The metrics RabbitMQ's in-cluster management URL; its user in `rabbitmqCredentialsSecret`. */
          readonly rabbitmqManagementUrl: pulumi.Input<string>;
      }
    | { readonly role: "tenant"; readonly tenant: TenantEnvInputs };

const secret = (name: string, key: string): SecretKeyRef => ({ secret: name, key });

/** The bridge container's environment: every variable `readBridgeConfig` reads for the role. */
export function bridgeEnv(inputs: CommonEnvInputs & RoleEnvInputs): Record<string, EnvValue> {
    const db = inputs.database;
    const common: Record<string, EnvValue> = {
        BRIDGE_ROLE: inputs.role,
        BRIDGE_PORT: String(bridgePort),
        BRIDGE_MANAGEMENT_PORT: String(bridgeManagementPort),
        BRIDGE_TLS_CERT_FILE: `${bridgePaths.tls}/tls.crt`,
        BRIDGE_TLS_KEY_FILE: `${bridgePaths.tls}/tls.key`,
        BRIDGE_DATABASE: "postgres",
        PGHOST: db.ref("host"),
        PGPORT: db.ref("port"),
        PGDATABASE: db.ref("database"),
        PGUSER: db.ref("username"),
        PGPASSWORD: db.ref("password"),
        PGSSLMODE: db.ref("sslmode"),
        ...(db.caFile ? { PGSSLROOTCERT: db.caFile } : {}),
        STEP_CA_URL: inputs.stepCa.url,
        STEP_CA_AUDIENCE_HOST: inputs.stepCa.dnsName,
        STEP_CA_ROOT_FILE: `${bridgePaths.ca}/${caFiles.root}`,
        STEP_CA_PROVISIONER_DIR: bridgePaths.provisioner,
        OIDC_ISSUER: inputs.oidc.issuer,
        OIDC_JWKS_URL: inputs.oidc.jwksUrl,
    };
    if (inputs.role === "provider") {
        return {
            ...common,
            PLATFORM_DOMAIN: inputs.platformDomain,
            INTERMEDIATE_CERT_FILE: `${bridgePaths.ca}/${caFiles.intermediate}`,
            ...(inputs.keycloakAdmin
                ? {
                      KEYCLOAK_ADMIN_URL: inputs.keycloakAdmin.url,
                      KEYCLOAK_REALM: "platform",
                      KEYCLOAK_CLIENT_ID: "bridge",
                      KEYCLOAK_CLIENT_SECRET: inputs.keycloakAdmin.clientSecret,
                  }
                : {}),
            RABBITMQ_MGMT_URL: inputs.rabbitmqManagementUrl,
            RABBITMQ_USERNAME: secret(rabbitmqCredentialsSecret.name, rabbitmqCredentialsSecret.username),
            RABBITMQ_PASSWORD: secret(rabbitmqCredentialsSecret.name, rabbitmqCredentialsSecret.password),
        };
    }
    const t = inputs.tenant;
    return {
        ...common,
        BRIDGE_TENANT_ID: t.tenantId,
        SUB_CA_CERT_FILE: `${bridgePaths.ca}/${caFiles.subCa}`,
        WIREGUARD_CIDR: t.wireguardCidr,
        WIREGUARD_ENDPOINT: t.endpoints.vpn,
        WIREGUARD_SERVER_PUBLIC_KEY: t.wireguardPublicKey,
        DEVICE_MQTT_URL: t.endpoints.mqtt,
        DEVICE_HAWKBIT_URL: t.endpoints.ota,
        DEVICE_INFLUX_URL: t.endpoints.metrics,
        INFLUX_ORG: t.tenantId,
        INFLUX_BUCKET: deviceMetricsBucket,
        INFLUX_DEVICE_TOKEN: secret(influxDeviceTokenSecret.name, influxDeviceTokenSecret.token),
        HAWKBIT_MGMT_URL: t.hawkbitUrl,
        HAWKBIT_USERNAME: secret(hawkbitCredentialsSecret.name, hawkbitCredentialsSecret.username),
        HAWKBIT_PASSWORD: secret(hawkbitCredentialsSecret.name, hawkbitCredentialsSecret.password),
        ...Object.fromEntries(
            (Object.keys(serviceTokens) as ServiceTokenName[]).map((n) => [
                serviceTokens[n].env,
                t.tokens[n],
            ]),
        ),
        TERMINAL_CREDENTIAL_KEY: t.terminalCredentialKey,
        THINGSBOARD_TENANT_TITLE: t.thingsboard.tenantTitle,
        THINGSBOARD_LOCAL_ACCOUNTS: t.thingsboard.localAccounts.join(","),
    };
}

/**
 * Who may reach the bridge and whom it reaches. In: the ingress controller (devices, operators,
 * tenant stacks' onboarding calls) and, on tenants, the services holding a token (some in the
 * VPN namespace `vpnNamespace`); all on the API port only. Out: its database, step-ca, Keycloak's
 * JWKS and, on tenants, hawkBit's management API; on the provider, RabbitMQ's management API.
 */
export function bridgeNetwork(
    role: "tenant" | "provider",
    ctx: Pick<StackContext, "ingress">,
    database: Allow,
    vpnNamespace?: string,
): { ingress: Allow[]; egress: Allow[] } {
    const api = [{ port: bridgePort }];
    const callers: Peer[] = [];
    for (const s of role === "tenant" ? Object.values(serviceTokens) : []) {
        const peer: Peer =
            s.inVpnNamespace && vpnNamespace
                ? { namespace: vpnNamespace, podLabels: { "app.kubernetes.io/name": s.app } }
                : { app: s.app };
        if (!callers.some((c) => JSON.stringify(c) === JSON.stringify(peer))) callers.push(peer);
    }
    return {
        ingress: [{ peers: [{ namespace: ctx.ingress.controllerNamespace }, ...callers], ports: api }],
        egress: [
            database,
            { peers: [{ app: stepCaApp }], ports: [{ port: stepCaPort }] },
            { peers: [{ app: keycloakApp }], ports: [{ port: keycloakHttpPort }] },
            role === "tenant"
                ? { peers: [{ app: hawkbitService.app }], ports: [{ port: hawkbitService.port }] }
                : {
                      peers: [{ app: rabbitmqManagementService.app }],
                      ports: [{ port: rabbitmqManagementService.port }],
                  },
        ],
    };
}
