/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll) as the integration tests
 * run it: the real script under `sh`, unprivileged-in-a-tempdir (its state and /etc under a
 * temporary root, the system trust store and services left alone unless a test asks), optionally
 * inside a network namespace; and a fault-injecting HTTPS proxy in front of the real bridge.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
    chmodSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    rmSync,
    statSync,
    writeFileSync,
} from "node:fs";
import { createServer, Server, request as httpsRequest } from "node:https";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Pool } from "pg";
import { projectRoot } from "../../tools/stack-config";
import { pgPool, PgSettings } from "./peers";
import { RunningCa } from "./step-ca";
import { startTenantCa, TenantPki, tenantPki } from "./tenant-peers";

/** The agent script, as it goes into a device image. */
export const agentScript = join(projectRoot, "device-image/rootfs/usr/sbin/cdm-enroll");

/** Installs what the agent needs on a device (openssl, curl, jq) and shellcheck, when missing. */
export function installDeviceTools(): void {
    const missing = ["openssl", "curl", "jq", "shellcheck"].filter(
        (tool) =>
            execFileSync("sh", ["-c", `command -v ${tool} || true`], { encoding: "utf8" }).trim() === "",
    );
    if (missing.length === 0) return;
    execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
    execFileSync("apt-get", ["install", "-y", "-qq", ...missing], {
        stdio: "ignore",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
}

/**
 * A PostgreSQL cluster of this test's own (Debian's binaries, a temporary directory, 127.0.0.1:
 * `port`) with database `database`. Not scripts/peers/postgres.sh's shared cluster: every start
 * of that one wipes and restarts it, which pulls the database from under a test running
 * beside another (CI's and developers' runs share the machine).
 */
export async function privatePostgres(
    port: number,
    database: string,
): Promise<{ settings: PgSettings; stop(): void }> {
    const findBin = () =>
        execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1"], {
            encoding: "utf8",
        }).trim();
    if (!findBin()) {
        execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
        execFileSync("apt-get", ["install", "-y", "-qq", "postgresql"], {
            stdio: "ignore",
            env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        });
    }
    const bin = findBin();
    const dir = mkdtempSync(join(tmpdir(), "cdm-agent-pg-"));
    // The server runs as the postgres user (it refuses root), who must reach the directory.
    chmodSync(dir, 0o755);
    const password = randomBytes(18).toString("hex");
    writeFileSync(join(dir, "pwfile"), `${password}\n`, { mode: 0o600 });
    const root = process.getuid?.() === 0;
    if (root) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    const asPostgres = (command: string, ...args: string[]) =>
        execFileSync(root ? "runuser" : command, root ? ["-u", "postgres", "--", command, ...args] : args, {
            stdio: ["ignore", "ignore", "pipe"],
        });
    const data = join(dir, "data");
    const stop = () => {
        try {
            asPostgres(join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop");
        } catch {
            // not running
        }
        rmSync(dir, { recursive: true, force: true });
    };
    try {
        asPostgres(
            join(bin, "initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            `--pwfile=${join(dir, "pwfile")}`,
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
        );
        rmSync(join(dir, "pwfile"));
        asPostgres(
            join(bin, "pg_ctl"),
            "-D",
            data,
            "-w",
            "-l",
            join(dir, "server.log"),
            "-o",
            `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}`,
            "start",
        );
        const settings: PgSettings = {
            PGHOST: "127.0.0.1",
            PGPORT: String(port),
            PGUSER: "postgres",
            PGPASSWORD: password,
            PGDATABASE: database,
        };
        const admin = pgPool({ ...settings, PGDATABASE: "postgres" }, 1);
        await admin.query(`CREATE DATABASE ${database}`);
        await admin.end();
        return { settings, stop };
    } catch (error) {
        stop();
        throw error;
    }
}

/** The tenant's peers for the agent's tests: a private PostgreSQL, the tenant PKI and step-ca. */
export interface AgentPeers extends TenantPki {
    readonly pg: PgSettings;
    readonly stepCa: RunningCa;
    pool(): Pool;
    close(): Promise<void>;
}

/** Starts PostgreSQL on `ports.postgres` and the tenant step-ca on `ports.stepCa`. */
export async function startAgentPeers(ports: { postgres: number; stepCa: number }): Promise<AgentPeers> {
    const postgres = await privatePostgres(ports.postgres, "bridge_device_agent");
    try {
        const pki = await tenantPki();
        const stepCa = await startTenantCa(pki, ports.stepCa);
        const pools: Pool[] = [];
        const dir = mkdtempSync(join(tmpdir(), "bridge-agent-"));
        return {
            ...pki,
            stepCa,
            stepCaPort: ports.stepCa,
            dir,
            pg: postgres.settings,
            pool() {
                const pool = pgPool(postgres.settings);
                pools.push(pool);
                return pool;
            },
            async close() {
                await Promise.all(pools.map((p) => p.end()));
                await stepCa.stop();
                postgres.stop();
                rmSync(dir, { recursive: true, force: true });
            },
        };
    } catch (error) {
        postgres.stop();
        throw error;
    }
}

/** One run of the agent. */
export interface AgentRun {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
    readonly seconds: number;
}

/** enroll.conf settings. */
export interface AgentConfig {
    readonly bridgeUrl: string;
    readonly deviceId: string;
    /** The platform root the image ships (PEM). */
    readonly rootPem: string;
}

/**
 * A device's file system for the agent: `<root>/state` (CDM_STATE_DIR), `<root>/etc`
 * (CDM_ETC_DIR, with cdm/enroll.conf and cdm/enrollment-token) and `<root>/usr/share/cdm` (the
 * shipped platform root).
 */
export class DeviceRoot {
    readonly root: string;
    readonly state: string;
    readonly etc: string;
    readonly conf: string;
    readonly tokenFile: string;
    readonly rootCaFile: string;

    constructor(
        name: string,
        private config: AgentConfig,
    ) {
        this.root = mkdtempSync(join(tmpdir(), `cdm-device-${name}-`));
        this.state = join(this.root, "state");
        this.etc = join(this.root, "etc");
        this.conf = join(this.etc, "cdm/enroll.conf");
        this.tokenFile = join(this.etc, "cdm/enrollment-token");
        this.rootCaFile = join(this.root, "usr/share/cdm/platform-root.pem");
        mkdirSync(join(this.root, "usr/share/cdm"), { recursive: true });
        writeFileSync(this.rootCaFile, config.rootPem, { mode: 0o644 });
        mkdirSync(join(this.etc, "cdm"), { recursive: true, mode: 0o755 });
        this.writeConfig({});
    }

    /** Writes enroll.conf (the shipped example's keys) with these settings. */
    writeConfig(change: Partial<AgentConfig>): void {
        this.config = { ...this.config, ...change };
        writeFileSync(
            this.conf,
            [
                "# written by tests/support/device-agent.ts",
                `BRIDGE_URL=${this.config.bridgeUrl}`,
                `DEVICE_ID="${this.config.deviceId}"`,
                `ROOT_CA_FILE=${this.rootCaFile}`,
                `ENROLLMENT_TOKEN_FILE=${this.tokenFile}`,
                "",
            ].join("\n"),
            { mode: 0o644 },
        );
    }

    writeToken(token: string): void {
        writeFileSync(this.tokenFile, `${token}\n`, { mode: 0o600 });
    }

    /** The variables every test run gets: this root, nothing system-wide, short retries. */
    env(extra: Record<string, string> = {}): Record<string, string> {
        return {
            PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
            CDM_ENROLL_CONF: this.conf,
            CDM_STATE_DIR: this.state,
            CDM_ETC_DIR: this.etc,
            CDM_NO_TRUST_STORE: "1",
            CDM_NO_SERVICES: "1",
            CDM_RETRY_BASE_SECONDS: "1",
            CDM_RETRY_MAX_SECONDS: "2",
            CDM_MAX_ATTEMPTS: "8",
            CDM_CONNECT_TIMEOUT: "5",
            CDM_HTTP_TIMEOUT: "30",
            ...extra,
        };
    }

    /**
     * Runs `sh cdm-enroll <args>` (asynchronously: a fault proxy in this process must keep
     * answering), inside network namespace `netns` when given.
     */
    run(args: string[] = [], extra: Record<string, string> = {}, netns?: string): Promise<AgentRun> {
        const command = [...(netns ? ["ip", "netns", "exec", netns] : []), "sh", agentScript, ...args];
        const started = Date.now();
        return new Promise((resolve, reject) => {
            const child = spawn(command[0], command.slice(1), {
                env: this.env(extra),
                stdio: ["ignore", "pipe", "pipe"],
            });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            const timer = setTimeout(() => child.kill("SIGKILL"), 110_000);
            child.on("error", reject);
            child.on("close", (status) => {
                clearTimeout(timer);
                resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 });
            });
        });
    }

    /** Every file and directory under the root but the shipped root CA, relative path → octal mode. */
    tree(): Record<string, string> {
        const out: Record<string, string> = {};
        const walk = (dir: string) => {
            for (const entry of readdirSync(dir, { withFileTypes: true })) {
                const path = join(dir, entry.name);
                const rel = relative(this.root, path);
                if (rel.startsWith("usr")) continue;
                out[rel + (entry.isDirectory() ? "/" : "")] = (statSync(path).mode & 0o7777).toString(8);
                if (entry.isDirectory()) walk(path);
            }
        };
        walk(this.root);
        return out;
    }

    /** Modification times in ms of every file (to show a run rewrote nothing). */
    mtimes(): Record<string, number> {
        return Object.fromEntries(
            Object.keys(this.tree())
                .filter((p) => !p.endsWith("/"))
                .map((p) => [p, statSync(join(this.root, p)).mtimeMs]),
        );
    }

    read(rel: string): string {
        return readFileSync(join(this.root, rel), "utf8");
    }

    remove(): void {
        rmSync(this.root, { recursive: true, force: true });
    }
}

