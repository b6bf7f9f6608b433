/**
 * The install Job's guard, run by the real psql against a real PostgreSQL: it marks an installed
 * database (ThingsBoard's `tb_schema_settings` exists), leaves an empty one unmarked, and fails
 * the pod when the database cannot be reached, so the Job neither re-installs nor skips blindly.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schemaCheckCommand } from "../../components/thingsboard/settings";
import { freshDatabase, pgPool, PgSettings, startPeer, stopPeer } from "../support/peers";

let db: PgSettings;
let pgBin: string;

beforeAll(async () => {
    pgBin = startPeer("postgres").PG_BIN;
    db = await freshDatabase("tb_schema_check");
});
afterAll(() => stopPeer("postgres"));

/** Runs the rendered command as the init container does, with the connection in PG* variables. */
function check(settings: PgSettings) {
    const marker = join(mkdtempSync(join(tmpdir(), "tb-install-")), "installed");
    const [shell, ...args] = schemaCheckCommand(marker);
    const result = spawnSync(shell, args, {
        encoding: "utf8",
        env: {
            PATH: `${pgBin}:${process.env.PATH ?? ""}`,
            ...settings,
            PGSSLMODE: "disable",
            PGCONNECT_TIMEOUT: "5",
        },
    });
    return { status: result.status, marked: existsSync(marker), stderr: result.stderr };
}

describe("ThingsBoard schema check", () => {
    it("leaves a database without ThingsBoard's schema unmarked, so the installer runs", () => {
        expect(check(db)).toMatchObject({ status: 0, marked: false });
    });

    it("marks a database that has ThingsBoard's schema, so the installer is skipped", async () => {
        const pool = pgPool(db, 1);
        await pool.query("CREATE TABLE tb_schema_settings (schema_version bigint NOT NULL)");
        await pool.end();
        expect(check(db)).toMatchObject({ status: 0, marked: true });
    });

    it("fails without marking when the database refuses the connection", () => {
        const refused = check({ ...db, PGPASSWORD: "wrong" });
        expect(refused.status).not.toBe(0);
        expect(refused.marked).toBe(false);
        expect(refused.stderr).toContain("password authentication failed");
    });
});
