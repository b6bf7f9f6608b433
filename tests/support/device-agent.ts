/**
 * The device enrollment agent (device-image/rootfs/usr/sbin/cdm-enroll and its libraries in
 * usr/lib/cdm) as the integration tests run it: the real script under `sh`,
 * unprivileged-in-a-tempdir (its state and /etc under a temporary root, the system trust store
 * and services left alone unless a test asks), optionally inside a network namespace; and what
 * the tests read back: its files, their modes, its log, the certificates it keeps.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { x509 } from "../../runtime/shared/x509";
import { projectRoot } from "../../tools/stack-config";

/** The agent script, as it goes into a device image. */
export const agentScript = join(projectRoot, "device-image/rootfs/usr/sbin/cdm-enroll");

/** Its libraries (/usr/lib/cdm on a device), which it finds beside itself (../lib/cdm). */
export const agentLibDir = join(projectRoot, "device-image/rootfs/usr/lib/cdm");

/**
 * Every shell file of the agent: the script, then its libraries by name. (ota.sh beside them is
 * the OTA scripts' library, cdm-ota-confirm's and RAUC's handler's, not the agent's.)
 */
export function agentShellFiles(): string[] {
    const libraries = readdirSync(agentLibDir).filter((name) => name.endsWith(".sh") && name !== "ota.sh");
    return [agentScript, ...libraries.sort().map((name) => join(agentLibDir, name))];
}

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

/** Files and modes of a device root after a full enrollment (the token deleted). */
export const enrolledTree = {
    "etc/": "755",
    "etc/cdm/": "755",
    "etc/cdm/enroll.conf": "644",
    "etc/cdm/mqtt.conf": "644",
    "etc/cdm/telegraf.env": "600",
    "etc/cdm/ttyd.env": "600",
    "etc/rauc-hawkbit-updater/": "755",
    "etc/rauc-hawkbit-updater/config.conf": "600",
    "etc/wireguard/": "700",
    "etc/wireguard/wg0.conf": "600",
    "state/": "700",
    "state/chain.pem": "600",
    "state/device.crt": "600",
    "state/device.key": "600",
    "state/enrollment.json": "600",
    "state/fullchain.pem": "600",
    "state/root-ca.pem": "600",
    "state/wireguard.key": "600",
    "state/wireguard.pub": "600",
};

/** What is left of a device whose enrollment was refused: its keys, its config and its token. */
export const refusedTree = {
    "etc/": "755",
    "etc/cdm/": "755",
    "etc/cdm/enroll.conf": "644",
    "etc/cdm/enrollment-token": "600",
    "state/": "700",
    "state/device.key": "600",
    "state/wireguard.key": "600",
    "state/wireguard.pub": "600",
};

/** The stderr lines of a run, without the variable retry delay. */
export function lines(stderr: string): string[] {
    return stderr
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(/retrying in [12]s$/, "retrying in Ns"));
}

export function openssl(args: string[], input?: string): string {
    return execFileSync("openssl", args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** `openssl verify` of the device's certificate with its stored chain against its stored root. */
export function verifyDeviceCertificate(state: string): string {
    return openssl([
        "verify",
        "-no-CApath",
        "-CAfile",
        join(state, "root-ca.pem"),
        "-untrusted",
        join(state, "chain.pem"),
        join(state, "device.crt"),
    ]);
}

/** The certificates of a PEM bundle, in order. */
export function certificates(pem: string): x509.X509Certificate[] {
    return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
        (p) => new x509.X509Certificate(p),
    );
}
