import { alreadyRevoked } from "../shared/step-ca";
import { Queryable } from "./db/database";
import { lockDeviceId } from "./devices";
import { LifecycleDeps } from "./enrollment";

/** A step outside the database that undoes part of a failed operation. */
export interface UndoStep {
    readonly kind: "revoke-certificate" | "delete-ota-target";
    /** The certificate's serial (hex), or the device id of the target. */
    readonly subject: string;
    readonly reason: string;
}

/**
 * Runs an undo step now; when the peer is unreachable, records it for `retryPendingUndo`, so a
 * failed operation never leaves a valid certificate or an orphan OTA target behind for good.
 */
export async function undo(deps: LifecycleDeps, step: UndoStep): Promise<void> {
    try {
        await deps.db.transaction((tx) => runStep(deps, tx, step));
    } catch (error) {
        deps.log.warn({ ...step, error: String(error) }, "undo failed; it will be retried");
        await deps.db.query(
            "INSERT INTO pending_undo (kind, subject, reason, last_error) VALUES ($1, $2, $3, $4)",
            [step.kind, step.subject, step.reason, String(error).slice(0, 500)],
        );
    }
}

/**
 * Retries due undo steps, each in a transaction of its own (so a peer that hangs holds back one
 * step, not the database), backing off per step; answers how many were done.
 */
export async function retryPendingUndo(deps: LifecycleDeps, limit = 20): Promise<number> {
    let done = 0;
    for (let i = 0; i < limit; i++) {
        const outcome = await deps.db.transaction(async (tx) => {
            const { rows } = await tx.query<{
                id: string;
                kind: UndoStep["kind"];
                subject: string;
                reason: string;
            }>(
                `SELECT id::text, kind, subject, reason FROM pending_undo WHERE next_at <= now()
                 ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
            );
            const row = rows[0];
            if (!row) return "none";
            try {
                await runStep(deps, tx, row);
                await tx.query("DELETE FROM pending_undo WHERE id = $1", [row.id]);
                return "done";
            } catch (error) {
                await tx.query(
                    `UPDATE pending_undo SET attempts = attempts + 1, last_error = $2,
                         next_at = now() + make_interval(secs => least(3600, 30 * 2 ^ attempts))
                     WHERE id = $1`,
                    [row.id, String(error).slice(0, 500)],
                );
                return "failed";
            }
        });
        if (outcome === "none") break;
        if (outcome === "done") done++;
    }
    return done;
}

async function runStep(deps: LifecycleDeps, tx: Queryable, step: UndoStep): Promise<void> {
    if (step.kind === "revoke-certificate") {
        await revokeOnce(deps, step.subject, step.reason);
        return;
    }
    // Under the device's lock: an enrollment of the device in flight commits first, and then
    // its target, now in use, is kept.
    await lockDeviceId(tx, step.subject);
    const { rows } = await tx.query("SELECT 1 FROM devices WHERE id = $1", [step.subject]);
    if (rows.length === 0) await deps.targets.deleteTarget(step.subject);
}

/** Revokes at step-ca; a certificate step-ca already revoked counts as revoked. */
export async function revokeOnce(deps: LifecycleDeps, serial: string, reason: string): Promise<void> {
    try {
        await deps.signer.revoke(serial, reason);
    } catch (error) {
        if (alreadyRevoked(error)) return;
        throw error;
    }
}
