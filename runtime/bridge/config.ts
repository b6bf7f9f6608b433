/**
 * The bridge's configuration, from environment variables (the program sets them; `npm run dev`
 * sets its own). Files hold certificates and keys (mounted Secrets and ConfigMaps); credentials
 * that are single strings come from Secret-backed variables. README "IoT Bridge API" lists them.
 */
import { join } from "node:path";
import { isDnsLabel } from "../../components/config/validate";
import { sysadminEmail } from "../../components/thingsboard/users";
import { EnvReader } from "../shared/env";
import { parseIpv4Cidr } from "../shared/ipv4";
import { ProvisionerKey } from "../shared/step-ca";

/** Where the bridge listens. */
export interface ListenConfig {
    readonly host: string;
    /** The API (devices, operators, services). */
    readonly port: number;
    /** Health, readiness and metrics; never exposed through the ingress. */
    readonly managementPort: number;
    /** Largest request body accepted, in bytes. */
    readonly bodyLimit: number;
    /** Seconds between readiness going false and the API closing, on shutdown. */
    readonly shutdownDelaySeconds: number;
    /** HTTPS with optional client certificates (needed for mTLS renewal); plain HTTP when absent. */
    readonly tls?: {
        readonly certPem: string;
        readonly keyPem: string;
        /** Where they were read from: re-read when cert-manager renews them in place. */
        readonly certFile: string;
        readonly keyFile: string;
    };
}

export type DatabaseConfig =
    | { readonly kind: "postgres"; readonly poolSize: number }
    | { readonly kind: "pglite"; readonly dataDir?: string };

/** The step-ca the bridge signs with, and its provisioner. */
export interface StepCaConfig {
    readonly url: string;
    /** The platform root (PEM). */
    readonly rootPem: string;
    /** Host of the token audience: one of the CA's DNS names. */
    readonly audienceHost: string;
    readonly provisioner: ProvisionerKey;
}

/** Keycloak realm whose tokens authorize management calls. */
export interface OidcConfig {
    readonly issuer: string;
    readonly jwksUrl?: string;
    readonly audience: string;
}

/** What the tenant bridge hands devices, besides their certificate. */
export interface DeviceServices {
    readonly mqttUrl: string;
    readonly hawkbitUrl: string;
    readonly hawkbitTenant: string;
    readonly influxUrl: string;
    readonly influxOrg: string;
    readonly influxBucket: string;
    /** The write-only token for device metrics. */
    readonly influxToken: string;
}

export interface WireguardConfig {
    readonly cidr: string;
    /** `host:port` devices dial. */
    readonly endpoint: string;
    readonly serverPublicKey: string;
    readonly keepaliveSeconds: number;
}

export interface HawkbitManagement {
    readonly url: string;
    readonly username: string;
    readonly password: string;
    readonly tenant: string;
}

/** Where ThingsBoard's logins land, and the accounts none may become. */
export interface ThingsboardLogins {
    /** Title of the tenant's ThingsBoard tenant. */
    readonly tenantTitle: string;
    /** E-mails of ThingsBoard's own accounts (system and bootstrap administrators), lower-case. */
    readonly localAccounts: readonly string[];
}

/** Credentials of the tenant's own services, presented as bearer tokens. */
export interface ServiceTokens {
    readonly terminalProxy: string;
    readonly peerAgent: string;
    readonly thingsboard: string;
}

export interface TenantBridgeConfig {
    readonly tenantId: string;
    /** The tenant Sub-CA (PEM): every device certificate must come from it. */
    readonly subCaPem: string;
    readonly allowRsa: boolean;
    readonly wireguard: WireguardConfig;
    readonly services: DeviceServices;
    /** hawkBit's management API; OTA targets are made there. */
    readonly hawkbit: HawkbitManagement;
    readonly serviceTokens: ServiceTokens;
    /** ThingsBoard's logins (runtime/bridge/thingsboard-login.ts). */
    readonly thingsboard: ThingsboardLogins;
    /** The key devices' ttyd credentials derive from (runtime/bridge/terminal-credential.ts). */
    readonly terminalCredentialKey: string;
}

/** The platform realm's admin API, as the bridge's service account uses it. */
export interface KeycloakAdminConfig {
    /** Keycloak's base URL with its relative path (in-cluster), for example `http://keycloak:8080/auth`. */
    readonly url: string;
    readonly realm: string;
    readonly clientId: string;
    readonly clientSecret: string;
}

export interface ProviderBridgeConfig {
    /** The default domain of tenants' public names (a tenant may be registered with its own). */
    readonly platformDomain: string;
    /** The provider intermediate (PEM): the issuer every Sub-CA must have. */
    readonly intermediatePem: string;
    /** Where tenants' federation clients are made; federation is off when absent. */
    readonly keycloak?: KeycloakAdminConfig;
    /** The metrics RabbitMQ's management API, where tenants' publishers are made; off when absent. */
    readonly rabbitmq?: { readonly url: string; readonly username: string; readonly password: string };
}

