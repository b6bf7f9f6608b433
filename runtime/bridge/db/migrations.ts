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
    {
        version: 2,
        name: "devices, their certificates, audit events and the WireGuard peer feed",
        sql: `
            CREATE TABLE devices (
                id                    text PRIMARY KEY,
                wireguard_public_key  text NOT NULL UNIQUE,
                key_algorithm         text NOT NULL,
                certificate_serial    text NOT NULL,
                certificate_not_after timestamptz NOT NULL,
                ota_token             text NOT NULL,
                enrollment_token_id   uuid NOT NULL,
                enrolled_at           timestamptz NOT NULL DEFAULT now(),
                renewed_at            timestamptz,
                first_connected_at    timestamptz,
                last_connected_at     timestamptz
            );
            -- Every certificate a device was given, so decommissioning revokes all that are still valid.
            CREATE TABLE device_certificates (
                serial      text PRIMARY KEY,
                device_id   text NOT NULL,
                not_after   timestamptz NOT NULL,
                issued_at   timestamptz NOT NULL DEFAULT now(),
                revoked_at  timestamptz
            );
            CREATE INDEX device_certificates_device ON device_certificates (device_id);
            -- The audit trail outlives the devices it names.
            CREATE TABLE device_events (
                id          bigserial PRIMARY KEY,
                device_id   text NOT NULL,
                kind        text NOT NULL,
                actor       text NOT NULL,
                details     jsonb NOT NULL DEFAULT '{}',
                at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX device_events_device ON device_events (device_id, id);
            -- Peer additions and removals in commit order; the peer-sync agent follows it by revision.
            CREATE TABLE wireguard_peer_changes (
                revision    bigserial PRIMARY KEY,
                op          text NOT NULL CHECK (op IN ('add', 'remove')),
                device_id   text NOT NULL,
                public_key  text NOT NULL,
                address     inet NOT NULL,
                at          timestamptz NOT NULL DEFAULT now()
            );
        `,
    },
    {
        version: 3,
        name: "tenants onboarded by the provider bridge and their Sub-CA certificates",
        sql: `
            CREATE TABLE tenants (
                id                     text PRIMARY KEY,
                namespace              text NOT NULL,
                onboarding_token_hash  bytea NOT NULL UNIQUE,
                created_by             text NOT NULL,
                created_at             timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE sub_ca_certificates (
                serial      text PRIMARY KEY,
                tenant_id   text NOT NULL REFERENCES tenants (id),
                not_after   timestamptz NOT NULL,
                issued_at   timestamptz NOT NULL DEFAULT now(),
                revoked_at  timestamptz
            );
            CREATE TABLE tenant_events (
                id          bigserial PRIMARY KEY,
                tenant_id   text NOT NULL,
                kind        text NOT NULL,
                actor       text NOT NULL,
                details     jsonb NOT NULL DEFAULT '{}',
                at          timestamptz NOT NULL DEFAULT now()
            );
        `,
    },
    {
        version: 4,
        name: "the domain each tenant's public names are under",
        sql: "ALTER TABLE tenants ADD COLUMN domain text",
    },
    {
        version: 5,
        name: "undo steps outside the database that failed and are retried",
        sql: `
            CREATE TABLE pending_undo (
                id          bigserial PRIMARY KEY,
                kind        text NOT NULL CHECK (kind IN ('revoke-certificate', 'delete-ota-target')),
                subject     text NOT NULL,
                reason      text NOT NULL,
                attempts    integer NOT NULL DEFAULT 0,
                last_error  text,
                created_at  timestamptz NOT NULL DEFAULT now(),
                next_at     timestamptz NOT NULL DEFAULT now()
            );
        `,
    },
    {
        version: 6,
        name: "the ThingsBoard user each e-mail was mapped to, by Keycloak subject and kind",
        sql: `
            CREATE TABLE thingsboard_users (
                email           text PRIMARY KEY,
                subject         text NOT NULL,
                kind            text NOT NULL CHECK (kind IN ('tenant_admin', 'operator')),
                first_login_at  timestamptz NOT NULL DEFAULT now(),
                last_login_at   timestamptz NOT NULL DEFAULT now()
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
