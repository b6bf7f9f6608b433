/**
 * The live sessions: what each is (who, which device, from where, since when, bytes each way),
 * the per-user and per-device limits, and a way to end one. Admission is synchronous, so two
 * sessions racing for the last slot cannot both get it.
 */
import { randomUUID } from "node:crypto";
import { Refusal } from "./access";

/** A close code and reason the proxy ends sessions with (RFC 6455 private range 4000–4999). */
export interface CloseReason {
    readonly code: number;
    readonly reason: string;
}

/** Why the proxy itself ends a session. */
export const closeReasons = {
    idle: { code: 4000, reason: "idle timeout" },
    lifetime: { code: 4001, reason: "session lifetime reached" },
    tokenExpired: { code: 4002, reason: "access token expired" },
    killed: { code: 4003, reason: "ended by an administrator" },
    shutdown: { code: 1001, reason: "proxy shutting down" },
    deviceGone: { code: 1001, reason: "device closed the terminal" },
    deviceLost: { code: 1011, reason: "device unreachable" },
    unresponsive: { code: 1001, reason: "peer stopped answering pings" },
    protocol: { code: 1008, reason: "first message must be ttyd's JSON handshake" },
} as const satisfies Record<string, CloseReason>;

/** What is known about a live session. */
export interface SessionInfo {
    readonly id: string;
    readonly user: string;
    readonly tenant: string;
    readonly deviceId: string;
    readonly clientAddress: string;
    readonly startedAt: Date;
    readonly bytesFromClient: number;
    readonly bytesFromDevice: number;
}

/** A live session as the registry holds it. */
export interface LiveSession {
    readonly info: () => SessionInfo;
    readonly close: (why: CloseReason) => void;
}

export class SessionRegistry {
    private readonly sessions = new Map<string, { user: string; deviceId: string; session?: LiveSession }>();

    constructor(private readonly limits: { readonly perUser: number; readonly perDevice: number }) {}

    /** Takes a slot for `user` on `deviceId`, or refuses with 429; answers the session's id. */
    admit(user: string, deviceId: string): string {
        const all = [...this.sessions.values()];
        if (all.filter((s) => s.user === user).length >= this.limits.perUser) {
            throw new Refusal(
                429,
                "too_many_user_sessions",
                `${user} has ${this.limits.perUser} sessions open already`,
            );
        }
        if (all.filter((s) => s.deviceId === deviceId).length >= this.limits.perDevice) {
            throw new Refusal(
                429,
                "too_many_device_sessions",
                `device ${deviceId} has ${this.limits.perDevice} sessions open already`,
            );
        }
        const id = randomUUID();
        this.sessions.set(id, { user, deviceId });
        return id;
    }

    /** Attaches the running session to its slot. */
    attach(id: string, session: LiveSession): void {
        const slot = this.sessions.get(id);
        if (slot) slot.session = session;
    }

    /** Frees a slot (the session ended, or never started). */
    release(id: string): void {
        this.sessions.delete(id);
    }

    /** The running sessions. */
    list(): SessionInfo[] {
        return [...this.sessions.values()].flatMap((s) => (s.session ? [s.session.info()] : []));
    }

    /** Ends session `id`; false when there is none. */
    end(id: string, why: CloseReason): boolean {
        const session = this.sessions.get(id)?.session;
        if (!session) return false;
        session.close(why);
        return true;
    }

    /** Ends every session. */
    endAll(why: CloseReason): void {
        for (const s of this.sessions.values()) s.session?.close(why);
    }

    get size(): number {
        return this.sessions.size;
    }
}
