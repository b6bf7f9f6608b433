/**
 * A real hawkBit for the integration tests (scripts/peers/hawkbit.sh) on loopback, with its own
 * throwaway PostgreSQL (scripts/peers/postgres.sh in a directory and on a port of its own) and
 * the settings the platform gives hawkBit, rendered by components/hawkbit/settings.ts for this
 * build's generation (0.3): target-token authentication on and the gateway token off
 * system-wide, 30 s minimum polling, the DoS filter on, the admin and the bridge user with
 * generated passwords.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
    hawkbitProperties,
    hawkbitTenant,
    hawkbitUsers,
    passwordSetting,
    storedPassword,
} from "../../components/hawkbit/settings";
import { projectRoot } from "../../tools/stack-config";

/** A management API user. */
export interface HawkbitUser {
    readonly username: string;
    readonly password: string;
}

/** A started hawkBit: where it is, its users, and how to stop it (with its PostgreSQL). */
export interface RunningHawkbit extends HawkbitUser {
    /** `http://127.0.0.1:<port>`. */
    readonly url: string;
    /** `username`/`password` are a tenant admin (every permission) of this tenant. */
    readonly tenant: string;
    /** The bridge's user, with the platform's bridgePermissions only. */
    readonly bridge: HawkbitUser;
    /** hawkBit's console output so far, for failure messages. */
    output(): string;
    stop(): Promise<void>;
}

/**
 * Starts hawkBit on 127.0.0.1:`port` (PostgreSQL on `port + 1`, or further if that is taken) and
 * waits until its management API answers. The first run builds the server (about a minute); a
 * start takes 15–30 s.
 */
export async function startHawkbit(port: number): Promise<RunningHawkbit> {
    const [jar, javaHome] = execFileSync(join(projectRoot, "scripts/peers/hawkbit.sh"), ["install"], {
        encoding: "utf8",
    })
        .trim()
        .split(" ");
    const db = startPostgres(port + 1);
    const work = mkdtempSync(join(tmpdir(), "hawkbit-"));
    const admin = { username: hawkbitUsers.admin.username, password: secret() };
    const bridge = { username: hawkbitUsers.bridge.username, password: secret() };
    const url = `http://127.0.0.1:${port}`;
    const properties = {
        ...hawkbitProperties("0.3", { publicOrigin: url, artifactPath: join(work, "artifactrepo") }),
        // 0.3 takes the users' list from one property source: the passwords go beside it.
        [passwordSetting("0.3", "admin").property]: storedPassword(admin.password),
        [passwordSetting("0.3", "bridge").property]: storedPassword(bridge.password),
        // Test only: loopback, and the datasource that the deployed image's `postgresql` profile
        // and the database's connection Secret give it.
        "server.address": "127.0.0.1",
        "server.port": port,
        "spring.jpa.database": "POSTGRESQL",
        "spring.datasource.url": `jdbc:postgresql://127.0.0.1:${db.port}/hawkbit`,
        "spring.datasource.driverClassName": "org.postgresql.Driver",
        "spring.datasource.username": "hawkbit",
        "spring.datasource.password": db.password,
    };
    let output = "";
    const child: ChildProcess = spawn(join(javaHome, "bin/java"), ["-Xms256m", "-Xmx768m", "-jar", jar], {
        cwd: work,
        // Passwords go in the environment, not on the command line other users can read.
        env: {
            PATH: process.env.PATH ?? "",
            JAVA_HOME: javaHome,
            SPRING_APPLICATION_JSON: JSON.stringify(properties),
        },
        stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-200_000)));
    child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-200_000)));
    const stop = async () => {
        await stopProcess(child);
        db.stop();
        rmSync(work, { recursive: true, force: true });
    };
    const auth = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString("base64")}`;
    const deadline = Date.now() + 180_000;
    for (;;) {
        if (child.exitCode !== null) {
            await stop();
            throw new Error(`hawkbit exited ${child.exitCode}:\n${diagnosis(output)}`);
        }
        const ready = await fetch(`${url}/rest/v1/system/configs/pollingTime`, {
            headers: { authorization: auth },
            signal: AbortSignal.timeout(5000),
        }).then(
            (r) => r.ok,
            () => false,
        );
        if (ready) break;
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`hawkbit did not become ready:\n${diagnosis(output)}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
    return { url, ...admin, tenant: hawkbitTenant, bridge, output: () => output, stop };
}

/** The first errors and their causes (the head of a Spring failure), then the end of the output. */
function diagnosis(output: string): string {
    const lines = output.split("\n").filter((l) => / ERROR |^Caused by:|^\*{3}|^Description:/.test(l));
    return `${lines.slice(0, 12).join("\n")}\n...\n${output.slice(-1500)}`;
}

function secret(): string {
    return randomBytes(18).toString("base64url");
}

/** SIGTERM, then SIGKILL if hawkBit has not shut down after 20 s. */
function stopProcess(child: ChildProcess): Promise<void> {
    return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
        child.once("exit", () => {
            clearTimeout(kill);
            resolve();
        });
        child.kill("SIGTERM");
    });
}

/**
 * A PostgreSQL cluster of hawkBit's own, in a directory of this run, so neither tests that
 * restart the shared one (port 55432) nor another run of this file pull the database from under
 * it; database and owner `hawkbit`, as the platform provisions.
 */
function startPostgres(port: number): { port: number; password: string; stop(): void } {
    // A port taken by something else (random test ports can meet) fails the start: one more try
    // elsewhere, and the server's log in the error when that fails too.
    try {
        return startPostgresOn(port);
    } catch {
        return startPostgresOn(port + 997);
    }
}

function startPostgresOn(port: number): { port: number; password: string; stop(): void } {
    const script = join(projectRoot, "scripts/peers/postgres.sh");
    const peersDir = mkdtempSync(join(tmpdir(), "cdm-peers-hawkbit-"));
    // postgres.sh hands the cluster's directory to the postgres user, who must reach it.
    chmodSync(peersDir, 0o755);
    const env = { ...process.env, CDM_PEERS_DIR: peersDir, CDM_TEST_PG_PORT: String(port) };
    const stop = () => {
        execFileSync(script, ["stop"], { env, stdio: "ignore" });
        rmSync(peersDir, { recursive: true, force: true });
    };
    const password = randomBytes(18).toString("hex");
    try {
        const envFile = execFileSync(script, ["start"], { encoding: "utf8", env }).trim();
        const server = Object.fromEntries(
            readFileSync(envFile, "utf8")
                .split("\n")
                .filter((line) => line.includes("="))
                .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
        );
        const sql = [
            `CREATE ROLE hawkbit LOGIN PASSWORD '${password}'`,
            "CREATE DATABASE hawkbit OWNER hawkbit",
        ];
        execFileSync(
            join(server.PG_BIN, "psql"),
            [
                "--no-psqlrc",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                "postgres",
                ...sql.flatMap((c) => ["-c", c]),
            ],
            {
                env: {
                    PATH: process.env.PATH ?? "",
                    PGHOST: "127.0.0.1",
                    PGPORT: String(port),
                    PGUSER: "postgres",
                    PGPASSWORD: server.PGPASSWORD,
                },
                stdio: ["ignore", "ignore", "pipe"],
            },
        );
    } catch (error) {
        const log = join(peersDir, "postgres", "server.log");
        const detail = existsSync(log) ? `\n${readFileSync(log, "utf8").slice(-2000)}` : "";
        stop();
        throw new Error(`hawkBit's PostgreSQL on port ${port}: ${(error as Error).message}${detail}`);
    }
    return { port, password, stop };
}
