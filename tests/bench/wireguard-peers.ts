/**
 * The peer-sync agent on real WireGuard: wireguard-go and wg in a network namespace the bench
 * makes and always deletes (root only).
 * - Applying N peers to an empty interface the agent's way (read the interface, planResync,
 *   batched `wg set`), as a ratio against one `wg setconf` of a file with the same peers. Every
 *   run is checked: the interface must then hold exactly those peers.
 * - Propagation: from a device's enrollment committing at the tenant bridge (its real enrollment
 *   and peer-feed code on a real PostgreSQL; a local signer and in-memory OTA targets, as in the
 *   enrollment bench) to its peer being on the interface through a running PeerAgent long polling
 *   the bridge over HTTPS, as a ratio against one direct `wg set` of the same peer.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Database, pgDatabase } from "../../runtime/bridge/db/database";
import { migrate } from "../../runtime/bridge/db/migrations";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { Peer, PeerFeed } from "../../runtime/bridge/peer-feed";
import { PeerAgent } from "../../runtime/peer-agent/agent";
import { planResync, PeerOperation, WireguardInterface } from "../../runtime/peer-agent/wireguard";
import { formatIpv4, parseIpv4 } from "../../runtime/shared/ipv4";
import { listeningTenantBridge, wireguardKey } from "../support/bridge";
import { installWireguard, Namespace, wireguardKeys } from "../support/netns";
import { freshDatabase, pgPool, stopPeer } from "../support/peers";
import { csr, ecKey } from "../support/pki";
import { median, Scenario, scenario } from "./scenario";

/** Why the WireGuard scenarios cannot run here, or undefined (a full run installs what is missing). */
export function wireguardUnavailable(quick: boolean): string | undefined {
    if (process.getuid?.() !== 0) return "network namespaces need root";
    const installed = ["wireguard-go", "wg"].every((tool) => !spawnSync(tool, ["--version"]).error);
    if (installed) return undefined;
    if (quick) return "wireguard-go or wg not installed; run scripts/peers/wireguard.sh install";
    installWireguard();
    return undefined;
}

export async function wireguardPeers(quick: boolean): Promise<Scenario[]> {
    const scenarios = [await applyPeers(quick)];
    // A quick run never installs PostgreSQL (scripts/peers/postgres.sh would).
    if (quick && !existsSync("/usr/lib/postgresql")) {
        console.log("wireguard-peer-propagation: skipped in --quick (PostgreSQL not installed)");
    } else {
        scenarios.push(await propagation(quick));
    }
    return scenarios;
}

/** A WireGuard interface, up, in a namespace of its own. */
interface BenchInterface {
    readonly ns: Namespace;
    readonly name: string;
    readonly privateKey: string;
    /** How to run `wg` inside the namespace. */
    readonly wg: readonly string[];
}

/** Runs `work` on a fresh interface; the namespace and its wireguard-go go away however it ends. */
async function withInterface<T>(work: (iface: BenchInterface) => Promise<T>): Promise<T> {
    const tag = randomBytes(3).toString("hex");
    const ns = new Namespace(`cdm-bench-${tag}`);
    const interrupted = () => {
        ns.delete();
        process.exit(130);
    };
    process.once("SIGINT", interrupted);
    process.once("SIGTERM", interrupted);
    try {
        const name = `wgb${tag}`;
        const key = wireguardKeys(`bench-${tag}`);
        ns.wireguard(name, key.file, "10.8.0.1/16", 51820);
        return await work({
            ns,
            name,
            privateKey: key.privateKey,
            wg: ["ip", "netns", "exec", ns.name, "wg"],
        });
    } finally {
        process.off("SIGINT", interrupted);
        process.off("SIGTERM", interrupted);
        ns.delete();
    }
}

/** Throws unless the interface holds exactly `expected` (key → `address/32`). */
function checkPeers(actual: ReadonlyMap<string, string>, expected: ReadonlyMap<string, string>): void {
    const wrong = [...expected].filter(([key, ips]) => actual.get(key) !== ips).length;
    if (wrong > 0 || actual.size !== expected.size) {
        throw new Error(
            `the interface holds ${actual.size} peers; ${wrong} of the ${expected.size} expected are missing or wrong`,
        );
    }
}

/** Milliseconds `work` takes. */
async function elapsed(work: () => unknown): Promise<number> {
    const start = performance.now();
    await work();
    return performance.now() - start;
}

