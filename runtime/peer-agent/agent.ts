import { PeerFeedPage } from "../bridge/peer-feed";
import { bridgeGet } from "../shared/bridge-client";
import { planResync, PeerOperation, WireguardInterface } from "./wireguard";

/** Where the agent follows the peer list. */
export interface PeerAgentOptions {
    /** The tenant bridge's base URL. */
    readonly bridgeUrl: string;
    /** The peer agent's service credential at the bridge. */
    readonly token: string;
    /** The CA the bridge's certificate chains to (PEM). */
    readonly caPem: string;
    /**
     * The name the bridge's certificate is checked against when it differs from the URL's host
     * (the certificate names the public host; the agent calls the in-cluster Service).
     */
    readonly serverName?: string;
    readonly wireguard: WireguardInterface;
    /** How long one long poll waits for a change (the bridge allows up to 55 s). */
    readonly waitSeconds: number;
    readonly log: {
        info(details: Record<string, unknown>, message: string): void;
        warn(details: Record<string, unknown>, message: string): void;
    };
}

/** The operations of a page of changes, in order. */
export function changeOperations(page: Extract<PeerFeedPage, { kind: "changes" }>): PeerOperation[] {
    return page.changes.map((c) =>
        c.op === "add"
            ? { op: "set", publicKey: c.publicKey, address: c.address }
            : { op: "remove", publicKey: c.publicKey },
    );
}

/**
 * Keeps the WireGuard server's peers equal to the bridge's list: a full resync at start (and
 * after any error, and when the bridge answers a full list), then the changes after the last
 * applied revision, fetched by long polling and applied live.
 */
export class PeerAgent {
    /** The revision the interface reflects; undefined until the first resync. */
    revision?: number;
    /** When the interface last matched the bridge (for liveness). */
    lastSyncAt?: Date;
    /** The peers the interface should have, as last applied. */
    private readonly expected = new Set<string>();

    constructor(private readonly options: PeerAgentOptions) {}

    /** Makes the interface's peers exactly the bridge's full list. */
    async resync(signal?: AbortSignal): Promise<number> {
        const page = await this.fetch("/wireguard/peers", signal);
        if (page.kind !== "full") throw new Error("the bridge did not answer a full peer list");
        const operations = planResync(await this.options.wireguard.peers(), page.peers);
        await this.options.wireguard.apply(operations);
        this.expected.clear();
        for (const peer of page.peers) this.expected.add(peer.publicKey);
        this.revision = page.revision;
        this.lastSyncAt = new Date();
        this.options.log.info(
            { revision: page.revision, peers: page.peers.length, changed: operations.length },
            "peers resynchronized",
        );
        return operations.length;
    }

    /**
     * One round: a resync when needed (first, after an error, or when the interface no longer
     * has the peers it was given: the server's container restarted and its interface is new),
     * else one long poll and its changes.
     */
    async step(signal?: AbortSignal): Promise<void> {
        if (
            this.revision === undefined ||
            (await this.options.wireguard.peers()).size !== this.expected.size
        ) {
            await this.resync(signal);
            return;
        }
        const page = await this.fetch(
            `/wireguard/peers?since=${this.revision}&wait=${this.options.waitSeconds}`,
            signal,
        );
        if (page.kind === "full") {
            this.revision = undefined;
            await this.resync(signal);
            return;
        }
        if (page.changes.length > 0) {
            await this.options.wireguard.apply(changeOperations(page));
            for (const c of page.changes) {
                if (c.op === "add") this.expected.add(c.publicKey);
                else this.expected.delete(c.publicKey);
            }
            this.options.log.info({ revision: page.revision, changes: page.changes.length }, "peers updated");
        }
        this.revision = page.revision;
        this.lastSyncAt = new Date();
    }

    /** Runs until `signal` aborts; after an error it waits (1 s doubling to 30 s) and resyncs. */
    async run(signal: AbortSignal): Promise<void> {
        let backoff = 1000;
        while (!signal.aborted) {
            try {
                await this.step(signal);
                backoff = 1000;
            } catch (error) {
                if (signal.aborted) break;
                this.options.log.warn({ error: String(error), retryInMs: backoff }, "peer sync failed");
                this.revision = undefined;
                await new Promise((resolve) => setTimeout(resolve, backoff));
                backoff = Math.min(backoff * 2, 30_000);
            }
        }
    }

    private async fetch(path: string, signal?: AbortSignal): Promise<PeerFeedPage> {
        const { bridgeUrl, token, caPem, waitSeconds, serverName } = this.options;
        const answer = await bridgeGet<PeerFeedPage>({ url: bridgeUrl, token, caPem, serverName }, path, {
            timeoutMs: (waitSeconds + 15) * 1000,
            signal,
        });
        if (answer.status !== 200) {
            throw new Error(`the bridge answered ${answer.status} to GET ${path.split("?")[0]}`);
        }
        if (answer.body === undefined) throw new Error("the bridge's peer list is not JSON");
        return answer.body;
    }
}
