import { AccessDenied } from "../shared/auth/access-token";
import { StepCaError } from "../shared/step-ca";
import { AddressesExhausted } from "./addresses";
import { CsrRefused } from "./device-csr";
import { TokenRefused } from "./enrollment-tokens";

/** An answer other than success: HTTP status, a stable code, and a message naming what was wrong. */
export class ApiError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
        this.name = "ApiError";
    }
}

/** The body of every error answer. */
export interface ErrorBody {
    readonly error: string;
    readonly message: string;
}

/**
 * Maps what the bridge's parts throw to answers. Peers' failures become 502/503 with a message
 * that names the peer but carries none of its details (which may echo credentials).
 */
export function toApiError(error: unknown): ApiError {
    if (error instanceof ApiError) return error;
    if (error instanceof TokenRefused) return new ApiError(401, "enrollment_token_refused", error.message);
    if (error instanceof CsrRefused) return new ApiError(400, "csr_refused", error.message);
    if (error instanceof AccessDenied) {
        return new ApiError(
            error.status,
            error.status === 401 ? "unauthenticated" : "forbidden",
            error.message,
        );
    }
    if (error instanceof AddressesExhausted) return new ApiError(503, "addresses_exhausted", error.message);
    if (error instanceof StepCaError) {
        return new ApiError(
            502,
            "certificate_authority_refused",
            `the certificate authority refused: ${error.message}`,
        );
    }
    if (error instanceof PeerRefused) return new ApiError(502, "peer_refused", error.message);
    if (error instanceof PeerUnavailable) {
        return new ApiError(503, "peer_unavailable", `${error.peer} is unavailable; retry later`);
    }
    // `pg` gives up waiting for a free connection with this message: the bridge is saturated.
    if (error instanceof Error && /timeout exceeded when trying to connect/.test(error.message)) {
        return new ApiError(503, "busy", "the bridge is busy; retry later");
    }
    return new ApiError(500, "internal", "internal error");
}

/** A peer (step-ca, hawkBit) could not be reached or answered nonsense. */
export class PeerUnavailable extends Error {
    constructor(
        readonly peer: string,
        cause: unknown,
    ) {
        super(`${peer} is unavailable`, { cause });
        this.name = "PeerUnavailable";
    }
}

/** A peer answered the request with a refusal (4xx): not transient, so not "retry later". */
export class PeerRefused extends Error {
    constructor(
        readonly peer: string,
        readonly status: number,
    ) {
        super(`${peer} refused the request (${status})`);
        this.name = "PeerRefused";
    }
}

/**
 * Runs a call to `peer`: its refusals (an error with a 4xx `status`) become PeerRefused (502),
 * anything else (refused connections, timeouts, 5xx) PeerUnavailable (503, retry later).
 */
export async function callPeer<T>(peer: string, call: () => Promise<T>): Promise<T> {
    try {
        return await call();
    } catch (error) {
        if (error instanceof StepCaError && error.status < 500) throw error;
        const status = (error as { status?: unknown })?.status;
        if (typeof status === "number" && status >= 400 && status < 500) throw new PeerRefused(peer, status);
        throw new PeerUnavailable(peer, error);
    }
}
