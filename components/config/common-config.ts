import * as pulumi from "@pulumi/pulumi";
import { RawConfig } from "./raw-config";
import {
    isCertificatePem,
    isDnsLabel,
    isDnsName,
    isPinnedImageReference,
    isQuantity,
    parseIpv4,
    parseIpv4Cidr,
    Problems,
} from "./validate";

/** The two kinds of stack this program builds. */
export type StackRole = "provider" | "tenant";

/** PostgreSQL run by the stack itself. */
export interface InClusterPostgres {
    readonly mode: "in-cluster";
    /** Size of the data volume. */
    readonly storageSize: string;
}

/** A managed PostgreSQL server outside the cluster. */
export interface ExternalPostgres {
    readonly mode: "external";
    readonly host: string;
    readonly port: number;
    readonly sslMode: "require" | "verify-ca" | "verify-full";
    /** PEM of the CA of the server's certificate (verify-ca and verify-full). */
    readonly caCertificate?: string;
    /** The server's address range, the only one clients may reach on `port`. */
    readonly cidr: string;
    /** Consumer name to password; a Pulumi secret. */
    readonly passwords: pulumi.Output<Record<string, string>>;
    /** The consumers that have a password, known at plan time so missing ones fail early. */
    readonly consumers: readonly string[];
}

export type PostgresConfig = InClusterPostgres | ExternalPostgres;

/** Settings every stack has, whatever its role. */
export interface CommonConfig {
    readonly role: StackRole;
    readonly domain: string;
    readonly namespace: string;
    /** Kubeconfig for an explicit provider; undefined uses the ambient kubeconfig. */
    readonly kubeconfig?: pulumi.Output<string>;
    readonly skipAwait: boolean;
    /** Protect the namespace (and the volumes in it) from deletion and replacement. */
    readonly protectData: boolean;
    /** Registry host that replaces every image's registry; undefined pulls upstream. */
    readonly imageRegistryMirror?: string;
    readonly storageClassName?: string;
    readonly ingress: {
        readonly className: string;
        readonly controllerNamespace: string;
        readonly tlsIssuer?: string;
    };
    readonly postgres: PostgresConfig;
    /** The stack's InfluxDB (device metrics on tenants, forwarded telemetry on the provider). */
    readonly metrics: {
        /** How long the bucket keeps points (InfluxDB duration such as `30d`). */
        readonly retention: string;
        /** Size of InfluxDB's data volume. */
        readonly storageSize: string;
    };
    readonly keycloak: {
        /** Manage realms with the Keycloak provider. */
        readonly realms: boolean;
        /** Admin API URL for Pulumi; the public endpoint when undefined. */
        readonly adminUrl?: string;
    };
    /**
     * The images built from this repository (the IoT Bridge API; on tenants also the VPN image):
     * an explicit reference each, or built and pushed, or the references pinned in
     * components/images.ts.
     */
    readonly runtimeImages: {
        /** An explicit, pinned reference of the bridge image. */
        readonly bridge?: string;
        /** An explicit, pinned reference of the VPN image (tenant stacks). */
        readonly vpn?: string;
        /** Build the repository's Dockerfile targets and push them to the mirror. */
        readonly build: boolean;
    };
}

const roles: readonly StackRole[] = ["provider", "tenant"];
const sslModes = ["require", "verify-ca", "verify-full"] as const;

/** Reads `cdm:role`, recording a problem when it is missing or unknown. */
export function parseRole(raw: RawConfig, problems: Problems): StackRole | undefined {
    const role = raw.get("role");
    if (role === undefined || role === "") {
        problems.add("cdm:role", "is required: set it to `provider` or `tenant`");
        return undefined;
    }
    if (!(roles as readonly string[]).includes(role)) {
        problems.add("cdm:role", `"${role}" is not one of provider, tenant`);
        return undefined;
    }
    return role as StackRole;
}

