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
import { link, Namespace } from "./netns";

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
        // The pod keeps the tunnel up 33 s after SIGTERM for the terminal proxy's drain; a second here.
        WG_STOP_DELAY_SECONDS: "1",
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

/** What a device's tunnel is configured from: its enrollment answer's `wireguard` part. */
export interface DeviceVpnSettings {
    readonly address: string;
    readonly server_public_key: string;
    readonly allowed_ips: readonly string[];
}

/**
 * Joins device namespace `device` to the server namespace `server` by a veth pair on
 * 192.168.<70+n>.0/24 and brings up its WireGuard tunnel from its enrollment answer (the
 * server's endpoint on that link), routing `allowedIps` (the answer's, unless overridden)
 * through it. Answers the device's VPN address, without its prefix.
 */
export function joinDevice(
    server: Namespace,
    device: Namespace,
    n: number,
    tag: string,
    keyFile: string,
    vpn: DeviceVpnSettings,
    allowedIps?: string,
): string {
    link(server, `192.168.${70 + n}.1/24`, device, `192.168.${70 + n}.2/24`, `v${n}${tag}`);
    const iface = `wgd${n}${tag}`;
    device.wireguard(iface, keyFile, vpn.address);
    const allowed = allowedIps ?? vpn.allowed_ips.join(",");
    device.exec(
        "wg",
        "set",
        iface,
        "peer",
        vpn.server_public_key,
        "endpoint",
        `192.168.${70 + n}.1:51820`,
        "allowed-ips",
        allowed,
        "persistent-keepalive",
        "1",
    );
    for (const route of allowed.split(",")) device.exec("ip", "route", "replace", route, "dev", iface);
    return vpn.address.replace("/32", "");
}