/** KEY='value' lines of an environment file (the agent's format). */
export function parseEnvFile(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const m = /^([A-Z_]+)='([^']*)'$/.exec(line);
        if (m) out[m[1]] = m[2];
        else if (line.trim() !== "" && !line.startsWith("#")) throw new Error(`not KEY='value': ${line}`);
    }
    return out;
}

/** An INI file (GKeyFile, as rauc-hawkbit-updater reads it): section → key → value. */
export function parseIni(text: string): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    let section = "";
    for (const line of text.split("\n")) {
        if (line.trim() === "" || line.startsWith("#")) continue;
        const header = /^\[([^\]]+)\]$/.exec(line);
        if (header) {
            section = header[1];
            out[section] = {};
            continue;
        }
        const m = /^([A-Za-z_]+) = (.*)$/.exec(line);
        if (!m || !section) throw new Error(`not a key = value line in a section: ${line}`);
        out[section][m[1]] = m[2];
    }
    return out;
}

/** What the fault proxy does with one request. */
export type Fault =
    /** Answers this status and body itself. */
    | { readonly status: number; readonly body: string; readonly headers?: Record<string, string> }
    /** Sends the headers of a 201 with the full length, half the body, then drops the connection. */
    | "cut"
    /** Never answers (the agent's own timeout must end the request). */
    | "hang"
    /** Passes the request to the real bridge and its answer back. */
    | "forward";

