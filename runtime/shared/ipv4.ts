/** IPv4 addresses and networks, for the program's config checks and the bridge's address pool. */

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

/** The number of addresses in a network of this prefix length. */
export function networkSize(prefixLength: number): number {
    return 2 ** (32 - prefixLength);
}

/** The VPN server's address in a tenant's range: its first host address (`10.8.0.0/16` → `10.8.0.1`). */
export function vpnServerAddress(cidr: Ipv4Cidr): string {
    return formatIpv4(parseIpv4(cidr.network)! + 1);
}
