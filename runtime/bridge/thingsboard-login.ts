/**
 * ThingsBoard's custom OAuth2 mapper: on every Keycloak login, tb-node posts the user's
 * principal to the bridge and creates (on the first login) the ThingsBoard user the answer
 * describes. ThingsBoard CE knows two kinds of tenant user: the tenant administrator, and a
 * customer user who sees the devices assigned to the customer and may read them and call RPCs
 * on them. Tenant roles map onto these; a viewer would get an operator's RPC rights there, so
 * viewers are refused and read the fleet in Grafana and through the bridge's API. Pure.
 */
import { Caller } from "../shared/auth/access-token";
import { operatorsCustomer, thingsboardClientId } from "../../components/thingsboard/users";
import { ThingsboardLogins } from "./config";
import { ApiError } from "./errors";

/** ThingsBoard's `OAuth2User`: the fields the CE mapper reads from the answer. */
export interface ThingsboardUser {
    readonly email: string;
    readonly firstName?: string;
    readonly lastName?: string;
    /** The ThingsBoard tenant (found by title; ThingsBoard would create a missing one). */
    readonly tenantName: string;
    /** Present for a customer user; absent makes a tenant administrator. */
    readonly customerName?: string;
    readonly alwaysFullScreen: false;
}

/** The ThingsBoard kind of user a tenant role gives; the first role that maps wins. */
const roleKinds: readonly { readonly role: string; readonly customer?: string }[] = [
    { role: "tenant-admin" },
    { role: "operator", customer: operatorsCustomer },
];

/**
 * The subject of the principal ThingsBoard sends: Spring's `OAuth2User` (or `OidcUser`)
 * serialised by Jackson, whose `attributes` hold the claims. ThingsBoard posts it as text.
 */
export function principalSubject(body: unknown): string {
    let principal = body;
    if (typeof body === "string") {
        try {
            principal = JSON.parse(body);
        } catch {
            throw new ApiError(400, "principal_malformed", "the principal is not JSON");
        }
    }
    const attributes = (principal as { attributes?: unknown } | null)?.attributes;
    const sub = (attributes as { sub?: unknown } | null | undefined)?.sub;
    if (typeof sub !== "string" || sub === "") {
        throw new ApiError(400, "principal_malformed", "the principal has no attributes.sub");
    }
    return sub;
}

/**
 * The ThingsBoard user of a login. Everything that grants rights comes from `caller`, the
 * verified access token ThingsBoard received for this login (its `sendToken` header); the
 * principal only has to name the same subject, so a stale or swapped token maps nobody.
 * ThingsBoard finds an existing user by e-mail alone, whatever its authority: the e-mail must be
 * verified (a user's own unverified change maps nobody) and may not be one of ThingsBoard's own
 * accounts, which a realm administrator could otherwise give a user and so become.
 */
export function thingsboardUser(
    caller: Caller,
    principalSub: string,
    logins: ThingsboardLogins,
): ThingsboardUser {
    if (caller.claims.azp !== thingsboardClientId) {
        throw new ApiError(
            403,
            "not_a_thingsboard_login",
            `the access token was issued to ${String(caller.claims.azp ?? "no client")}, not ${thingsboardClientId}`,
        );
    }
    if (caller.subject !== principalSub) {
        throw new ApiError(
            403,
            "principal_mismatch",
            "the principal and the access token name different users",
        );
    }
    const kind = roleKinds.find((k) => caller.roles.includes(k.role));
    if (!kind) {
        throw new ApiError(
            403,
            "no_thingsboard_role",
            "ThingsBoard is for the tenant-admin and operator roles; viewers read the fleet in Grafana",
        );
    }
    const email = caller.claims.email;
    if (typeof email !== "string" || email === "") {
        throw new ApiError(
            422,
            "email_missing",
            "the user has no e-mail address, which ThingsBoard keys users by",
        );
    }
    if (caller.claims.email_verified !== true) {
        throw new ApiError(403, "email_unverified", "the user's e-mail address is not verified");
    }
    if (logins.localAccounts.includes(email.toLowerCase())) {
        throw new ApiError(
            403,
            "local_account",
            "the e-mail address belongs to one of ThingsBoard's own accounts",
        );
    }
    const name = (claim: string) => {
        const value = caller.claims[claim];
        return typeof value === "string" && value !== "" ? value : undefined;
    };
    return {
        email,
        firstName: name("given_name"),
        lastName: name("family_name"),
        tenantName: logins.tenantTitle,
        ...(kind.customer ? { customerName: kind.customer } : {}),
        alwaysFullScreen: false,
    };
}

/** The kinds of ThingsBoard user a login can become. */
export const thingsboardKinds = ["tenant_admin", "operator"] as const;
export type ThingsboardKind = (typeof thingsboardKinds)[number];

/** The kind of a mapped user, also its metric outcome. */
export function loginOutcome(user: ThingsboardUser): ThingsboardKind {
    return user.customerName ? "operator" : "tenant_admin";
}
