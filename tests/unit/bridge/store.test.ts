/** The bridge's storage on PGlite (the embedded PostgreSQL): migrations, addresses, enrollment tokens. */
import { PGlite } from "@electric-sql/pglite";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AddressesExhausted, AddressPool } from "../../../runtime/bridge/addresses";
import { Database, pgliteDatabase } from "../../../runtime/bridge/db/database";
import { migrate, migrations } from "../../../runtime/bridge/db/migrations";
import {
    consumeToken,
    issueToken,
    revokeToken,
    TokenRefused,
} from "../../../runtime/bridge/enrollment-tokens";
import { parseIpv4Cidr } from "../../../runtime/shared/ipv4";

let db: Database;

beforeEach(async () => {
    db = pgliteDatabase(new PGlite());
    await migrate(db);
});

afterEach(async () => {
    await db.close();
});

const pool = (cidr: string) =>
    new AddressPool(parseIpv4Cidr(cidr) as Exclude<ReturnType<typeof parseIpv4Cidr>, string>);

describe("migrations", () => {
    it("apply once, in order, and record their versions", async () => {
        expect(await migrate(db)).toEqual([]);
        const { rows } = await db.query<{ version: number }>(
            "SELECT version FROM schema_migrations ORDER BY version",
        );
        expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
    });

    it("roll a failing migration back whole", async () => {
        const broken = {
            version: 99,
            name: "broken",
            sql: "CREATE TABLE half_made (x int); SELECT no_such_column FROM half_made;",
        };
        await expect(migrate(db, [...migrations, broken])).rejects.toThrow(/no_such_column/);
        const { rows } = await db.query("SELECT to_regclass('half_made') AS t");
        expect(rows[0].t).toBeNull();
        expect((await db.query("SELECT 1 FROM schema_migrations WHERE version = 99")).rows).toEqual([]);
    });
});

describe("WireGuard address pool", () => {
    it("gives the server .1 and devices the lowest free address, reusing freed ones", async () => {
        const p = pool("10.8.0.0/16");
        await p.prepare(db);
        expect(p.serverAddress).toBe("10.8.0.1");
        const a = await db.transaction((tx) => p.allocate(tx, "dev-a"));
        const b = await db.transaction((tx) => p.allocate(tx, "dev-b"));
        expect([a, b]).toEqual(["10.8.0.2", "10.8.0.3"]);
        expect(await db.transaction((tx) => p.allocate(tx, "dev-a"))).toBe("10.8.0.2");
        expect(await db.transaction((tx) => p.release(tx, "dev-a"))).toBe("10.8.0.2");
        expect(await db.transaction((tx) => p.release(tx, "dev-a"))).toBeUndefined();
        expect(await db.transaction((tx) => p.allocate(tx, "dev-c"))).toBe("10.8.0.2");
        expect(p.address(65534)).toBe("10.8.255.254");
        expect(p.last).toBe(65534);
    });

    it("refuses when the range is full, and frees the address of a failed enrollment", async () => {
        const p = pool("10.9.0.0/29");
        await p.prepare(db);
        for (const d of ["d1", "d2", "d3", "d4", "d5"]) await db.transaction((tx) => p.allocate(tx, d));
        await expect(db.transaction((tx) => p.allocate(tx, "d6"))).rejects.toThrow(
            new AddressesExhausted("10.9.0.0/29"),
        );
        await db.transaction((tx) => p.release(tx, "d3"));
        await expect(
            db.transaction(async (tx) => {
                await p.allocate(tx, "d7");
                throw new Error("signing failed");
            }),
        ).rejects.toThrow("signing failed");
        expect(await db.transaction((tx) => p.allocate(tx, "d8"))).toBe("10.9.0.4");
    });

    it("prepares idempotently and refuses a range change under allocated devices", async () => {
        const p = pool("10.8.0.0/24");
        await p.prepare(db);
        await db.transaction((tx) => p.allocate(tx, "dev-a"));
        await p.prepare(db);
        const { rows } = await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM wireguard_address_pool",
        );
        expect(rows[0].n).toBe(252);
        await expect(pool("10.7.0.0/24").prepare(db)).rejects.toThrow(
            "devices hold addresses in 10.8.0.0/24 (1); the range is now 10.7.0.0/24",
        );
        expect(() => pool("10.0.0.0/8")).toThrow("a VPN range must be /16 to /30, not /8");
    });
});

