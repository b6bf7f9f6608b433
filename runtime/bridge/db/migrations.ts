import { Database } from "./database";

/** A schema change; applied once, in order, each in its own transaction. */
export interface Migration {
    readonly version: number;
    readonly name: string;
    readonly sql: string;
}

/** The bridge's schema, versioned. Never edit a released migration: add the next one. */
export const migrations: readonly Migration[] = [
    {
        version: 1,
        name: "enrollment tokens and WireGuard addresses",
        sql: `
            CREATE TABLE enrollment_tokens (
                id          uuid PRIMARY KEY,
                token_hash  bytea NOT NULL UNIQUE,
                device_id   text,
                max_uses    integer NOT NULL CHECK (max_uses > 0),
                uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
                reenroll    boolean NOT NULL DEFAULT false,
                expires_at  timestamptz NOT NULL,
                created_by  text NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now(),
                revoked_at  timestamptz
            );
            -- Addresses are offsets in the tenant's VPN range; a free list makes allocation O(log n).
            CREATE TABLE wireguard_address_pool (
                network     cidr NOT NULL,
                host_offset integer NOT NULL,
                PRIMARY KEY (network, host_offset)
            );
            CREATE TABLE wireguard_addresses (
                network     cidr NOT NULL,
                host_offset integer NOT NULL,
                device_id   text NOT NULL UNIQUE,
                allocated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (network, host_offset)
            );
        `,
    },
];

/** Advisory lock that serializes migrations of concurrently starting bridges. */
const lockKey = 727272;

/**
 * Brings the schema to the newest version. Concurrent starts (several replicas) serialize on an
 * advisory lock; each migration commits with its version row or not at all.
 */
export async function migrate(db: Database, all: readonly Migration[] = migrations): Promise<number[]> {
    // CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL; the lock serializes it too.
    await db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
        await tx.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        );
    });
    const applied: number[] = [];
    for (const migration of [...all].sort((a, b) => a.version - b.version)) {
        const done = await db.transaction(async (tx) => {
            await tx.query("SELECT pg_advisory_xact_lock($1)", [lockKey]);
            const { rows } = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [
                migration.version,
            ]);
            if (rows.length > 0) return false;
            await tx.execute(migration.sql);
            await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
                migration.version,
                migration.name,
            ]);
            return true;
        });
        if (done) applied.push(migration.version);
    }
    return applied;
}
