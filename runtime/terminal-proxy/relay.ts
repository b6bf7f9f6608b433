/**
 * One terminal session's relay between the browser and ttyd on the device: frames pass both
 * ways unchanged (text stays text, binary stays binary), except the browser's first message,
 * ttyd's JSON handshake, into which the proxy puts the device's credential (the browser never
 * has it). Backpressure on both sides, pings to both, idle and lifetime limits, byte counts,
 * an optional recording, and one summary when both sides are closed.
 */
import { StringDecoder } from "node:string_decoder";
import { WebSocket, RawData } from "ws";
import { TerminalCredential } from "../bridge/terminal-credential";
import { SessionLimits } from "./config";
import { SessionRecorder } from "./recording";
import { CloseReason, closeReasons } from "./sessions";

/** How a session ended, for the audit event. */
export interface RelayEnd {
    readonly closedBy: "client" | "device" | "proxy";
    readonly code: number;
    readonly reason: string;
    readonly bytesFromClient: number;
    readonly bytesFromDevice: number;
}

export interface RelayOptions {
    readonly client: WebSocket;
    readonly upstream: WebSocket;
    readonly credential: TerminalCredential;
    readonly limits: SessionLimits;
    /** When the user's token expires; the session ends then at the latest. */
    readonly expiresAt: Date;
    /** Called with the handshake's terminal size to start a recording, when recording is on. */
    readonly record?: (columns: number, rows: number) => SessionRecorder;
    readonly onEnd: (end: RelayEnd) => void;
}

/** Bytes queued towards one side above which the other side is paused, and below which resumed. */
const highWater = 1024 * 1024;
const lowWater = 256 * 1024;
/** How long a closing handshake may take before the socket is dropped. */
const closeTimeoutMs = 2000;

/** ttyd's first client message with the device's credential in `AuthToken`; undefined if not JSON. */
export function withAuthToken(message: Buffer, credential: TerminalCredential): Buffer | undefined {
    if (message[0] !== 0x7b /* "{" */) return undefined;
    let handshake: unknown;
    try {
        handshake = JSON.parse(message.toString("utf8"));
    } catch {
        return undefined;
    }
    if (typeof handshake !== "object" || handshake === null || Array.isArray(handshake)) return undefined;
    const token = Buffer.from(`${credential.username}:${credential.password}`).toString("base64");
    return Buffer.from(JSON.stringify({ ...handshake, AuthToken: token }));
}

