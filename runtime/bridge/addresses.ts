import { formatIpv4, Ipv4Cidr, networkSize, parseIpv4, vpnServerAddress } from "../shared/ipv4";
import { Database, Queryable } from "./db/database";

/** No free address is left in the tenant's VPN range. */
export class AddressesExhausted extends Error {
    constructor(network: string) {
        super(`no free WireGuard address left in ${network}`);
        this.name = "AddressesExhausted";
    }
}

/**
 * WireGuard addresses of a tenant's VPN range. The server has the first host address; devices
 * get the others, lowest free first. A free list keeps allocation O(log n) at any fill level;
 * `FOR UPDATE SKIP LOCKED` lets concurrent enrollments take different addresses without waiting,
 * and the primary keys make it impossible to hand one address to two devices. Allocation and
 * release run inside the caller's transaction, so a failed enrollment frees its address.
 */
export class AddressPool {
    readonly network: string;
    /** Host offsets devices may use: from .2 up to the last before broadcast. */
    readonly first = 2;
    readonly last: number;
    /** The server's address. */
    readonly serverAddress: string;
    private readonly base: number;

    constructor(cidr: Ipv4Cidr) {
        if (cidr.prefixLength > 30 || cidr.prefixLength < 16) {
            throw new Error(`a VPN range must be /16 to /30, not /${cidr.prefixLength}`);
        }
        this.network = `${cidr.network}/${cidr.prefixLength}`;
        this.base = parseIpv4(cidr.network)!;
        this.last = networkSize(cidr.prefixLength) - 2;
        this.serverAddress = vpnServerAddress(cidr);
    }

    /** The dotted address of a host offset. */
    address(offset: number): string {
        return formatIpv4(this.base + offset);
    }

    /**
     * Fills the free list with every device address not yet allocated; idempotent. Refuses to
     * start when devices hold addresses of another range (the range cannot change under them).
     */
    async prepare(db: Database): Promise<void> {
        const { rows } = await db.query<{ network: string; n: string }>(
            "SELECT network::text AS network, count(*)::text AS n FROM wireguard_addresses WHERE network <> $1::cidr GROUP BY network",
            [this.network],
        );
        if (rows.length > 0) {
            throw new Error(
                `devices hold addresses in ${rows.map((r) => `${r.network} (${r.n})`).join(", ")}; the range is now ${this.network}`,
            );
        }
        // The lock waits for in-flight allocations to commit and holds new ones back, so the
        // check below sees every held address (a replica starting beside a busy one must not
        // return an address that an enrollment is about to commit).
        await db.transaction(async (tx) => {
            await tx.query("LOCK TABLE wireguard_address_pool IN SHARE ROW EXCLUSIVE MODE");
            await tx.query(
                `INSERT INTO wireguard_address_pool (network, host_offset)
                 SELECT $1::cidr, o FROM generate_series($2::int, $3::int) AS o
                 WHERE NOT EXISTS (SELECT 1 FROM wireguard_addresses a WHERE a.network = $1::cidr AND a.host_offset = o)
                 ON CONFLICT DO NOTHING`,
                [this.network, this.first, this.last],
            );
        });
    }

    /** The device's address, allocating one when it has none; returns the dotted address. */
    async allocate(tx: Queryable, deviceId: string): Promise<string> {
        // One statement: the address the device holds, or else the lowest free one, taken for it.
        const taken = await tx.query<{ host_offset: number }>(
            `WITH held AS (
                 SELECT host_offset FROM wireguard_addresses WHERE device_id = $2 AND network = $1::cidr),
             taken AS (
                 DELETE FROM wireguard_address_pool
                 WHERE NOT EXISTS (SELECT 1 FROM held) AND (network, host_offset) = (
                     SELECT network, host_offset FROM wireguard_address_pool
                     WHERE network = $1::cidr ORDER BY host_offset LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING network, host_offset),
             recorded AS (
                 INSERT INTO wireguard_addresses (network, host_offset, device_id)
                 SELECT network, host_offset, $2 FROM taken RETURNING host_offset)
             SELECT host_offset FROM held UNION ALL SELECT host_offset FROM recorded`,
            [this.network, deviceId],
        );
        if (taken.rows.length === 0) throw new AddressesExhausted(this.network);
        const offset = taken.rows[0].host_offset;
        return this.address(offset);
    }

    /** Frees the device's address (no-op when it has none); returns the freed address. */
    async release(tx: Queryable, deviceId: string): Promise<string | undefined> {
        const freed = await tx.query<{ host_offset: number }>(
            "DELETE FROM wireguard_addresses WHERE device_id = $1 AND network = $2::cidr RETURNING host_offset",
            [deviceId, this.network],
        );
        if (freed.rows.length === 0) return undefined;
        await tx.query("INSERT INTO wireguard_address_pool (network, host_offset) VALUES ($1::cidr, $2)", [
            this.network,
            freed.rows[0].host_offset,
        ]);
        return this.address(freed.rows[0].host_offset);
    }
}
