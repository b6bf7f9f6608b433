/** Starts the real peers of the integration tests through the repo's scripts in scripts/peers/. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Pool } from "pg";
import { projectRoot } from "../../tools/stack-config";

/** Runs `scripts/peers/<peer>.sh start` and returns the variables of the env file it prints. */
export function startPeer(peer: string): Record<string, string> {
    const envFile = execFileSync(join(projectRoot, "scripts/peers", `${peer}.sh`), ["start"], {
        encoding: "utf8",
    }).trim();
    return Object.fromEntries(
        readFileSync(envFile, "utf8")
            .split("\n")
            .filter((line) => line.includes("="))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
}

/** Runs `scripts/peers/<peer>.sh stop`. */
export function stopPeer(peer: string): void {
    execFileSync(join(projectRoot, "scripts/peers", `${peer}.sh`), ["stop"], { stdio: "ignore" });
}

/** PG* settings of a database. */
export type PgSettings = Record<"PGHOST" | "PGPORT" | "PGUSER" | "PGPASSWORD" | "PGDATABASE", string>;

/** Starts PostgreSQL (scripts/peers/postgres.sh) and makes database `name` afresh; answers its settings. */
export async function freshDatabase(name: string): Promise<PgSettings> {
    const server = startPeer("postgres");
    const settings: PgSettings = {
        PGHOST: server.PGHOST,
        PGPORT: server.PGPORT,
        PGUSER: "postgres",
        PGPASSWORD: server.PGPASSWORD,
        PGDATABASE: name,
    };
    const admin = pgPool({ ...settings, PGDATABASE: "postgres" }, 1);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return settings;
}

/** A `pg` pool on the database of `settings`. */
export function pgPool(settings: PgSettings, max = 4): Pool {
    return new Pool({
        host: settings.PGHOST,
        port: Number(settings.PGPORT),
        user: settings.PGUSER,
        password: settings.PGPASSWORD,
        database: settings.PGDATABASE,
        max,
    });
}

/** A TCP port free on loopback now. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as { port: number };
            server.close(() => resolve(port));
        });
    });
}