describe("enrollment tokens", () => {
    it("stores only a hash and works once for its device", async () => {
        const issued = await issueToken(db, { deviceId: "dev-a", ttlSeconds: 3600, createdBy: "admin" });
        expect(issued.token).toMatch(/^cdm_et_[A-Za-z0-9_-]{43}$/);
        const [row] = (await db.query<{ token_hash: Uint8Array }>("SELECT * FROM enrollment_tokens")).rows;
        expect(JSON.stringify(row)).not.toContain(issued.token.slice(7));
        expect(Buffer.from(row.token_hash)).toEqual(createHash("sha256").update(issued.token).digest());
        await expect(db.transaction((tx) => consumeToken(tx, issued.token, "dev-b"))).rejects.toThrow(
            new TokenRefused("for another device"),
        );
        expect(await db.transaction((tx) => consumeToken(tx, issued.token, "dev-a"))).toEqual({
            id: issued.id,
            reenroll: false,
        });
        await expect(db.transaction((tx) => consumeToken(tx, issued.token, "dev-a"))).rejects.toThrow(
            new TokenRefused("used up"),
        );
    });

    it("counts batch uses, gives a use back when the enrollment fails, and honours expiry and revocation", async () => {
        const batch = await issueToken(db, {
            maxUses: 2,
            ttlSeconds: 3600,
            createdBy: "admin",
            reenroll: true,
        });
        await expect(
            db.transaction(async (tx) => {
                await consumeToken(tx, batch.token, "dev-1");
                throw new Error("step-ca down");
            }),
        ).rejects.toThrow("step-ca down");
        expect(await db.transaction((tx) => consumeToken(tx, batch.token, "dev-1"))).toEqual({
            id: batch.id,
            reenroll: true,
        });
        await db.transaction((tx) => consumeToken(tx, batch.token, "dev-2"));
        await expect(db.transaction((tx) => consumeToken(tx, batch.token, "dev-3"))).rejects.toThrow(
            new TokenRefused("used up"),
        );
        const old = await issueToken(db, { maxUses: 5, ttlSeconds: 60, createdBy: "admin" });
        await db.query(
            "UPDATE enrollment_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
            [old.id],
        );
        await expect(db.transaction((tx) => consumeToken(tx, old.token, "dev-4"))).rejects.toThrow(
            new TokenRefused("expired"),
        );
        const revoked = await issueToken(db, { maxUses: 5, ttlSeconds: 600, createdBy: "admin" });
        expect(await revokeToken(db, revoked.id)).toBe(true);
        expect(await revokeToken(db, revoked.id)).toBe(false);
        await expect(db.transaction((tx) => consumeToken(tx, revoked.token, "dev-5"))).rejects.toThrow(
            new TokenRefused("revoked"),
        );
        await expect(db.transaction((tx) => consumeToken(tx, "cdm_et_forged", "dev-5"))).rejects.toThrow(
            new TokenRefused("unknown"),
        );
        await expect(db.transaction((tx) => consumeToken(tx, "guess", "dev-5"))).rejects.toThrow(
            new TokenRefused("unknown"),
        );
    });

    it("refuses token requests outside the limits", async () => {
        await expect(issueToken(db, { maxUses: 0, ttlSeconds: 600, createdBy: "a" })).rejects.toThrow(
            "maxUses must be an integer in 1..100000",
        );
        await expect(issueToken(db, { ttlSeconds: 10, createdBy: "a" })).rejects.toThrow(
            "ttlSeconds must be between 60 seconds and 90 days",
        );
    });
});
