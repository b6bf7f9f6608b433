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

export { formatIpv4, Ipv4Cidr, parseIpv4, parseIpv4Cidr } from "../../runtime/shared/ipv4";

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

/** Registry host (with a dot, or localhost; optional port), repository path, optional tag, optional digest. */
const imageReferencePattern =
    /^(?:(?:[a-z0-9-]+\.)+[a-z0-9-]+|localhost)(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)+(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:[a-f0-9]{64})?$/;

/**
 * True when `ref` is a fully qualified image reference pinned to a release: a registry host, a
 * repository, and a tag other than `latest` or an `@sha256:` digest.
 */
export function isPinnedImageReference(ref: string): boolean {
    const match = imageReferencePattern.exec(ref);
    if (!match) return false;
    const [, tag, digest] = match;
    return digest !== undefined || (tag !== undefined && tag !== "latest");
}
