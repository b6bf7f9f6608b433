import { randomBytes, randomUUID } from "node:crypto";
import { sha256 } from "../shared/digest";
import { Database, Queryable } from "./db/database";

/** Why a token was refused; each is answered with 401 and this reason. */
export type TokenRefusal = "unknown" | "revoked" | "expired" | "used up" | "for another device";

export class TokenRefused extends Error {
    constructor(readonly reason: TokenRefusal) {
        super(`enrollment token refused: ${reason}`);
        this.name = "TokenRefused";
    }
}

/** What a tenant admin asks for. */
export interface TokenRequest {
    /** One device (the token then works once) or, when undefined, a batch. */
    readonly deviceId?: string;
    /** How many enrollments a batch token allows. */
    readonly maxUses?: number;
    readonly ttlSeconds: number;
    /** The token may enroll a device that is already enrolled (it keeps its address). */
    readonly reenroll?: boolean;
    /** Who made it (the admin's subject), for the audit trail. */
    readonly createdBy: string;
}

/** A new token: the secret is shown this once and stored only as a hash. */
export interface IssuedToken {
    readonly id: string;
    readonly token: string;
    readonly expiresAt: Date;
}

/** A consumed token's grants. */
export interface ConsumedToken {
    readonly id: string;
    readonly reenroll: boolean;
}

const prefix = "cdm_et_";

/** Issues an enrollment token. */
export async function issueToken(db: Database, request: TokenRequest): Promise<IssuedToken> {
    const maxUses = request.deviceId ? 1 : (request.maxUses ?? 1);
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 100_000) {
        throw new RangeError("maxUses must be an integer in 1..100000");
    }
    if (
        !Number.isInteger(request.ttlSeconds) ||
        request.ttlSeconds < 60 ||
        request.ttlSeconds > 90 * 24 * 3600
    ) {
        throw new RangeError("ttlSeconds must be between 60 seconds and 90 days");
    }
    const token = `${prefix}${randomBytes(32).toString("base64url")}`;
    const id = randomUUID();
    const { rows } = await db.query<{ expires_at: Date }>(
        `INSERT INTO enrollment_tokens (id, token_hash, device_id, max_uses, reenroll, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7) RETURNING expires_at`,
        [
            id,
            sha256(token),
            request.deviceId ?? null,
            maxUses,
            request.reenroll ?? false,
            request.ttlSeconds,
            request.createdBy,
        ],
    );
    return { id, token, expiresAt: new Date(rows[0].expires_at) };
}

/**
 * Uses the token once for `deviceId`, atomically: one UPDATE checks and counts, so concurrent
 * enrollments can never exceed the token's uses. Run it in the enrollment's transaction: if the
 * enrollment fails, the use is rolled back with everything else.
 */
export async function consumeToken(tx: Queryable, token: string, deviceId: string): Promise<ConsumedToken> {
    if (!token.startsWith(prefix)) throw new TokenRefused("unknown");
    const { rows } = await tx.query<{ id: string; reenroll: boolean }>(
        `UPDATE enrollment_tokens SET uses = uses + 1
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses
           AND (device_id IS NULL OR device_id = $2)
         RETURNING id, reenroll`,
        [sha256(token), deviceId],
    );
    if (rows.length > 0) return { id: rows[0].id, reenroll: rows[0].reenroll };
    throw new TokenRefused(await refusalReason(tx, token, deviceId));
}

/**
 * Checks, without using it, that the token could enroll `deviceId` now. Enrollment checks first
 * and uses the token last, so concurrent enrollments with one batch token do not queue on its
 * row while their certificates are signed; `consumeToken` then re-checks atomically.
 */
export async function checkToken(tx: Queryable, token: string, deviceId: string): Promise<ConsumedToken> {
    if (!token.startsWith(prefix)) throw new TokenRefused("unknown");
    const { rows } = await tx.query<{ id: string; reenroll: boolean }>(
        `SELECT id, reenroll FROM enrollment_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses
           AND (device_id IS NULL OR device_id = $2)`,
        [sha256(token), deviceId],
    );
    if (rows.length > 0) return { id: rows[0].id, reenroll: rows[0].reenroll };
    throw new TokenRefused(await refusalReason(tx, token, deviceId));
}

async function refusalReason(tx: Queryable, token: string, deviceId: string): Promise<TokenRefusal> {
    const { rows } = await tx.query<{
        revoked: boolean;
        expired: boolean;
        used_up: boolean;
        device_id: string | null;
    }>(
        `SELECT revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired, uses >= max_uses AS used_up, device_id
         FROM enrollment_tokens WHERE token_hash = $1`,
        [sha256(token)],
    );
    const t = rows[0];
    if (!t) return "unknown";
    if (t.revoked) return "revoked";
    if (t.expired) return "expired";
    if (t.device_id !== null && t.device_id !== deviceId) return "for another device";
    return "used up";
}

/** Revokes a token; returns false when there is no such token. */
export async function revokeToken(db: Database, id: string): Promise<boolean> {
    const { rows } = await db.query(
        "UPDATE enrollment_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id",
        [id],
    );
    return rows.length > 0;
}

/** A token as tenant admins see it: its grants and use, never its secret. */
export interface TokenView {
    readonly id: string;
    readonly deviceId: string | null;
    readonly maxUses: number;
    readonly uses: number;
    readonly reenroll: boolean;
    readonly expiresAt: string;
    readonly createdBy: string;
    readonly createdAt: string;
    readonly revokedAt: string | null;
}

/** Tokens newest first; `activeOnly` leaves out revoked, expired and used-up ones. */
export async function listTokens(db: Database, activeOnly: boolean): Promise<TokenView[]> {
    const { rows } = await db.query<{
        id: string;
        device_id: string | null;
        max_uses: number;
        uses: number;
        reenroll: boolean;
        expires_at: Date;
        created_by: string;
        created_at: Date;
        revoked_at: Date | null;
    }>(
        `SELECT id, device_id, max_uses, uses, reenroll, expires_at, created_by, created_at, revoked_at
         FROM enrollment_tokens
         WHERE NOT $1 OR (revoked_at IS NULL AND expires_at > now() AND uses < max_uses)
         ORDER BY created_at DESC, id LIMIT 1000`,
        [activeOnly],
    );
    return rows.map((r) => ({
        id: r.id,
        deviceId: r.device_id,
        maxUses: r.max_uses,
        uses: r.uses,
        reenroll: r.reenroll,
        expiresAt: new Date(r.expires_at).toISOString(),
        createdBy: r.created_by,
        createdAt: new Date(r.created_at).toISOString(),
        revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
    }));
}
