/**
 * The VPN pod's containers as the cluster would run them, inside a network namespace: the
 * server's entrypoint (runtime/wireguard-server/start.sh) with the environment the program
 * renders, and `wg` for the peer agent, each as root with exactly the capabilities its security
 * exception declares (setpriv bounds them, as the container runtime does; no new privileges, as
 * `allowPrivilegeEscalation: false` asks). Needs root.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { exceptionFor } from "../../components/k8s/security";
import { wireguardContainers, wireguardExceptions } from "../../components/wireguard/server";
import { projectRoot } from "../../tools/stack-config";
import { Namespace } from "./netns";

/** `setpriv` arguments giving root only the capabilities container `name` is granted. */
export function containerPrivileges(name: string): string[] {
    const exception = exceptionFor(name, wireguardExceptions);
    if (!exception?.runAsRoot) throw new Error(`container ${name} does not run as root`);
    const caps = ["-all", ...(exception.addCapabilities ?? []).map((c) => `+${c.toLowerCase()}`)].join(",");
    return [
        "setpriv",
        "--reuid=0",
        "--regid=0",
        "--clear-groups",
        `--inh-caps=${caps}`,
        `--bounding-set=${caps}`,
        "--no-new-privs",
    ];
}

/** The `wg` command the peer agent's container runs, inside namespace `ns`. */
export function agentWg(ns: Namespace): string[] {
    return ["ip", "netns", "exec", ns.name, ...containerPrivileges("peer-agent"), "wg"];
}

/** A running server container; `stop` sends SIGTERM and waits for it to end. */
export interface ServerContainer {
    readonly process: ChildProcess;
    output(): string;
    stop(): Promise<number | null>;
}

/**
 * Starts the server container's entrypoint in `ns` on interface `iface` (a name unique to the
 * test, since wireguard-go's control socket lives in the host's /run) with the program's env for
 * this range and port, and waits until the interface listens.
 */
export async function startServerContainer(
    ns: Namespace,
    options: {
        iface: string;
        keyFile: string;
        firewallFile: string;
        cidr: { network: string; prefixLength: number };
        port: number;
    },
): Promise<ServerContainer> {
    const [server] = wireguardContainers({
        image: "unused",
        cidr: options.cidr,
        port: options.port,
        bridgeUrl: "unused",
        bridgeServerName: "unused",
        tokenSecret: "unused",
    });
    const env = {
        ...(server.env as Record<string, string>),
        WG_INTERFACE: options.iface,
        WG_PRIVATE_KEY_FILE: options.keyFile,
        WG_FIREWALL_FILE: options.firewallFile,
    };
    const script = join(projectRoot, "runtime/wireguard-server/start.sh");
    const child = spawn("ip", ["netns", "exec", ns.name, ...containerPrivileges("wireguard"), script], {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    for (;;) {
        const listening = spawnSync(
            "ip",
            ["netns", "exec", ns.name, "wg", "show", options.iface, "listen-port"],
            {
                encoding: "utf8",
            },
        ).stdout.trim();
        if (listening === String(options.port) && output.includes("listening on")) break;
        if (child.exitCode !== null || Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`the WireGuard server container did not come up:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        process: child,
        output: () => output,
        stop: async () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            return exited;
        },
    };
}