export interface BridgeConfig {
    readonly role: "tenant" | "provider";
    readonly listen: ListenConfig;
    readonly database: DatabaseConfig;
    readonly stepCa: StepCaConfig;
    readonly oidc: OidcConfig;
    readonly tenant?: TenantBridgeConfig;
    readonly provider?: ProviderBridgeConfig;
}

/** Reads and checks the whole configuration; throws an EnvError naming every bad variable. */
export function readBridgeConfig(env: Readonly<Record<string, string | undefined>>): BridgeConfig {
    const r = new EnvReader(env);
    const role = r.oneOf("BRIDGE_ROLE", ["tenant", "provider"] as const);
    const certPem = r.file("BRIDGE_TLS_CERT_FILE", "the server certificate chain (PEM)", false);
    const keyPem = r.file("BRIDGE_TLS_KEY_FILE", "the server key (PEM)", false);
    if ((certPem === undefined) !== (keyPem === undefined)) {
        r.problem("BRIDGE_TLS_KEY_FILE", "and BRIDGE_TLS_CERT_FILE must be set together");
    }
    const listen: ListenConfig = {
        host: r.optional("BRIDGE_HOST") ?? "0.0.0.0",
        port: r.integer("BRIDGE_PORT", 8443, 1, 65535),
        managementPort: r.integer("BRIDGE_MANAGEMENT_PORT", 9464, 1, 65535),
        bodyLimit: r.integer("BRIDGE_BODY_LIMIT_BYTES", 64 * 1024, 1024, 4 * 1024 * 1024),
        shutdownDelaySeconds: r.integer("BRIDGE_SHUTDOWN_DELAY_SECONDS", 5, 0, 25),
        ...(certPem && keyPem
            ? {
                  tls: {
                      certPem,
                      keyPem,
                      certFile: r.optional("BRIDGE_TLS_CERT_FILE")!,
                      keyFile: r.optional("BRIDGE_TLS_KEY_FILE")!,
                  },
              }
            : {}),
    };
    const databaseKind = r.oneOf("BRIDGE_DATABASE", ["postgres", "pglite"] as const, "postgres");
    if (databaseKind === "postgres") r.required("PGHOST", "the PostgreSQL host (with PGUSER, PGPASSWORD)");
    const database: DatabaseConfig =
        databaseKind === "postgres"
            ? { kind: "postgres", poolSize: r.integer("BRIDGE_DATABASE_POOL", 20, 2, 200) }
            : { kind: "pglite", dataDir: r.optional("BRIDGE_PGLITE_DIR") };
    const stepCaUrl = r.url("STEP_CA_URL", ["https"], "the step-ca URL")!;
    const provisionerDir = r.required("STEP_CA_PROVISIONER_DIR", "the mounted provisioner Secret");
    const stepCa: StepCaConfig = {
        url: stepCaUrl,
        rootPem: r.file("STEP_CA_ROOT_FILE", "the platform root certificate (PEM)") ?? "",
        audienceHost: r.optional("STEP_CA_AUDIENCE_HOST") ?? hostOf(stepCaUrl),
        provisioner: readProvisioner(r, provisionerDir),
    };
    const oidc: OidcConfig = {
        issuer: r.url("OIDC_ISSUER", ["https", "http"], "the realm issuer URL")!,
        jwksUrl: r.url("OIDC_JWKS_URL", ["https", "http"], "", false),
        audience: r.optional("OIDC_AUDIENCE") ?? "bridge",
    };
    const config: BridgeConfig = {
        role,
        listen,
        database,
        stepCa,
        oidc,
        ...(role === "tenant" ? { tenant: readTenant(r) } : { provider: readProvider(r) }),
    };
    r.done();
    return config;
}

