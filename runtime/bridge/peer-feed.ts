import { EventEmitter } from "node:events";
import { Database, Queryable } from "./db/database";

/** A WireGuard peer as the server needs it: the device's key and its one address. */
export interface Peer {
    readonly deviceId: string;
    readonly publicKey: string;
    readonly address: string;
}

/** One change of the peer list. */
export interface PeerChange extends Peer {
    readonly revision: number;
    readonly op: "add" | "remove";
}

/** What the peer-sync agent reads: a full list (first call) or the changes after its revision. */
export type PeerFeedPage =
    | { readonly kind: "full"; readonly revision: number; readonly peers: readonly Peer[] }
    | { readonly kind: "changes"; readonly revision: number; readonly changes: readonly PeerChange[] };

/** Advisory lock that orders writers of the feed (see `append`). */
const feedLock = 727273;

/**
 * The WireGuard peer list as a revision feed. Writers append inside their transaction while
 * holding a transaction-scoped advisory lock, so revisions are assigned in commit order and a
 * reader never sees revision n+1 before n: an agent that remembers its revision misses nothing.
 * Readers can wait for the next change (long polling): woken at once by changes made in this
 * process, and by a database re-check every `recheckMs` for changes made by other replicas.
 */
export class PeerFeed {
    private readonly changed = new EventEmitter();

    constructor(
        private readonly db: Database,
        private readonly recheckMs = 1000,
    ) {
        this.changed.setMaxListeners(0);
    }

    /**
     * Records a change in the caller's transaction. Take it as the transaction's last step: the
     * lock is held until commit, and serializes every writer of the feed.
     */
    async append(tx: Queryable, op: "add" | "remove", peer: Peer): Promise<void> {
        // The lock is taken before the row (and its revision) is made: the INSERT reads from it.
        await tx.query(
            `WITH locked AS (SELECT pg_advisory_xact_lock($1))
             INSERT INTO wireguard_peer_changes (op, device_id, public_key, address)
             SELECT $2, $3, $4, $5 FROM locked`,
            [feedLock, op, peer.deviceId, peer.publicKey, peer.address],
        );
    }

    /** Tells local waiters that a transaction with changes committed. */
    notify(): void {
        this.changed.emit("change");
    }

    /** The current peers with the revision they reflect, read in one statement (one snapshot). */
    async full(): Promise<PeerFeedPage> {
        const { rows } = await this.db.query<{ revision: string; peers: Peer[] | null }>(
            `SELECT (SELECT coalesce(max(revision), 0) FROM wireguard_peer_changes)::text AS revision,
                    (SELECT json_agg(json_build_object('deviceId', d.id, 'publicKey', d.wireguard_public_key,
                                                       'address', host(a.network + a.host_offset)) ORDER BY d.id)
                     FROM devices d JOIN wireguard_addresses a ON a.device_id = d.id) AS peers`,
        );
        return { kind: "full", revision: Number(rows[0].revision), peers: rows[0].peers ?? [] };
    }

    /** The changes after `since` (at most `limit`), or none. */
    async changesSince(since: number, limit = 1000): Promise<PeerFeedPage> {
        const { rows } = await this.db.query<{
            revision: string;
            op: "add" | "remove";
            device_id: string;
            public_key: string;
            address: string;
        }>(
            `SELECT revision::text AS revision, op, device_id, public_key, host(address) AS address
             FROM wireguard_peer_changes WHERE revision > $1 ORDER BY revision LIMIT $2`,
            [since, limit],
        );
        const changes = rows.map((r) => ({
            revision: Number(r.revision),
            op: r.op,
            deviceId: r.device_id,
            publicKey: r.public_key,
            address: r.address,
        }));
        return { kind: "changes", revision: changes.at(-1)?.revision ?? since, changes };
    }

    /**
     * Changes after `since`, waiting up to `waitMs` for one to happen when there is none yet.
     * `signal` ends the wait early (the client went away, or the server shuts down).
     */
    async poll(since: number, waitMs: number, signal?: AbortSignal): Promise<PeerFeedPage> {
        // A revision from the future (the database was restored) needs a full resync.
        const { rows } = await this.db.query<{ latest: string }>(
            "SELECT coalesce(max(revision), 0)::text AS latest FROM wireguard_peer_changes",
        );
        if (since > Number(rows[0].latest)) return this.full();
        const deadline = Date.now() + waitMs;
        for (;;) {
            const page = await this.changesSince(since);
            if (page.kind === "changes" && page.changes.length > 0) return page;
            const left = deadline - Date.now();
            if (left <= 0 || signal?.aborted) return page;
            await this.waitForChange(Math.min(left, this.recheckMs), signal);
        }
    }

    private waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
        return new Promise((resolve) => {
            const done = () => {
                clearTimeout(timer);
                this.changed.off("change", done);
                signal?.removeEventListener("abort", done);
                resolve();
            };
            const timer = setTimeout(done, ms);
            this.changed.once("change", done);
            signal?.addEventListener("abort", done, { once: true });
        });
    }
}
