import { X509Certificate } from "node:crypto";

/**
 * Pure validators for stack configuration. Each returns the parsed value or records a problem
 * that names the key and the rule, so one run reports every mistake at once.
 */

/** Raised when stack configuration is invalid; the message lists every problem found. */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/** Collects problems while a config module parses its keys. */
export class Problems {
    private readonly found: string[] = [];

    add(key: string, message: string): void {
        this.found.push(`${key}: ${message}`);
    }

    /** Throws a ConfigError if anything was recorded. */
    throwIfAny(): void {
        if (this.found.length > 0) {
            throw new ConfigError(this.found);
        }
    }
}

const dnsLabelPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** True when `value` is an RFC 1123 DNS label of at most `maxLength` characters. */
export function isDnsLabel(value: string, maxLength = 63): boolean {
    return value.length <= maxLength && dnsLabelPattern.test(value);
}

/** True when `value` is a lower-case DNS name made of RFC 1123 labels, at most 253 characters. */
export function isDnsName(value: string): boolean {
    return (
        value.length <= 253 && value.split(".").length >= 2 && value.split(".").every((l) => isDnsLabel(l))
    );
}

/** An IPv4 network in CIDR notation. */
export interface Ipv4Cidr {
    readonly network: string;
    readonly prefixLength: number;
}

/** Parses a dotted-quad IPv4 address into a 32-bit unsigned integer, or undefined. */
export function parseIpv4(text: string): number | undefined {
    const parts = text.split(".");
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) {
        return undefined;
    }
    const octets = parts.map(Number);
    if (octets.some((o) => o > 255)) {
        return undefined;
    }
    return octets.reduce((acc, o) => acc * 256 + o, 0);
}

/** Formats a 32-bit unsigned integer as a dotted-quad IPv4 address. */
export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * Parses `a.b.c.d/n`. Returns an error text instead when it does not parse, when the host bits
 * are not zero, or when the prefix is outside [minPrefix, maxPrefix].
 */
export function parseIpv4Cidr(text: string, minPrefix = 0, maxPrefix = 32): Ipv4Cidr | string {
    const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
    const address = match ? parseIpv4(match[1]) : undefined;
    if (!match || address === undefined || Number(match[2]) > 32) {
        return `"${text}" is not an IPv4 CIDR such as 10.8.0.0/16`;
    }
    const prefixLength = Number(match[2]);
    if (prefixLength < minPrefix || prefixLength > maxPrefix) {
        return `prefix /${prefixLength} of "${text}" is outside /${minPrefix}../${maxPrefix}`;
    }
    const size = 2 ** (32 - prefixLength);
    const network = address - (address % size);
    if (network !== address) {
        return `"${text}" has host bits set; the network is ${formatIpv4(network)}/${prefixLength}`;
    }
    return { network: formatIpv4(network), prefixLength };
}

const quantityPattern = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/;

/** True when `value` is a Kubernetes resource quantity (for example `500m`, `2`, `10Gi`). */
export function isQuantity(value: string): boolean {
    return quantityPattern.test(value);
}

/** True when `value` is a fully qualified Pulumi stack name `<org>/<project>/<stack>`. */
export function isQualifiedStackName(value: string): boolean {
    return /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(value);
}

/** True when `text` holds one or more PEM certificates, all of which parse. */
export function isCertificatePem(text: string): boolean {
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) return false;
    try {
        blocks.forEach((b) => new X509Certificate(b));
        return true;
    } catch {
        return false;
    }
}