function readTenant(r: EnvReader): TenantBridgeConfig {
    const tenantId = r.required("BRIDGE_TENANT_ID", "the tenant this bridge serves");
    r.check("BRIDGE_TENANT_ID", tenantId, (v) => (isDnsLabel(v) ? undefined : "must be a DNS label"));
    const cidr = r.optional("WIREGUARD_CIDR") ?? "10.8.0.0/16";
    r.check("WIREGUARD_CIDR", cidr, (v) => {
        const parsed = parseIpv4Cidr(v, 16, 30);
        return typeof parsed === "string" ? parsed : undefined;
    });
    const endpoint = r.required("WIREGUARD_ENDPOINT", "host:port devices dial");
    r.check("WIREGUARD_ENDPOINT", endpoint, (v) =>
        /^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(v) ? undefined : "must be host:port",
    );
    const serverPublicKey = r.required("WIREGUARD_SERVER_PUBLIC_KEY", "the server's public key");
    r.check("WIREGUARD_SERVER_PUBLIC_KEY", serverPublicKey, (v) =>
        isWireguardKey(v) ? undefined : "must be a base64 Curve25519 key (44 characters)",
    );
    return {
        tenantId,
        subCaPem: r.file("SUB_CA_CERT_FILE", "the tenant Sub-CA certificate (PEM)") ?? "",
        allowRsa: r.boolean("BRIDGE_ALLOW_RSA", false),
        wireguard: {
            cidr,
            endpoint,
            serverPublicKey,
            keepaliveSeconds: r.integer("WIREGUARD_KEEPALIVE_SECONDS", 25, 0, 3600),
        },
        services: {
            mqttUrl: r.url("DEVICE_MQTT_URL", ["mqtts"], "ThingsBoard's MQTTS URL")!,
            hawkbitUrl: r.url("DEVICE_HAWKBIT_URL", ["https"], "hawkBit's DDI URL")!,
            hawkbitTenant: r.optional("HAWKBIT_TENANT") ?? "DEFAULT",
            influxUrl: r.url("DEVICE_INFLUX_URL", ["https"], "InfluxDB's URL")!,
            influxOrg: r.required("INFLUX_ORG", "the tenant's InfluxDB organisation"),
            influxBucket: r.required("INFLUX_BUCKET", "the device metrics bucket"),
            influxToken: r.required("INFLUX_DEVICE_TOKEN", "the write-only device token"),
        },
        hawkbit: {
            url: r.url("HAWKBIT_MGMT_URL", ["http", "https"], "hawkBit's management API")!,
            username: r.required("HAWKBIT_USERNAME", "the bridge's hawkBit user"),
            password: r.required("HAWKBIT_PASSWORD", "the bridge's hawkBit password"),
            tenant: r.optional("HAWKBIT_TENANT") ?? "DEFAULT",
        },
        serviceTokens: {
            terminalProxy: serviceToken(r, "TERMINAL_PROXY_TOKEN"),
            peerAgent: serviceToken(r, "PEER_AGENT_TOKEN"),
            thingsboard: serviceToken(r, "THINGSBOARD_WEBHOOK_TOKEN"),
        },
        thingsboard: {
            tenantTitle: r.required("THINGSBOARD_TENANT_TITLE", "the ThingsBoard tenant's title"),
            // The system administrator's is always among them, whatever the variable says.
            localAccounts: [
                ...new Set([
                    sysadminEmail,
                    ...r
                        .required(
                            "THINGSBOARD_LOCAL_ACCOUNTS",
                            "e-mails of ThingsBoard's own accounts, comma-separated",
                        )
                        .split(",")
                        .map((e) => e.trim().toLowerCase())
                        .filter((e) => e !== ""),
                ]),
            ],
        },
        terminalCredentialKey: serviceToken(r, "TERMINAL_CREDENTIAL_KEY"),
    };
}

function readProvider(r: EnvReader): ProviderBridgeConfig {
    const platformDomain = r.required("PLATFORM_DOMAIN", "the platform's DNS domain");
    const intermediatePem =
        r.file("INTERMEDIATE_CERT_FILE", "the provider intermediate certificate (PEM)") ?? "";
    const clientSecret = r.optional("KEYCLOAK_CLIENT_SECRET");
    const keycloak: KeycloakAdminConfig | undefined = clientSecret
        ? {
              url: r.url("KEYCLOAK_ADMIN_URL", ["http", "https"], "Keycloak's base URL for the admin API")!,
              realm: r.optional("KEYCLOAK_REALM") ?? "platform",
              clientId: r.optional("KEYCLOAK_CLIENT_ID") ?? "bridge",
              clientSecret,
          }
        : undefined;
    const rabbitmqUrl = r.url("RABBITMQ_MGMT_URL", ["http", "https"], "", false);
    const rabbitmq = rabbitmqUrl
        ? {
              url: rabbitmqUrl,
              username: r.required("RABBITMQ_USERNAME", "the bridge's RabbitMQ user"),
              password: r.required("RABBITMQ_PASSWORD", "the bridge's RabbitMQ password"),
          }
        : undefined;
    return {
        platformDomain,
        intermediatePem,
        ...(keycloak ? { keycloak } : {}),
        ...(rabbitmq ? { rabbitmq } : {}),
    };
}

/** A service credential: long enough that guessing is hopeless. */
function serviceToken(r: EnvReader, name: string): string {
    const token = r.required(name, "a generated credential");
    r.check(name, token, (v) => (v.length >= 32 ? undefined : "must be at least 32 characters"));
    return token;
}

/** The provisioner Secret's files: `name`, `kid`, `private-key.pem` (components/step-ca). */
function readProvisioner(r: EnvReader, dir: string): ProvisionerKey {
    if (!dir) return { name: "", kid: "", privateKeyPem: "", alg: "ES256" };
    const read = (file: string) => r.fileAt("STEP_CA_PROVISIONER_DIR", join(dir, file));
    return {
        name: read("name").trim(),
        kid: read("kid").trim(),
        privateKeyPem: read("private-key.pem"),
        alg: "ES256",
    };
}

/** True for a WireGuard key: 32 bytes in base64. */
export function isWireguardKey(text: string): boolean {
    return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text);
}

function hostOf(url: string | undefined): string {
    try {
        return new URL(url ?? "").hostname;
    } catch {
        return "";
    }
}
