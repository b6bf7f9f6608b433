/**
 * The WireGuard interface's peers, read and changed with `wg` (wireguard-tools), live: adding or
 * removing a peer never restarts the interface or disturbs the other peers' sessions.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Peer } from "../bridge/peer-feed";

const run = promisify(execFile);

/** A change to the interface: give `publicKey` exactly `address`/32, or remove it. */
export type PeerOperation =
    | { readonly op: "set"; readonly publicKey: string; readonly address: string }
    | { readonly op: "remove"; readonly publicKey: string };

/**
 * What makes the interface's peers equal `desired`: removals of peers that should not be there
 * (or whose address changed are re-set), then additions. Peers already right are left alone.
 */
export function planResync(current: ReadonlyMap<string, string>, desired: readonly Peer[]): PeerOperation[] {
    const wanted = new Map(desired.map((p) => [p.publicKey, `${p.address}/32`]));
    const removals: PeerOperation[] = [...current.keys()]
        .filter((key) => !wanted.has(key))
        .sort()
        .map((publicKey) => ({ op: "remove", publicKey }));
    const sets: PeerOperation[] = [...wanted]
        .filter(([key, ips]) => current.get(key) !== ips)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([publicKey, ips]) => ({ op: "set", publicKey, address: ips.replace(/\/32$/, "") }));
    return [...removals, ...sets];
}

/** Peers per `wg set`: an argument list of about 100 KB, far below the kernel's limits. */
const peersPerCall = 1000;

/**
 * The `wg set` argument lists applying `operations` in order, `perCall` peers each: `wg` applies
 * a call's peers in order, so a removal still precedes a later set of the same key or address.
 */
export function wgSetCalls(
    iface: string,
    operations: readonly PeerOperation[],
    perCall = peersPerCall,
): string[][] {
    const calls: string[][] = [];
    for (let i = 0; i < operations.length; i += perCall) {
        calls.push(["set", iface, ...operations.slice(i, i + perCall).flatMap(peerArguments)]);
    }
    return calls;
}

function peerArguments(o: PeerOperation): string[] {
    return o.op === "set"
        ? ["peer", o.publicKey, "allowed-ips", `${o.address}/32`]
        : ["peer", o.publicKey, "remove"];
}

/** `wg` on one interface; `command` is how to run `wg` (for example inside a network namespace). */
export class WireguardInterface {
    constructor(
        readonly name: string,
        private readonly command: readonly string[] = ["wg"],
    ) {}

    /** The peers and their allowed IPs (`key` → `10.8.0.2/32`, or "" when none). */
    async peers(): Promise<Map<string, string>> {
        const { stdout } = await this.wg("show", this.name, "allowed-ips");
        const peers = new Map<string, string>();
        for (const line of stdout.split("\n").filter(Boolean)) {
            const [key, ips] = line.split("\t");
            peers.set(key, ips === "(none)" ? "" : ips.trim().split(" ").sort().join(","));
        }
        return peers;
    }

    /** Applies operations in order, many peers per `wg set`. */
    async apply(operations: readonly PeerOperation[]): Promise<void> {
        for (const args of wgSetCalls(this.name, operations)) await this.wg(...args);
    }

    private wg(...args: string[]): Promise<{ stdout: string }> {
        const [file, ...prefix] = this.command;
        return run(file, [...prefix, ...args], { timeout: 10_000 });
    }
}
