import * as pulumi from "@pulumi/pulumi";
import {
    CommonConfig,
    optional,
    parseCommon,
    parseInteger,
    parseQuantity,
    parseRole,
    parseSecret,
    required,
} from "./common-config";
import { metricNameProblem } from "../thingsboard/rule-chain";
import { pulumiRawConfig, RawConfig } from "./raw-config";
import { Ipv4Cidr, isDnsLabel, isQualifiedStackName, parseIpv4Cidr, Problems } from "./validate";

/** Longest tenant id: it is embedded in namespace, realm and resource names that have limits. */
export const maxTenantIdLength = 40;

/** The validated configuration of a tenant stack. */
export interface TenantConfig extends CommonConfig {
    readonly role: "tenant";
    readonly tenantId: string;
    readonly displayName: string;
    /** Fully qualified name of the provider stack, read through a StackReference. */
    readonly providerStack: string;
    readonly wireguard: { readonly cidr: Ipv4Cidr; readonly port: number };
    /**
     * The namespace of the VPN server (`<namespace>-vpn`): it needs NET_ADMIN, which only a
     * privileged namespace admits, so it runs apart from the restricted tenant namespace.
     */
    readonly vpnNamespace: string;
    readonly quota: { readonly cpu: string; readonly memory: string; readonly storage: string };
    /** Device certificate lifetimes (Go durations in hours). */
    readonly deviceCertificates: { readonly lifetime: string; readonly maxLifetime: string };
    /** Credential for the provider bridge's onboarding API; a Pulumi secret. */
    readonly onboardingToken?: pulumi.Output<string>;
    /** Telemetry keys ThingsBoard's rule chain forwards to the provider RabbitMQ. */
    readonly forwardedMetrics: readonly string[];
}

/** Keys that only the provider stack may set. */
const providerOnlyKeys = ["pkiRootCertificate", "pkiIntermediateCertificate", "pkiIntermediateKey"];

/** Hours in a `<n>h` duration, or undefined when it is not one. */
export function parseHours(text: string): number | undefined {
    const match = /^([1-9][0-9]{0,5})h$/.exec(text);
    return match ? Number(match[1]) : undefined;
}

/** The VPN server's namespace, beside the tenant namespace `namespace`. */
export function vpnNamespaceOf(namespace: string): string {
    return `${namespace}-vpn`;
}

/** Parses and validates a tenant stack's configuration; throws ConfigError listing every problem. */
export function parseTenantConfig(raw: RawConfig): TenantConfig {
    const problems = new Problems();
    const role = parseRole(raw, problems);
    if (role !== undefined && role !== "tenant") {
        problems.add("cdm:role", `is "${role}", but a tenant configuration was requested`);
    }
    const tenantId = required(
        raw,
        "tenantId",
        problems,
        "is required for a tenant stack (a DNS label such as acme)",
    );
    if (tenantId !== "" && !isDnsLabel(tenantId, maxTenantIdLength)) {
        problems.add(
            "cdm:tenantId",
            `"${tenantId}" is not a DNS label of at most ${maxTenantIdLength} characters ` +
                "(lower-case letters, digits and '-', starting and ending with a letter or digit)",
        );
    }
    const providerStack = required(
        raw,
        "providerStack",
        problems,
        "is required for a tenant stack: the provider stack's name, <org>/cdm/<stack>",
    );
    if (providerStack !== "" && !isQualifiedStackName(providerStack)) {
        problems.add(
            "cdm:providerStack",
            `"${providerStack}" is not a fully qualified stack name <org>/<project>/<stack>`,
        );
    }
    const cidrText = required(raw, "wireguardCidr", problems);
    // The VPN needs room for the server and devices: at most /30, and no wider than /8.
    const cidr = cidrText === "" ? undefined : parseIpv4Cidr(cidrText, 16, 30);
    if (typeof cidr === "string") {
        problems.add("cdm:wireguardCidr", cidr);
    }
    // A bad tenant id is reported once, not again through the namespace derived from it.
    const validId = isDnsLabel(tenantId, maxTenantIdLength);
    const common = parseCommon(raw, "tenant", validId ? `cdm-tenant-${tenantId}` : "cdm-tenant", problems);
    const wireguardPort = parseInteger(raw, "wireguardPort", problems, 1, 65535);
    const vpnNamespace = vpnNamespaceOf(common.namespace);
    if (!isDnsLabel(vpnNamespace)) {
        problems.add(
            "cdm:namespace",
            `"${common.namespace}" is too long: the VPN's namespace "${vpnNamespace}" must fit in 63 characters`,
        );
    }
    const quota = {
        cpu: parseQuantity(raw, "quotaCpu", problems),
        memory: parseQuantity(raw, "quotaMemory", problems),
        storage: parseQuantity(raw, "quotaStorage", problems),
    };
    for (const key of providerOnlyKeys.filter((k) => optional(raw, k) !== undefined)) {
        problems.add(`cdm:${key}`, "applies to the provider stack only; remove it from the tenant stack");
    }
    const lifetime = required(raw, "deviceCertificateLifetime", problems);
    const maxLifetime = required(raw, "deviceCertificateMaxLifetime", problems);
    const [hours, maxHours] = [parseHours(lifetime), parseHours(maxLifetime)];
    if (lifetime !== "" && hours === undefined) {
        problems.add("cdm:deviceCertificateLifetime", `"${lifetime}" is not a number of hours such as 168h`);
    }
    if (maxLifetime !== "" && maxHours === undefined) {
        problems.add(
            "cdm:deviceCertificateMaxLifetime",
            `"${maxLifetime}" is not a number of hours such as 720h`,
        );
    }
    if (hours !== undefined && maxHours !== undefined && hours > maxHours) {
        problems.add(
            "cdm:deviceCertificateLifetime",
            `${lifetime} is longer than cdm:deviceCertificateMaxLifetime ${maxLifetime}`,
        );
    }
    const onboardingToken = parseSecret(raw, "onboardingToken", problems);
    const forwardedMetrics = parseForwardedMetrics(required(raw, "forwardedMetrics", problems), problems);
    problems.throwIfAny();
    return {
        ...common,
        role: "tenant",
        deviceCertificates: { lifetime, maxLifetime },
        onboardingToken,
        forwardedMetrics,
        tenantId,
        displayName: optional(raw, "tenantDisplayName") ?? tenantId,
        providerStack,
        wireguard: { cidr: cidr as Ipv4Cidr, port: wireguardPort },
        vpnNamespace,
        quota,
    };
}

/** The metric names of `cdm:forwardedMetrics` (comma-separated); each problem is reported. */
export function parseForwardedMetrics(text: string, problems: Problems): string[] {
    const names = text
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name !== "");
    if (text !== "" && names.length === 0) problems.add("cdm:forwardedMetrics", "names no metric");
    for (const name of names) {
        const problem = metricNameProblem(name);
        if (problem) problems.add("cdm:forwardedMetrics", problem);
    }
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    if (repeated.length > 0)
        problems.add("cdm:forwardedMetrics", `repeats ${[...new Set(repeated)].join(", ")}`);
    return names;
}

/** Reads a tenant stack's configuration from the Pulumi runtime. */
export function loadTenantConfig(): TenantConfig {
    return parseTenantConfig(pulumiRawConfig());
}
