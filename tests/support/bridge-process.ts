/**
 * The bridge as its own process (runtime/bridge/main.ts under tsx), configured by environment
 * variables exactly as the deployment configures it, so tests can SIGKILL and restart it.
 */
import { ChildProcess, spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { projectRoot } from "../../tools/stack-config";

export interface BridgeProcess {
    /** The API's base URL. */
    readonly url: string;
    readonly managementUrl: string;
    readonly log: () => string;
    /** Sends `signal` and waits for the process to exit; resolves its exit code (or signal). */
    stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts the bridge with `env` and waits until it is ready (or fails with its output). */
export async function startBridgeProcess(env: Record<string, string>): Promise<BridgeProcess> {
    let output = "";
    // Node itself with tsx's loader, not the tsx command: that one runs the program in a child
    // process of its own, which a SIGKILL of the command would leave running.
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "runtime/bridge/main.ts"], {
        cwd: projectRoot,
        env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const scheme = env.BRIDGE_TLS_CERT_FILE ? "https" : "http";
    const url = `${scheme}://localhost:${env.BRIDGE_PORT}`;
    const managementUrl = `http://127.0.0.1:${env.BRIDGE_MANAGEMENT_PORT}`;
    const exited = new Promise<number | string>((resolve) =>
        child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`bridge exited ${child.exitCode}:\n${output}`);
        const ready = await fetch(`${managementUrl}/readyz`).then(
            (r) => r.ok,
            () => false,
        );
        if (ready) break;
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`bridge did not become ready:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    return {
        url,
        managementUrl,
        log: () => output,
        stop: (signal = "SIGTERM") => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
        },
    };
}

/** A JSON call over HTTPS trusting `rootPem`, with a bearer token or a client certificate. */
export function httpsJson(
    url: string,
    rootPem: string,
    method: string,
    body?: unknown,
    options: { bearer?: string; identity?: { cert: string; key: string } } = {},
): Promise<{ status: number; json: any }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
        const req = httpsRequest(
            url,
            {
                method,
                ca: rootPem,
                agent: false,
                ...(options.identity ?? {}),
                headers: {
                    ...(payload ? { "content-type": "application/json" } : {}),
                    ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
                },
            },
            (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () =>
                    resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }),
                );
            },
        );
        req.on("error", reject);
        req.end(payload);
    });
}