function asBuffer(data: RawData): Buffer {
    return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

export class Relay {
    bytesFromClient = 0;
    bytesFromDevice = 0;
    private handshakeDone = false;
    private lastClientFrame = Date.now();
    private recorder?: SessionRecorder;
    /** Terminal bytes may split a UTF-8 character across frames; each direction keeps its rest. */
    private readonly inputText = new StringDecoder("utf8");
    private readonly outputText = new StringDecoder("utf8");
    private ending?: { closedBy: RelayEnd["closedBy"]; why: CloseReason };
    private readonly timers: NodeJS.Timeout[] = [];
    private readonly alive = new Map<WebSocket, boolean>();
    private finished = false;
    private programFailed = false;

    constructor(private readonly options: RelayOptions) {
        const { client, upstream, limits } = options;
        this.pipe(client, upstream, (frame) => this.fromClient(frame));
        this.pipe(upstream, client, (frame) => this.fromDevice(frame));
        client.on("close", (code, reason) => this.sideClosed("client", code, reason.toString() || undefined));
        upstream.on("close", (code, reason) => this.sideClosed("device", code, reason.toString()));
        // ws closes a browser that breaks the protocol itself (1009 for a frame over maxPayload)
        // and reports it as an error first: the audit names that code, not a normal close.
        client.on("error", (error: Error & { code?: string }) =>
            error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
                ? this.sideClosed("client", 1009, "frame too large")
                : this.sideClosed("client", 1002, `protocol error (${error.code ?? "unknown"})`),
        );
        upstream.on("error", (error: Error & { code?: string }) => {
            // ttyd 1.7.7 ends a session whose program exited non-zero with a close frame carrying
            // status 1006, which WebSocket forbids on the wire: that is the program's end, not
            // a lost device.
            if (error.code === "WS_ERR_INVALID_CLOSE_CODE") this.programFailed = true;
            this.sideClosed("device", 1006, "");
        });
        for (const side of [client, upstream]) {
            this.alive.set(side, true);
            side.on("pong", () => this.alive.set(side, true));
        }
        this.timers.push(setInterval(() => this.keepalive(), limits.pingSeconds * 1000));
        this.timers.push(
            setInterval(
                () => {
                    if (Date.now() - this.lastClientFrame > limits.idleSeconds * 1000)
                        this.close(closeReasons.idle);
                },
                Math.min(limits.idleSeconds * 1000, 5000),
            ),
        );
        const untilExpiry = options.expiresAt.getTime() - Date.now();
        const lifetime = limits.maxSessionSeconds * 1000;
        this.timers.push(
            setTimeout(
                () => this.close(untilExpiry < lifetime ? closeReasons.tokenExpired : closeReasons.lifetime),
                Math.max(0, Math.min(untilExpiry, lifetime)),
            ),
        );
    }

    /** Ends the session for `why`: both sides are closed, the browser with `why`'s code. */
    close(why: CloseReason): void {
        this.ending ??= { closedBy: "proxy", why };
        this.closeSide(this.options.client, why.code, why.reason);
        this.closeSide(this.options.upstream, 1000, "session ended");
    }

    /** Forwards `from`'s messages to `to` through `handle`, pausing `from` while `to` is backed up. */
    private pipe(from: WebSocket, to: WebSocket, handle: (frame: Buffer) => Buffer | undefined): void {
        let queued = 0;
        let paused = false;
        from.on("message", (data, isBinary) => {
            const frame = handle(asBuffer(data));
            if (frame === undefined || to.readyState !== WebSocket.OPEN) return;
            queued += frame.length;
            to.send(frame, { binary: isBinary }, () => {
                queued -= frame.length;
                if (paused && queued < lowWater) {
                    paused = false;
                    from.resume();
                }
            });
            if (!paused && queued > highWater) {
                paused = true;
                from.pause();
            }
        });
    }

    private fromClient(frame: Buffer): Buffer | undefined {
        this.lastClientFrame = Date.now();
        this.bytesFromClient += frame.length;
        if (!this.handshakeDone) {
            const handshake = withAuthToken(frame, this.options.credential);
            if (!handshake) {
                this.close(closeReasons.protocol);
                return undefined;
            }
            this.handshakeDone = true;
            if (this.options.record) {
                const { columns, rows } = JSON.parse(frame.toString("utf8")) as {
                    columns?: number;
                    rows?: number;
                };
                this.recorder = this.options.record(Number(columns) || 80, Number(rows) || 24);
            }
            return handshake;
        }
        if (this.recorder) {
            if (frame[0] === 0x30 /* "0" input */)
                this.recorder.event("i", this.inputText.write(frame.subarray(1)));
            if (frame[0] === 0x31 /* "1" resize */) {
                try {
                    const { columns, rows } = JSON.parse(frame.subarray(1).toString("utf8")) as Record<
                        string,
                        unknown
                    >;
                    this.recorder.event("r", `${Number(columns)}x${Number(rows)}`);
                } catch {
                    // ttyd ignores a malformed resize; so does the recording.
                }
            }
        }
        return frame;
    }

    private fromDevice(frame: Buffer): Buffer {
        this.bytesFromDevice += frame.length;
        if (this.recorder && frame[0] === 0x30 /* "0" output */) {
            this.recorder.event("o", this.outputText.write(frame.subarray(1)));
        }
        return frame;
    }

    private keepalive(): void {
        for (const [side, alive] of this.alive) {
            if (side.readyState !== WebSocket.OPEN) continue;
            if (!alive) {
                this.ending ??= {
                    closedBy: side === this.options.client ? "client" : "device",
                    why: closeReasons.unresponsive,
                };
                side.terminate();
                continue;
            }
            this.alive.set(side, false);
            side.ping();
        }
    }

    /** One side closed: the other follows with a code that says why. */
    private sideClosed(side: "client" | "device", code?: number, reason?: string): void {
        const { client, upstream } = this.options;
        if (side === "client") {
            this.ending ??= {
                closedBy: "client",
                why: { code: code ?? 1000, reason: reason ?? "browser closed" },
            };
            this.closeSide(upstream, 1000, "browser closed");
        } else {
            // A terminal that ended (1000) ends the session normally; anything else means the
            // device or the tunnel failed, or ttyd refused the credential.
            const why =
                code === 1000
                    ? { code: 1000, reason: "terminal ended" }
                    : this.programFailed
                      ? { code: 1000, reason: "terminal ended with an error" }
                      : code === 1008
                        ? { code: 1011, reason: "device refused the proxy's credential" }
                        : closeReasons.deviceLost;
            this.ending ??= { closedBy: "device", why };
            this.closeSide(client, why.code, why.reason);
        }
        if (client.readyState === WebSocket.CLOSED && upstream.readyState === WebSocket.CLOSED) this.finish();
    }

    private closeSide(side: WebSocket, code: number, reason: string): void {
        if (side.readyState === WebSocket.CLOSED) return;
        if (side.readyState === WebSocket.OPEN) side.close(code, reason);
        const drop = setTimeout(() => side.terminate(), closeTimeoutMs);
        side.once("close", () => clearTimeout(drop));
    }

    private finish(): void {
        if (this.finished) return;
        this.finished = true;
        for (const t of this.timers) clearInterval(t);
        void this.recorder?.close();
        const ending = this.ending ?? { closedBy: "client" as const, why: { code: 1005, reason: "" } };
        this.options.onEnd({
            closedBy: ending.closedBy,
            code: ending.why.code,
            reason: ending.why.reason,
            bytesFromClient: this.bytesFromClient,
            bytesFromDevice: this.bytesFromDevice,
        });
    }
}