/** A non-empty string value, or undefined. */
export function optional(raw: RawConfig, key: string): string | undefined {
    const value = raw.get(key);
    return value === undefined || value === "" ? undefined : value;
}

/**
 * A key that must have a value. Keys with a default in Pulumi.yaml always do (the CLI, and the
 * mock loader in tools/, apply those defaults), so the defaults live in Pulumi.yaml alone.
 */
export function required(raw: RawConfig, key: string, problems: Problems, what = "is required"): string {
    const value = optional(raw, key);
    if (value === undefined) {
        problems.add(`cdm:${key}`, what);
        return "";
    }
    return value;
}

/** Reads a boolean key written as `true` or `false`. */
export function parseBoolean(raw: RawConfig, key: string, problems: Problems): boolean {
    const value = required(raw, key, problems);
    if (value !== "true" && value !== "false") {
        if (value !== "") {
            problems.add(`cdm:${key}`, `"${value}" is not a boolean (true or false)`);
        }
        return false;
    }
    return value === "true";
}

/** Reads an integer key within [min, max]. */
export function parseInteger(
    raw: RawConfig,
    key: string,
    problems: Problems,
    min: number,
    max: number,
): number {
    const value = required(raw, key, problems);
    const n = Number(value);
    if (!/^-?[0-9]+$/.test(value) || n < min || n > max) {
        if (value !== "") {
            problems.add(`cdm:${key}`, `"${value}" is not an integer in ${min}..${max}`);
        }
        return min;
    }
    return n;
}

/** Reads an optional http(s) URL key. */
export function parseUrl(raw: RawConfig, key: string, problems: Problems): string | undefined {
    const value = optional(raw, key);
    if (value === undefined) return undefined;
    try {
        if (["http:", "https:"].includes(new URL(value).protocol)) return value.replace(/\/$/, "");
    } catch {
        // reported below
    }
    problems.add(`cdm:${key}`, `"${value}" is not an http(s) URL`);
    return undefined;
}

/** Reads a Kubernetes quantity key. */
/**
 * An InfluxDB bucket retention: whole hours (at least 1h, InfluxDB's shortest) or days or weeks,
 * such as `72h`, `30d`, `8w`; `0` keeps points forever.
 */
export function parseRetention(raw: RawConfig, key: string, problems: Problems): string {
    const value = required(raw, key, problems);
    if (value !== "" && value !== "0" && !/^[1-9][0-9]{0,5}[hdw]$/.test(value)) {
        problems.add(`cdm:${key}`, `"${value}" is not a retention such as 72h, 30d or 8w (0 keeps forever)`);
    }
    return value;
}

export function parseQuantity(raw: RawConfig, key: string, problems: Problems): string {
    const value = required(raw, key, problems);
    if (value !== "" && !isQuantity(value)) {
        problems.add(`cdm:${key}`, `"${value}" is not a Kubernetes quantity such as 500m, 4 or 10Gi`);
    }
    return value;
}

/**
 * Reads a key that holds a credential. A value set without `--secret` would sit in plain text
 * in the stack file, so it is refused; the value itself never appears in a message.
 */
export function parseSecret(
    raw: RawConfig,
    key: string,
    problems: Problems,
): pulumi.Output<string> | undefined {
    const value = optional(raw, key);
    if (value === undefined) {
        return undefined;
    }
    if (!raw.isSecret(key)) {
        problems.add(`cdm:${key}`, "holds a credential and must be set with `pulumi config set --secret`");
        return undefined;
    }
    return pulumi.secret(value);
}

