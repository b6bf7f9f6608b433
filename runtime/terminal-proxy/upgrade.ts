/**
 * The HTTP side of a terminal upgrade request, before any WebSocket exists: where it came from,
 * whether it is one ws would accept, and the HTTP refusal written back when it is not.
 */
import { IncomingMessage } from "node:http";
import { Duplex } from "node:stream";
import { offeredProtocols, Refusal, ttyProtocol } from "./access";

/** The address a session came from: the ingress's X-Forwarded-For, else the peer. */
export function clientAddress(request: IncomingMessage): string {
    const forwarded = request.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    return first || request.socket.remoteAddress || "unknown";
}

/** The request's path and query; a target that is not a path is refused, never thrown at the server. */
export function parseRequestUrl(target: string | undefined): URL {
    try {
        const url = new URL(target ?? "/", "http://proxy");
        if (!(target ?? "/").startsWith("/") || url.host !== "proxy") throw new Error("not a path");
        return url;
    } catch {
        throw new Refusal(400, "bad_request", "the request target is not a path");
    }
}

/**
 * What ws would refuse in `handleUpgrade` (RFC 6455 §4.2.1), checked before a session slot or a
 * device connection is taken: an upgrade to websocket, version 13 (or 8), a well-formed key,
 * and the `tty` subprotocol offered exactly once among well-formed names.
 */
export function checkUpgrade(request: Pick<IncomingMessage, "headers">): void {
    const { headers } = request;
    if (headers.upgrade?.toLowerCase() !== "websocket") {
        throw new Refusal(400, "upgrade_refused", "the request is not a WebSocket upgrade");
    }
    if (!/^[+/0-9A-Za-z]{22}==$/.test(headers["sec-websocket-key"] ?? "")) {
        throw new Refusal(400, "upgrade_refused", "Sec-WebSocket-Key is missing or malformed");
    }
    if (!["8", "13"].includes(headers["sec-websocket-version"] ?? "")) {
        throw new Refusal(400, "upgrade_refused", "Sec-WebSocket-Version must be 13");
    }
    const offered = offeredProtocols(request);
    if (!offered.includes(ttyProtocol)) {
        throw new Refusal(400, "protocol_required", `offer the WebSocket subprotocol ${ttyProtocol}`);
    }
    const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
    if (new Set(offered).size !== offered.length || !offered.every((p) => token.test(p))) {
        throw new Refusal(400, "upgrade_refused", "Sec-WebSocket-Protocol has repeated or malformed entries");
    }
}

/** Answers an upgrade request with an HTTP error and closes the connection. */
export function refuse(socket: Duplex, refusal: Refusal): void {
    const body = JSON.stringify({ error: refusal.code, message: refusal.message });
    socket.end(
        `HTTP/1.1 ${refusal.status} ${statusText(refusal.status)}\r\n` +
            "Content-Type: application/json\r\n" +
            `Content-Length: ${Buffer.byteLength(body)}\r\n` +
            "Connection: close\r\n\r\n" +
            body,
    );
}

function statusText(status: number): string {
    return (
        {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
        }[status] ??
        { 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" }[status] ??
        "Error"
    );
}