async function applyPeers(quick: boolean): Promise<Scenario> {
    const count = quick ? 2000 : 10_000;
    const runs = quick ? 3 : 5;
    const first = parseIpv4("10.8.0.2")!;
    const peers: Peer[] = Array.from({ length: count }, (_, i) => ({
        deviceId: `bench-${i}`,
        publicKey: wireguardKey(),
        address: formatIpv4(first + i),
    }));
    const expected = new Map(peers.map((p) => [p.publicKey, `${p.address}/32`]));
    const dir = mkdtempSync(join(tmpdir(), "wg-bench-"));
    try {
        return await withInterface(async (iface) => {
            const wg = new WireguardInterface(iface.name, iface.wg);
            const device = `[Interface]\nPrivateKey = ${iface.privateKey}\nListenPort = 51820\n`;
            const sections = peers.map(
                (p) => `[Peer]\nPublicKey = ${p.publicKey}\nAllowedIPs = ${p.address}/32\n`,
            );
            const full = join(dir, "peers.conf");
            const empty = join(dir, "empty.conf");
            writeFileSync(full, device + sections.join(""), { mode: 0o600 });
            writeFileSync(empty, device, { mode: 0o600 });
            const setconf = (file: string) => iface.ns.exec("wg", "setconf", iface.name, file);
            const agentTimes: number[] = [];
            const setconfTimes: number[] = [];
            for (let run = 0; run < runs; run++) {
                checkPeers(await wg.peers(), new Map());
                agentTimes.push(await elapsed(async () => wg.apply(planResync(await wg.peers(), peers))));
                checkPeers(await wg.peers(), expected);
                setconf(empty);
                checkPeers(await wg.peers(), new Map());
                setconfTimes.push(await elapsed(() => setconf(full)));
                checkPeers(await wg.peers(), expected);
                setconf(empty);
            }
            return scenario(
                `wireguard-apply-${count}-peers`,
                `time to put ${count} peers on an empty wireguard-go interface: the agent (read, plan, wg set of 1000 peers at a time) against one wg setconf (median of ${runs})`,
                "ms",
                median(agentTimes),
                median(setconfTimes),
            );
        });
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** The bridge's peer feed, noting when an enrollment committed (it notifies right after). */
class CommitClock extends PeerFeed {
    committedAt = 0;

    override notify(): void {
        this.committedAt = performance.now();
        super.notify();
    }
}

/**
 * The agent's interface, telling when an apply that changed something returned: `wg set` has
 * exited, so wireguard-go holds the peer. Hooking here rather than polling `wg show` keeps the
 * measurement free of a poll interval and of a second stream of processes competing with the
 * agent's; each peer is then checked with `wg show` outside the timing.
 */
class ApplyClock extends WireguardInterface {
    readonly applied = new EventEmitter();

    override async apply(operations: readonly PeerOperation[]): Promise<void> {
        await super.apply(operations);
        if (operations.length > 0) this.applied.emit("applied", performance.now());
    }
}

/** The tenant bridge over `db` on loopback, its peer feed noting commits. */
async function listeningBridge(db: Database) {
    const feed = new CommitClock(db);
    return { ...(await listeningTenantBridge(db, feed)), feed };
}

async function propagation(quick: boolean): Promise<Scenario> {
    const pool = pgPool(await freshDatabase("bridge_wireguard_bench"), 8);
    const db = pgDatabase(pool);
    try {
        await migrate(db);
        const bridge = await listeningBridge(db);
        try {
            return await withInterface((iface) => measurePropagation(db, bridge, iface, quick ? 10 : 50));
        } finally {
            await bridge.app.close();
        }
    } finally {
        await db.close();
        stopPeer("postgres");
    }
}

/**
 * Enrolls devices one at a time while an agent follows the bridge: for each, the time from commit
 * to the agent's `wg set` returning, and that of a direct `wg set` of the same peer.
 */
async function measurePropagation(
    db: Database,
    bridge: Awaited<ReturnType<typeof listeningBridge>>,
    iface: BenchInterface,
    count: number,
): Promise<Scenario> {
    const warmUp = 3;
    const key = await ecKey();
    const ids = Array.from({ length: warmUp + count }, (_, i) => `wg-bench-${i}`);
    const csrs = await Promise.all(ids.map((id) => csr(key, id)));
    const batch = await issueToken(db, { maxUses: ids.length, ttlSeconds: 3600, createdBy: "bench" });
    const wg = new ApplyClock(iface.name, iface.wg);
    const agent = new PeerAgent({
        bridgeUrl: bridge.url,
        serverName: "localhost",
        token: bridge.tenant.serviceTokens.peerAgent,
        caPem: bridge.rootPem,
        wireguard: wg,
        waitSeconds: 20,
        log: { info: () => undefined, warn: (details) => console.warn("peer agent:", details) },
    });
    await agent.resync();
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    try {
        const latencies: number[] = [];
        const direct: number[] = [];
        const enrolled = new Map<string, string>();
        for (let i = 0; i < ids.length; i++) {
            const publicKey = wireguardKey();
            const applied = once(wg.applied, "applied", { signal: AbortSignal.timeout(10_000) });
            const res = await bridge.app.inject({
                method: "POST",
                url: `/devices/${ids[i]}/enroll`,
                payload: { csr_pem: csrs[i], wireguard_public_key: publicKey, enrollment_token: batch.token },
            });
            if (res.statusCode !== 201) {
                throw new Error(`enrollment answered ${res.statusCode}: ${res.body}`);
            }
            const [appliedAt] = (await applied) as [number];
            const address: string = res.json().wireguard.address;
            enrolled.set(publicKey, address);
            if ((await wg.peers()).get(publicKey) !== address) {
                throw new Error(`the agent did not put ${ids[i]}'s peer on the interface`);
            }
            iface.ns.exec("wg", "set", iface.name, "peer", publicKey, "remove");
            const set = await elapsed(() =>
                iface.ns.exec("wg", "set", iface.name, "peer", publicKey, "allowed-ips", address),
            );
            if (i >= warmUp) {
                latencies.push(appliedAt - bridge.feed.committedAt);
                direct.push(set);
            }
        }
        checkPeers(await wg.peers(), enrolled);
        return scenario(
            "wireguard-peer-propagation",
            `enrollment commit to its peer on the interface through the peer agent's long poll, against one direct wg set of that peer (median of ${count})`,
            "ms",
            median(latencies),
            median(direct),
        );
    } finally {
        stop.abort();
        await running;
    }
}