function parsePostgres(raw: RawConfig, problems: Problems): PostgresConfig {
    const mode = required(raw, "postgresMode", problems);
    if (mode !== "external") {
        if (mode !== "in-cluster" && mode !== "") {
            problems.add("cdm:postgresMode", `"${mode}" is not one of in-cluster, external`);
        }
        return { mode: "in-cluster", storageSize: parseQuantity(raw, "postgresStorageSize", problems) };
    }
    const host = required(
        raw,
        "postgresExternalHost",
        problems,
        "is required when cdm:postgresMode is external",
    );
    if (host !== "" && !isDnsName(host) && parseIpv4(host) === undefined) {
        problems.add("cdm:postgresExternalHost", `"${host}" is not a DNS name or IPv4 address`);
    }
    const sslMode = required(raw, "postgresExternalSslMode", problems);
    if (sslMode !== "" && !(sslModes as readonly string[]).includes(sslMode)) {
        problems.add("cdm:postgresExternalSslMode", `"${sslMode}" is not one of ${sslModes.join(", ")}`);
    }
    const caCertificate = optional(raw, "postgresExternalCaCertificate");
    if (caCertificate === undefined && sslMode.startsWith("verify-")) {
        problems.add(
            "cdm:postgresExternalCaCertificate",
            `is required with cdm:postgresExternalSslMode ${sslMode}`,
        );
    } else if (caCertificate !== undefined && !isCertificatePem(caCertificate)) {
        problems.add("cdm:postgresExternalCaCertificate", "is not a PEM certificate");
    }
    const cidr = required(
        raw,
        "postgresExternalCidr",
        problems,
        "is required when cdm:postgresMode is external",
    );
    const parsedCidr = cidr === "" ? undefined : parseIpv4Cidr(cidr);
    if (typeof parsedCidr === "string") {
        problems.add("cdm:postgresExternalCidr", parsedCidr);
    }
    const secret = parseSecret(raw, "postgresExternalPasswords", problems);
    const passwords = parsePasswordMap(
        raw.get("postgresExternalPasswords") ?? "",
        secret !== undefined,
        problems,
    );
    return {
        mode,
        host,
        port: parseInteger(raw, "postgresExternalPort", problems, 1, 65535),
        sslMode: sslMode as ExternalPostgres["sslMode"],
        caCertificate,
        cidr,
        passwords: pulumi.secret(passwords),
        consumers: Object.keys(passwords).sort(),
    };
}

function parsePasswordMap(text: string, isSet: boolean, problems: Problems): Record<string, string> {
    const key = "cdm:postgresExternalPasswords";
    if (!isSet) {
        if (text === "") {
            problems.add(key, "is required when cdm:postgresMode is external");
        }
        return {};
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        problems.add(key, "is not valid JSON (expected an object of consumer name to password)");
        return {};
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        problems.add(key, "must be a JSON object of consumer name to password");
        return {};
    }
    const entries = Object.entries(parsed as Record<string, unknown>);
    const bad = entries.filter(([name, pw]) => !isDnsLabel(name, 63) || typeof pw !== "string" || pw === "");
    if (bad.length > 0) {
        problems.add(
            key,
            `entries ${bad.map(([n]) => JSON.stringify(n)).join(", ")} need a DNS-label name and a non-empty string password`,
        );
    }
    return Object.fromEntries(entries.filter(([n]) => !bad.some(([b]) => b === n))) as Record<string, string>;
}

/** An optional image reference `cdm:<key>`, which must be pinned; `example` shows the form. */
function parsePinnedImage(
    raw: RawConfig,
    key: string,
    example: string,
    problems: Problems,
): string | undefined {
    const reference = optional(raw, key);
    if (reference !== undefined && !isPinnedImageReference(reference)) {
        problems.add(
            `cdm:${key}`,
            `"${reference}" is not a pinned image reference such as ${example} ` +
                "(registry host, repository, and a tag other than latest or an @sha256 digest)",
        );
    }
    return reference;
}

