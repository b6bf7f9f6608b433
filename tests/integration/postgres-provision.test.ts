/**
 * The provisioning script the PostgreSQL Job runs, executed by the real psql against a real
 * PostgreSQL server: each consumer gets its own role and database and nothing else.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { passwordEnvName, PostgresConsumer, provisionScript } from "../../components/postgres/provision";
import { startPeer, stopPeer } from "../support/peers";

let server: Record<string, string>;
const consumers: PostgresConsumer[] = [
    { name: "thingsboard", app: "thingsboard" },
    { name: "hawkbit", app: "hawkbit" },
];
const scriptFile = join(mkdtempSync(join(tmpdir(), "provision-")), "provision.sql");

/** Runs psql with a connection and env of its own; returns exit status and output. */
function psql(args: string[], env: Record<string, string>) {
    const result = spawnSync(join(server.PG_BIN, "psql"), ["--no-psqlrc", "-X", "-At", ...args], {
        encoding: "utf8",
        env: {
            PATH: process.env.PATH ?? "",
            PGHOST: server.PGHOST,
            PGPORT: server.PGPORT,
            PGCONNECT_TIMEOUT: "5",
            ...env,
        },
    });
    return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

function provision(passwords: (string | undefined)[]) {
    const env: Record<string, string> = { PGUSER: "postgres", PGPASSWORD: server.PGPASSWORD };
    passwords.forEach((p, i) => {
        if (p !== undefined) env[passwordEnvName(i)] = p;
    });
    return psql(["-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", scriptFile], env);
}

function asConsumer(user: string, password: string, database: string, sql: string) {
    return psql(["-d", database, "-c", sql], { PGUSER: user, PGPASSWORD: password });
}

function superuser(sql: string) {
    return psql(["-d", "postgres", "-c", sql], { PGUSER: "postgres", PGPASSWORD: server.PGPASSWORD });
}

beforeAll(() => {
    server = startPeer("postgres");
    writeFileSync(scriptFile, provisionScript(consumers));
});

afterAll(() => stopPeer("postgres"));

describe("PostgreSQL provisioning against a real server", () => {
    it("refuses to start when a password is missing, and changes nothing", () => {
        const run = provision(["tb-secret-1", undefined]);
        expect(run.status).toBe(3);
        expect(run.stderr).toContain("missing password for consumer hawkbit (CDM_DB_PASSWORD_1)");
        expect(
            superuser("SELECT count(*) FROM pg_roles WHERE rolname IN ('thingsboard','hawkbit')").stdout,
        ).toBe("0");
        expect(
            superuser("SELECT count(*) FROM pg_database WHERE datname IN ('thingsboard','hawkbit')").stdout,
        ).toBe("0");
    });

    it("creates each consumer's role and database with least privilege", () => {
        const run = provision(["tb-secret-1", "hb-secret-1"]);
        expect(run.stderr).toBe("");
        expect(run.status).toBe(0);
        expect(
            superuser(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin FROM pg_roles " +
                    "WHERE rolname IN ('thingsboard','hawkbit') ORDER BY rolname",
            ).stdout,
        ).toBe("hawkbit|f|f|f|f|t\nthingsboard|f|f|f|f|t");
        expect(
            superuser(
                "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba " +
                    "WHERE d.datname IN ('thingsboard','hawkbit') ORDER BY 1",
            ).stdout,
        ).toBe("hawkbit|hawkbit\nthingsboard|thingsboard");
        expect(
            superuser(
                "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'thingsboard'",
            ).stdout,
        ).toBe("t");
    });

    it("lets a consumer use its own database and nobody else's", () => {
        expect(
            asConsumer(
                "thingsboard",
                "tb-secret-1",
                "thingsboard",
                "CREATE TABLE device (id text); SELECT current_user",
            ).stdout,
        ).toBe("CREATE TABLE\nthingsboard");
        const foreign = asConsumer("hawkbit", "hb-secret-1", "thingsboard", "SELECT 1");
        expect(foreign.status).toBe(2);
        expect(foreign.stderr).toContain('permission denied for database "thingsboard"');
        const maintenance = asConsumer("hawkbit", "hb-secret-1", "postgres", "SELECT 1");
        expect(maintenance.status).toBe(2);
        expect(maintenance.stderr).toContain('permission denied for database "postgres"');
        const wrongPassword = asConsumer("hawkbit", "tb-secret-1", "hawkbit", "SELECT 1");
        expect(wrongPassword.status).toBe(2);
        expect(wrongPassword.stderr).toContain('password authentication failed for user "hawkbit"');
        const createDb = asConsumer("hawkbit", "hb-secret-1", "hawkbit", "CREATE DATABASE other");
        expect(createDb.stderr).toContain("permission denied to create database");
    });

    it("is idempotent, keeps data, and rotates a password on re-run", () => {
        const again = provision(["tb-secret-1", "hb-secret-2"]);
        expect(again.status).toBe(0);
        expect(
            asConsumer("thingsboard", "tb-secret-1", "thingsboard", "SELECT count(*) FROM device").stdout,
        ).toBe("0");
        expect(asConsumer("hawkbit", "hb-secret-1", "hawkbit", "SELECT 1").status).toBe(2);
        expect(asConsumer("hawkbit", "hb-secret-2", "hawkbit", "SELECT current_user").stdout).toBe("hawkbit");
    });
});