/** A request the proxy received. */
export interface ProxiedRequest {
    readonly method: string;
    readonly path: string;
    readonly body: any;
    readonly fault: Fault;
}

/**
 * TEST-ONLY FAULT INJECTION: an HTTPS proxy in front of the real bridge that answers each request
 * with the next of `faults` (then forwards), to show how the agent copes with a misbehaving
 * server. Its certificate chains to the platform root, as the bridge's does.
 */
export class FaultInjectionProxy {
    readonly requests: ProxiedRequest[] = [];
    private faults: Fault[] = [];
    private readonly hung = new Set<Socket>();
    private server?: Server;

    constructor(
        private readonly upstream: string,
        private readonly rootPem: string,
        private readonly tls: { certPem: string; keyPem: string },
    ) {}

    /** Listens on 127.0.0.1:`port`; answers its base URL (https://localhost:port). */
    async listen(port: number): Promise<string> {
        this.server = createServer({ cert: this.tls.certPem, key: this.tls.keyPem }, (req, res) =>
            this.handle(req, res),
        );
        await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
        return `https://localhost:${port}`;
    }

    /** The faults for the next requests, in order; requests after them are forwarded. */
    script(faults: Fault[]): void {
        this.faults = [...faults];
        this.requests.length = 0;
    }

    private handle(req: IncomingMessage, res: ServerResponse): void {
        let text = "";
        req.on("data", (d: Buffer) => (text += d.toString()));
        req.on("end", () => {
            const fault = this.faults.shift() ?? "forward";
            let body: unknown;
            try {
                body = JSON.parse(text);
            } catch {
                body = text;
            }
            this.requests.push({ method: req.method ?? "", path: req.url ?? "", body, fault });
            if (fault === "hang") {
                this.hung.add(req.socket);
                return;
            }
            if (fault === "cut") {
                const full = JSON.stringify({ device_id: "cut", certificate_pem: "x".repeat(400) });
                res.writeHead(201, { "content-type": "application/json", "content-length": full.length });
                res.write(full.slice(0, 200), () => req.socket.destroy());
                return;
            }
            if (fault !== "forward") {
                res.writeHead(fault.status, { "content-type": "application/json", ...(fault.headers ?? {}) });
                res.end(fault.body);
                return;
            }
            const upstream = httpsRequest(
                `${this.upstream}${req.url}`,
                {
                    method: req.method,
                    ca: this.rootPem,
                    agent: false,
                    headers: { "content-type": "application/json" },
                },
                (answer) => {
                    let out = "";
                    answer.on("data", (d: Buffer) => (out += d.toString()));
                    answer.on("end", () => {
                        res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" });
                        res.end(out);
                    });
                },
            );
            upstream.on("error", (e) => {
                res.writeHead(502, { "content-type": "application/json" });
                res.end(JSON.stringify({ error: "proxy", message: e.message }));
            });
            upstream.end(text);
        });
    }

    close(): Promise<void> {
        for (const socket of this.hung) socket.destroy();
        return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }
}