/** `cdm:runtimeImageBuild`: refused with an explicit reference, and without a mirror to push to. */
function parseRuntimeImageBuild(
    raw: RawConfig,
    references: Readonly<Record<string, string | undefined>>,
    mirror: string | undefined,
    problems: Problems,
): boolean {
    const build = parseBoolean(raw, "runtimeImageBuild", problems);
    for (const [key, reference] of Object.entries(references)) {
        if (build && reference !== undefined) {
            problems.add("cdm:runtimeImageBuild", `cannot be combined with cdm:${key}; set one of them`);
        }
    }
    if (build && mirror === undefined) {
        problems.add(
            "cdm:runtimeImageBuild",
            "needs cdm:imageRegistryMirror, the registry the build is pushed to",
        );
    }
    return build;
}

function parseRuntimeImages(raw: RawConfig, role: StackRole, mirror: string | undefined, problems: Problems) {
    const bridge = parsePinnedImage(raw, "bridgeImage", "ghcr.io/cdm-platform/bridge:0.1.0", problems);
    // The provider has no VPN; tenantOnlyKeys refuses the key there.
    const vpn =
        role === "tenant"
            ? parsePinnedImage(raw, "vpnImage", "ghcr.io/cdm-platform/vpn:0.1.0", problems)
            : undefined;
    const build = parseRuntimeImageBuild(raw, { bridgeImage: bridge, vpnImage: vpn }, mirror, problems);
    return { bridge, vpn, build };
}

/** Parses the keys shared by both roles; `defaultNamespace` applies when cdm:namespace is empty. */
export function parseCommon(
    raw: RawConfig,
    role: StackRole,
    defaultNamespace: string,
    problems: Problems,
): CommonConfig {
    const domain = optional(raw, "domain");
    if (domain === undefined) {
        problems.add("cdm:domain", "is required: the DNS domain the stack's endpoints live under");
    } else if (!isDnsName(domain)) {
        problems.add("cdm:domain", `"${domain}" is not a lower-case DNS name such as cdm.example.com`);
    }
    const namespace = optional(raw, "namespace") ?? defaultNamespace;
    if (!isDnsLabel(namespace)) {
        problems.add(
            "cdm:namespace",
            `"${namespace}" is not a DNS label (a-z, 0-9, '-', at most 63 characters)`,
        );
    } else if (namespace !== defaultNamespace && /^(cdm-|kube-|default$)/.test(namespace)) {
        // cdm-* names belong to the platform's own stacks: a stack must not claim another's.
        problems.add(
            "cdm:namespace",
            `"${namespace}" is reserved; use ${defaultNamespace} or a name outside cdm-*, kube-*, default`,
        );
    }
    const controllerNamespace = required(raw, "ingressNamespace", problems);
    if (controllerNamespace !== "" && !isDnsLabel(controllerNamespace)) {
        problems.add("cdm:ingressNamespace", `"${controllerNamespace}" is not a DNS label`);
    }
    const mirror = optional(raw, "imageRegistryMirror");
    if (mirror !== undefined && !/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._/-]+)?$/.test(mirror)) {
        problems.add(
            "cdm:imageRegistryMirror",
            `"${mirror}" is not a registry host such as registry.example.com:5000`,
        );
    }
    return {
        role,
        domain: domain ?? "",
        namespace,
        kubeconfig: parseSecret(raw, "kubeconfig", problems),
        skipAwait: parseBoolean(raw, "skipAwait", problems),
        protectData: parseBoolean(raw, "protectData", problems),
        imageRegistryMirror: mirror,
        storageClassName: optional(raw, "storageClassName"),
        ingress: {
            className: required(raw, "ingressClassName", problems),
            controllerNamespace,
            tlsIssuer: optional(raw, "ingressTlsIssuer"),
        },
        postgres: parsePostgres(raw, problems),
        metrics: {
            retention: parseRetention(raw, "metricsRetention", problems),
            storageSize: parseQuantity(raw, "influxdbStorageSize", problems),
        },
        keycloak: {
            realms: parseBoolean(raw, "keycloakRealms", problems),
            adminUrl: parseUrl(raw, "keycloakAdminUrl", problems),
        },
        runtimeImages: parseRuntimeImages(raw, role, mirror, problems),
    };
}
