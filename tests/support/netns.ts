/**
 * Network namespaces joined by veth pairs, with real WireGuard (wireguard-go and wg from
 * scripts/peers/wireguard.sh) inside them, for the VPN's integration tests. Needs root.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bridgeUid } from "../../components/bridge/env";
import { projectRoot } from "../../tools/stack-config";

/** The terminal proxy's uid in the VPN pod: the only one the packet filter lets reach ttyd. */
export const proxyUid = bridgeUid;
/** A command's prefix running it as the terminal proxy's user (the pod's other containers are root). */
export const asProxy = ["setpriv", `--reuid=${proxyUid}`, `--regid=${proxyUid}`, "--clear-groups"];

/** Installs wireguard-go, wg, iproute2 and iptables if needed. */
export function installWireguard(): void {
    execFileSync(join(projectRoot, "scripts/peers/wireguard.sh"), ["install"], { stdio: "inherit" });
}

const keysDir = mkdtempSync(join(tmpdir(), "wg-keys-"));

/** A fresh WireGuard key pair from `wg genkey`/`wg pubkey`; `file` holds the private key. */
export function wireguardKeys(name: string): { privateKey: string; publicKey: string; file: string } {
    const privateKey = execFileSync("wg", ["genkey"], { encoding: "utf8" }).trim();
    const publicKey = execFileSync("wg", ["pubkey"], { input: privateKey, encoding: "utf8" }).trim();
    const file = join(keysDir, name);
    writeFileSync(file, privateKey, { mode: 0o600 });
    return { privateKey, publicKey, file };
}

/** A network namespace; `exec` runs a command inside it. */
export class Namespace {
    private readonly interfaces: string[] = [];

    constructor(readonly name: string) {
        execFileSync("ip", ["netns", "add", name]);
        this.exec("ip", "link", "set", "lo", "up");
    }

    exec(...args: string[]): string {
        return this.execWithInput("", ...args);
    }

    /** Runs a command inside with `input` on its standard input; a failure's error carries its stderr. */
    execWithInput(input: string, ...args: string[]): string {
        return execFileSync("ip", ["netns", "exec", this.name, ...args], {
            input,
            encoding: "utf8",
            timeout: 20_000,
            // Not printed: wireguard-go's banner about the kernel module on every start.
            stdio: "pipe",
        });
    }

    /** Runs a command inside; answers its exit status instead of throwing. */
    status(...args: string[]): number {
        return spawnSync("ip", ["netns", "exec", this.name, ...args], { timeout: 20_000 }).status ?? -1;
    }

    /** Starts wireguard-go for `iface` (it daemonizes) with this private key, listening on `port`. */
    wireguard(iface: string, keyFile: string, address: string, port?: number): void {
        this.exec("wireguard-go", iface);
        this.interfaces.push(iface);
        this.exec("wg", "set", iface, "private-key", keyFile, ...(port ? ["listen-port", String(port)] : []));
        this.exec("ip", "address", "add", address, "dev", iface);
        this.exec("ip", "link", "set", iface, "up");
    }

    /** Deletes the namespace and stops its wireguard-go daemons (they outlive their namespace). */
    delete(): void {
        for (const iface of this.interfaces) spawnSync("pkill", ["-f", `^wireguard-go ${iface}$`]);
        spawnSync("ip", ["netns", "delete", this.name]);
    }
}

/** Joins two namespaces with a veth pair and gives each end an address (CIDR). */
export function link(a: Namespace, addressA: string, b: Namespace, addressB: string, name: string): void {
    execFileSync("ip", ["link", "add", `${name}a`, "type", "veth", "peer", "name", `${name}b`]);
    execFileSync("ip", ["link", "set", `${name}a`, "netns", a.name]);
    execFileSync("ip", ["link", "set", `${name}b`, "netns", b.name]);
    a.exec("ip", "address", "add", addressA, "dev", `${name}a`);
    b.exec("ip", "address", "add", addressB, "dev", `${name}b`);
    a.exec("ip", "link", "set", `${name}a`, "up");
    b.exec("ip", "link", "set", `${name}b`, "up");
}
