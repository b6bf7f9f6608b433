import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../shared/digest";
import { FastifyRequest } from "fastify";
import { AccessDenied, Caller, requireRole } from "../shared/auth/access-token";

/** Verifies a Keycloak access token (runtime/shared/auth/access-token.ts). */
export type TokenVerifier = (token: string) => Promise<Caller>;

/** Who made a request: a verified user, or one of the tenant's services. */
export type Principal =
    { readonly kind: "user"; readonly caller: Caller } | { readonly kind: "service"; readonly name: string };

/** The bearer token of a request; 401 when there is none. */
export function bearerToken(request: FastifyRequest): string {
    const header = request.headers.authorization;
    const match = header ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header) : null;
    if (!match) throw new AccessDenied(401, "an Authorization: Bearer token is required");
    return match[1];
}

/** A user with one of `roles`, proven by a token of the bridge's realm. */
export async function requireUser(
    verify: TokenVerifier,
    request: FastifyRequest,
    roles: readonly string[],
): Promise<Principal> {
    const caller = await verify(bearerToken(request));
    requireRole(caller, roles);
    return { kind: "user", caller };
}

/**
 * Checks service credentials in constant time (comparing digests, so lengths leak nothing).
 * Each service has its own credential and may only use the routes given to it.
 */
export class ServiceCredentials {
    private readonly digests: ReadonlyMap<string, Buffer>;

    constructor(tokens: Readonly<Record<string, string>>) {
        this.digests = new Map(Object.entries(tokens).map(([name, token]) => [name, sha256(token)]));
    }

    /** The service `name`, proven by its bearer token; 401 for anything else. */
    require(request: FastifyRequest, name: string): Principal {
        return this.check(name, bearerToken(request));
    }

    /**
     * The service `name`, proven by HTTP Basic auth with its name as the user and its token as
     * the password: for callers that can send nothing else (ThingsBoard's OAuth2 mapper client).
     */
    requireBasic(request: FastifyRequest, name: string): Principal {
        const header = request.headers.authorization;
        const match = header ? /^Basic ([A-Za-z0-9+/=]+)$/.exec(header) : null;
        if (!match) throw new AccessDenied(401, "an Authorization: Basic credential is required");
        // Spring's RestTemplate encodes Basic credentials in ISO-8859-1.
        const decoded = Buffer.from(match[1], "base64").toString("latin1");
        const colon = decoded.indexOf(":");
        if (colon < 0 || decoded.slice(0, colon) !== name) {
            throw new AccessDenied(401, `this route needs the ${name} service credential`);
        }
        return this.check(name, decoded.slice(colon + 1));
    }

    private check(name: string, token: string): Principal {
        const expected = this.digests.get(name);
        if (!expected || !timingSafeEqual(expected, sha256(token))) {
            throw new AccessDenied(401, `this route needs the ${name} service credential`);
        }
        return { kind: "service", name };
    }
}

/** The audit actor of a principal: `user:<subject>` or `service:<name>`. */
export function actorOf(principal: Principal): string {
    return principal.kind === "user"
        ? `user:${principal.caller.username ?? principal.caller.subject}`
        : `service:${principal.name}`;
}
