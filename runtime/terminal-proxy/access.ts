/**
 * Who may open a terminal to which device, decided before any upstream connection: the origin,
 * the token (wherever the client put it), the realm's checks on it, the role, and the device
 * the token allows. Every refusal names its reason; none names the token.
 */
import { IncomingMessage } from "node:http";
import { isDeviceId } from "../bridge/device-csr";
import { AccessDenied, Caller, requireRole } from "../shared/auth/access-token";

/** A refused session: the HTTP status, a stable code for audit and metrics, and the reason. */
export class Refusal extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
        this.name = "Refusal";
    }
}

/** The cookie a browser may carry the token in (set by the page that opens the terminal). */
export const tokenCookie = "cdm_terminal_token";
/** Prefix of the `Sec-WebSocket-Protocol` entry that carries the token (`bearer.<JWT>`). */
export const bearerProtocolPrefix = "bearer.";
/** ttyd's subprotocol, which the proxy speaks on both sides. */
export const ttyProtocol = "tty";
/** A token claim that, when present, limits the devices: ids, or prefixes ending in `*`. */
export const devicesClaim = "terminal_devices";

/** Where the token came from. */
export type TokenSource = "query" | "protocol" | "cookie";

/** The offered subprotocols of an upgrade request, in order. */
export function offeredProtocols(request: Pick<IncomingMessage, "headers">): string[] {
    const header = request.headers["sec-websocket-protocol"];
    return (Array.isArray(header) ? header.join(",") : (header ?? ""))
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean);
}

/**
 * The access token of an upgrade request: `?token=` (the ThingsBoard widget's way), a
 * `bearer.<token>` subprotocol entry (browsers cannot set headers on WebSockets), or the
 * `cdm_terminal_token` cookie. Two different tokens in one request are refused.
 */
export function tokenOf(
    request: Pick<IncomingMessage, "headers">,
    url: URL,
    allowedOrigins: readonly string[],
): { token: string; source: TokenSource } {
    const found: { token: string; source: TokenSource }[] = [];
    const query = url.searchParams.get("token");
    if (query) found.push({ token: query, source: "query" });
    const entry = offeredProtocols(request).find((p) => p.startsWith(bearerProtocolPrefix));
    if (entry) found.push({ token: entry.slice(bearerProtocolPrefix.length), source: "protocol" });
    // A browser sends cookies with any site's WebSocket: without an origin allow-list, a cookie
    // would let a foreign page open terminals as the user (cross-site WebSocket hijacking).
    const cookie = cookieValue(request.headers.cookie, tokenCookie);
    if (cookie && allowedOrigins.length === 0) {
        throw new Refusal(
            401,
            "cookie_not_accepted",
            "the token cookie is accepted only with an origin allow-list (TERMINAL_ALLOWED_ORIGINS); pass ?token= or a bearer.<token> subprotocol",
        );
    }
    if (cookie) found.push({ token: cookie, source: "cookie" });
    if (found.length === 0) {
        throw new Refusal(
            401,
            "token_missing",
            "no access token: pass ?token=, a bearer.<token> subprotocol or the cdm_terminal_token cookie",
        );
    }
    if (new Set(found.map((f) => f.token)).size > 1) {
        throw new Refusal(
            400,
            "token_ambiguous",
            `different tokens in ${found.map((f) => f.source).join(" and ")}`,
        );
    }
    return found[0];
}

function cookieValue(header: string | undefined, name: string): string | undefined {
    for (const part of (header ?? "").split(";")) {
        const [key, ...rest] = part.trim().split("=");
        if (key === name) return decodeURIComponent(rest.join("="));
    }
    return undefined;
}

/** Browsers send Origin; it must be allowed when a list is configured. Non-browser clients send none. */
export function checkOrigin(origin: string | undefined, allowed: readonly string[]): void {
    if (allowed.length === 0 || origin === undefined) return;
    if (!allowed.includes(origin)) {
        throw new Refusal(403, "origin_not_allowed", `origin ${origin} may not open terminals`);
    }
}

/** The device of the request (`?deviceId=`), checked for form. */
export function deviceIdOf(url: URL): string {
    const id = url.searchParams.get("deviceId");
    if (!id) throw new Refusal(400, "device_missing", "deviceId is required");
    if (!isDeviceId(id)) throw new Refusal(400, "device_invalid", "deviceId is not a device id");
    return id;
}

/** Whether the caller's token allows `deviceId`: any device unless it carries `terminal_devices`. */
export function checkDevice(caller: Caller, deviceId: string): void {
    const claim = caller.claims[devicesClaim];
    if (claim === undefined) return;
    const patterns = Array.isArray(claim) ? claim.filter((p): p is string => typeof p === "string") : [];
    const allowed = patterns.some((p) =>
        p.endsWith("*") ? deviceId.startsWith(p.slice(0, -1)) : p === deviceId,
    );
    if (!allowed) {
        throw new Refusal(403, "device_not_allowed", `the token does not allow device ${deviceId}`);
    }
}

/**
 * Verifies the token and the role, turning the verifier's refusals into session refusals. The
 * verifier's leeway on `exp` is for clock skew between services; a session never starts on a
 * token already past its `exp`, because the session ends at `exp` (`now` is for tests).
 */
export async function authenticate(
    verify: (token: string) => Promise<Caller>,
    token: string,
    role: string,
    now = Date.now(),
): Promise<Caller> {
    try {
        const caller = await verify(token);
        if (caller.expiresAt.getTime() <= now) throw new Refusal(401, "token_invalid", "token expired");
        requireRole(caller, [role]);
        return caller;
    } catch (error) {
        if (error instanceof AccessDenied) {
            throw new Refusal(
                error.status,
                error.status === 401 ? "token_invalid" : "forbidden",
                error.message,
            );
        }
        throw error;
    }
}

/** The name sessions are counted and audited under: the username, else the subject. */
export function userOf(caller: Caller): string {
    return caller.username ?? caller.subject;
}
