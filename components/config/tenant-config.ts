import {
    CommonConfig,
    optional,
    parseCommon,
    parseInteger,
    parseQuantity,
    parseRole,
    required,
} from "./common-config";
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
    readonly quota: { readonly cpu: string; readonly memory: string; readonly storage: string };
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
    const cidr = cidrText === "" ? undefined : parseIpv4Cidr(cidrText, 8, 30);
    if (typeof cidr === "string") {
        problems.add("cdm:wireguardCidr", cidr);
    }
    // A bad tenant id is reported once, not again through the namespace derived from it.
    const validId = isDnsLabel(tenantId, maxTenantIdLength);
    const common = parseCommon(raw, "tenant", validId ? `cdm-tenant-${tenantId}` : "cdm-tenant", problems);
    const wireguardPort = parseInteger(raw, "wireguardPort", problems, 1, 65535);
    const quota = {
        cpu: parseQuantity(raw, "quotaCpu", problems),
        memory: parseQuantity(raw, "quotaMemory", problems),
        storage: parseQuantity(raw, "quotaStorage", problems),
    };
    problems.throwIfAny();
    return {
        ...common,
        role: "tenant",
        tenantId,
        displayName: optional(raw, "tenantDisplayName") ?? tenantId,
        providerStack,
        wireguard: { cidr: cidr as Ipv4Cidr, port: wireguardPort },
        quota,
    };
}

/** Reads a tenant stack's configuration from the Pulumi runtime. */
export function loadTenantConfig(): TenantConfig {
    return parseTenantConfig(pulumiRawConfig());
}
