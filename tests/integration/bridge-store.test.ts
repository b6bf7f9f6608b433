/**
 * The bridge's storage on a real PostgreSQL under concurrency: many enrollments at once never
 * share an address or exceed a token's uses, failed ones leave nothing behind, and racing first
 * ThingsBoard logins of one e-mail bind it once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressPool } from "../../runtime/bridge/addresses";
import { Database, pgDatabase } from "../../runtime/bridge/db/database";
import { migrate, migrations } from "../../runtime/bridge/db/migrations";
import { consumeToken, issueToken, TokenRefused } from "../../runtime/bridge/enrollment-tokens";
import { ApiError } from "../../runtime/bridge/errors";
import { bindLogin } from "../../runtime/bridge/thingsboard-users";
import { parseIpv4Cidr } from "../../runtime/shared/ipv4";
import { freshDatabase, pgPool, stopPeer } from "../support/peers";

let db: Database;

beforeAll(async () => {
    db = pgDatabase(pgPool(await freshDatabase("bridge_test"), 10));
    // Two bridges starting at once migrate once.
    const applied = await Promise.all([migrate(db), migrate(db)]);
    expect(applied.flat()).toEqual(migrations.map((m) => m.version));
});

afterAll(async () => {
    await db?.close();
    stopPeer("postgres");
});

describe("under concurrency on PostgreSQL", () => {
    it("hands 500 concurrent enrollments distinct addresses, and the 50 that fail hold none", async () => {
        const pool = new AddressPool(parseIpv4Cidr("10.8.0.0/16") as never);
        await pool.prepare(db);
        const results = await Promise.allSettled(
            Array.from({ length: 500 }, (_, i) =>
                db.transaction(async (tx) => {
                    const address = await pool.allocate(tx, `dev-${i}`);
                    if (i % 10 === 0) throw new Error("signing failed");
                    return address;
                }),
            ),
        );
        const addresses = results
            .filter((r) => r.status === "fulfilled")
            .map((r) => (r as PromiseFulfilledResult<string>).value);
        expect(addresses).toHaveLength(450);
        expect(new Set(addresses).size).toBe(450);
        const held = await db.query<{ n: number; devices: number }>(
            "SELECT count(*)::int AS n, count(DISTINCT device_id)::int AS devices FROM wireguard_addresses",
        );
        expect(held.rows[0]).toEqual({ n: 450, devices: 450 });
        const free = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM wireguard_address_pool");
        expect(free.rows[0].n).toBe(65533 - 450);
        // Failed enrollments gave their addresses back: the lowest addresses are all in use or free, none lost.
        const overlap = await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM wireguard_address_pool p JOIN wireguard_addresses a USING (network, host_offset)",
        );
        expect(overlap.rows[0].n).toBe(0);
    });

    it("lets a batch token enroll exactly its number of devices when 200 race for it", async () => {
        const batch = await issueToken(db, { maxUses: 50, ttlSeconds: 600, createdBy: "admin" });
        const results = await Promise.allSettled(
            Array.from({ length: 200 }, (_, i) =>
                db.transaction((tx) => consumeToken(tx, batch.token, `race-${i}`)),
            ),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(50);
        const refusals = results
            .filter((r) => r.status === "rejected")
            .map((r) => (r as PromiseRejectedResult).reason);
        expect(refusals.every((e) => e instanceof TokenRefused && e.reason === "used up")).toBe(true);
        const { rows } = await db.query<{ uses: number }>(
            "SELECT uses FROM enrollment_tokens WHERE id = $1",
            [batch.id],
        );
        expect(rows[0].uses).toBe(50);
    });
    it("binds an e-mail's ThingsBoard user to exactly one of 20 racing first logins", async () => {
        const user = { email: "race@acme.example", tenantName: "ACME", alwaysFullScreen: false } as const;
        const results = await Promise.allSettled(
            Array.from({ length: 20 }, (_, i) => bindLogin(db, user, `subject-${i}`)),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const refusals = results
            .filter((r) => r.status === "rejected")
            .map((r) => (r.reason as ApiError).code);
        expect(new Set(refusals)).toEqual(new Set(["email_rebound"]));
        const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM thingsboard_users");
        expect(rows[0].n).toBe(1);
    });
});
