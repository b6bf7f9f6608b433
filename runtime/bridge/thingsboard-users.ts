/**
 * The ThingsBoard user each e-mail was mapped to. ThingsBoard fixes a user's kind (tenant
 * administrator or operator) when it creates it and afterwards finds it by e-mail alone, so the
 * bridge remembers, per e-mail, the Keycloak subject and kind of the first mapped login and
 * refuses a login that would bring that ThingsBoard user to another person (a new Keycloak user
 * with a reused e-mail) or keep a kind the roles no longer give (a demoted administrator). A
 * tenant administrator deletes the ThingsBoard user and then this binding to let it be made anew.
 */
import { Queryable } from "./db/database";
import { ApiError } from "./errors";
import { loginOutcome, ThingsboardKind, ThingsboardUser } from "./thingsboard-login";

/** A binding as tenant administrators see it. */
export interface ThingsboardBinding {
    readonly email: string;
    readonly subject: string;
    readonly kind: ThingsboardKind;
    readonly firstLoginAt: string;
    readonly lastLoginAt: string;
}

const kindNames: Readonly<Record<ThingsboardKind, string>> = {
    tenant_admin: "a tenant administrator",
    operator: "an operator",
};

/**
 * Records the first mapped login of `user.email`, or checks a later one against it: the insert
 * or the matching update is one statement, so of two concurrent first logins one binds and the
 * other is checked against it. 403 for another subject, 409 for another kind.
 */
export async function bindLogin(q: Queryable, user: ThingsboardUser, subject: string): Promise<void> {
    const email = user.email.toLowerCase();
    const kind = loginOutcome(user);
    const bound = await q.query(
        `INSERT INTO thingsboard_users (email, subject, kind) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO UPDATE SET last_login_at = now()
             WHERE thingsboard_users.subject = EXCLUDED.subject AND thingsboard_users.kind = EXCLUDED.kind
         RETURNING email`,
        [email, subject, kind],
    );
    if (bound.rows.length > 0) return;
    // Another binding exists (committed: the insert waited for it); this statement sees it.
    const { rows } = await q.query<{ subject: string; kind: ThingsboardKind }>(
        "SELECT subject, kind FROM thingsboard_users WHERE email = $1",
        [email],
    );
    const existing = rows[0];
    if (!existing) return bindLogin(q, user, subject); // removed meanwhile: bind anew
    if (existing.subject !== subject) {
        throw new ApiError(
            403,
            "email_rebound",
            `ThingsBoard's user ${email} belongs to another Keycloak user; a tenant administrator deletes it and its binding first`,
        );
    }
    throw new ApiError(
        409,
        "role_changed",
        `ThingsBoard's user ${email} was made as ${kindNames[existing.kind]}, the roles now give ${kindNames[kind]}; a tenant administrator deletes it and its binding to have it made anew`,
    );
}

/** Every binding, by e-mail. */
export async function listBindings(q: Queryable): Promise<ThingsboardBinding[]> {
    const { rows } = await q.query<{
        email: string;
        subject: string;
        kind: ThingsboardKind;
        first_login_at: Date;
        last_login_at: Date;
    }>(
        "SELECT email, subject, kind, first_login_at, last_login_at FROM thingsboard_users ORDER BY email LIMIT 10000",
    );
    return rows.map((r) => ({
        email: r.email,
        subject: r.subject,
        kind: r.kind,
        firstLoginAt: new Date(r.first_login_at).toISOString(),
        lastLoginAt: new Date(r.last_login_at).toISOString(),
    }));
}

/** Forgets the binding of `email`; false when there was none. */
export async function removeBinding(q: Queryable, email: string): Promise<boolean> {
    const { rows } = await q.query("DELETE FROM thingsboard_users WHERE email = $1 RETURNING email", [
        email.toLowerCase(),
    ]);
    return rows.length > 0;
}
