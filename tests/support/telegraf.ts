/**
 * The real Telegraf (scripts/peers/telegraf.sh: 1.39.2 built with the platform's plugins) run on
 * configurations the program renders: once (`--test`) or as a service with its health output.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TomlTable } from "../../components/telegraf/toml";
import { projectRoot } from "../../tools/stack-config";

/** Builds Telegraf if needed; its path. */
export function installTelegraf(): string {
    return execFileSync(join(projectRoot, "scripts/peers/telegraf.sh"), ["install"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    }).trim();
}

/**
 * `[[outputs.file]]` in place of InfluxDB: each metric as the line InfluxDB would be sent, fields
 * sorted so that a line can be compared exactly.
 */
export function fileOutput(path: string): TomlTable {
    return {
        name: "outputs.file",
        array: true,
        values: { files: [path], data_format: "influx", influx_sort_fields: true },
    };
}

/** One line of line protocol, split (the tests' values need no escaping). */
export interface Line {
    readonly measurement: string;
    readonly tags: Record<string, string>;
    readonly fields: Record<string, string>;
    readonly timestamp: string;
}

export function parseLine(line: string): Line {
    const [series, fieldSet, timestamp] = line.split(" ");
    const [measurement, ...tags] = series.split(",");
    const pairs = (items: string[]) =>
        Object.fromEntries(
            items.map((item) => [item.slice(0, item.indexOf("=")), item.slice(item.indexOf("=") + 1)]),
        );
    return { measurement, tags: pairs(tags), fields: pairs(fieldSet.split(",")), timestamp };
}

/** A running Telegraf; its log (stderr) is kept. */
export class TelegrafProcess {
    private readonly child: ChildProcess;
    private readonly exit: Promise<number | null>;
    log = "";

    /** Starts `binary` on `config` (written to `dir`) with `env` added to this process's environment. */
    constructor(binary: string, dir: string, config: string, env: Record<string, string>) {
        const file = join(dir, "telegraf.conf");
        writeFileSync(file, config, { mode: 0o600 });
        this.child = spawn(binary, ["--config", file], {
            env: { ...process.env, ...env },
            stdio: ["ignore", "ignore", "pipe"],
        });
        this.child.stderr!.on("data", (chunk: Buffer) => (this.log += chunk.toString()));
        this.exit = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    }

    get running(): boolean {
        return this.child.exitCode === null && this.child.signalCode === null;
    }

    /** Waits until `outputs.health` on `port` answers 200. */
    async healthy(port: number, timeoutMs = 20_000): Promise<void> {
        const until = Date.now() + timeoutMs;
        while (Date.now() < until) {
            if (!this.running) throw new Error(`telegraf exited:\n${this.log}`);
            const status = await fetch(`http://127.0.0.1:${port}/`).then(
                (r) => r.status,
                () => 0,
            );
            if (status === 200) return;
            await sleep(200);
        }
        throw new Error(`telegraf's health output did not answer on ${port}:\n${this.log}`);
    }

    /** Stops it as Kubernetes does (SIGTERM: Telegraf flushes its outputs first); its exit code. */
    async stop(): Promise<number | null> {
        if (this.running) this.child.kill("SIGTERM");
        return this.exit;
    }
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await sleep(250);
    }
}
