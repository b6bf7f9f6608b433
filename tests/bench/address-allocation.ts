/**
 * WireGuard address allocations per second with 60,000 devices already holding addresses in a
 * /16, as a ratio against the same allocations with 100 devices (the free list should keep the
 * cost flat). Embedded PostgreSQL (PGlite); the pools are filled in bulk, outside the timing.
 */
import { PGlite } from "@electric-sql/pglite";
import { performance } from "node:perf_hooks";
import { AddressPool } from "../../runtime/bridge/addresses";
import { Database, pgliteDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { parseIpv4Cidr } from "../../runtime/shared/ipv4";
import { Scenario, scenario } from "./scenario";

async function filled(devices: number): Promise<{ db: Database; pool: AddressPool }> {
    const db = pgliteDatabase(new PGlite());
    await migrate(db);
    const pool = new AddressPool(parseIpv4Cidr("10.8.0.0/16") as never);
    await pool.prepare(db);
    await db.query(
        `WITH taken AS (
             DELETE FROM wireguard_address_pool WHERE host_offset < $1 + 2 RETURNING network, host_offset)
         INSERT INTO wireguard_addresses (network, host_offset, device_id)
         SELECT network, host_offset, 'bulk-' || host_offset FROM taken`,
        [devices],
    );
    return { db, pool };
}

async function rate(db: Database, pool: AddressPool, count: number): Promise<number> {
    const start = performance.now();
    for (let i = 0; i < count; i++) await db.transaction((tx) => pool.allocate(tx, `bench-${i}`));
    return count / ((performance.now() - start) / 1000);
}

export async function addressAllocation(quick: boolean): Promise<Scenario[]> {
    const count = quick ? 300 : 2000;
    const small = await filled(100);
    const large = await filled(60_000);
    try {
        await rate(small.db, small.pool, 50); // warm-up
        await rate(large.db, large.pool, 50);
        const baseline = await rate(small.db, small.pool, count);
        const value = await rate(large.db, large.pool, count);
        return [
            scenario(
                "address-allocation-60k-vs-100",
                `WireGuard address allocations per second with 60,000 devices allocated, against 100 allocated (${count} each, PGlite)`,
                "allocations/s",
                value,
                baseline,
            ),
        ];
    } finally {
        await small.db.close();
        await large.db.close();
    }
}
