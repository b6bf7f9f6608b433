/**
 * The terminal proxy's public server: `WSS /terminal?deviceId=…` upgrades, accepted only once
 * every check has passed and the device's ttyd has accepted the proxy (a refusal is an HTTP
 * answer with a reason, before anything reaches the device); the administrators' session list
 * and kill switch; an audit event for every start, refusal and end. Tokens are never logged:
 * events carry where the token came from, not what it was.
 */
import Fastify, { FastifyInstance } from "fastify";
import { IncomingMessage } from "node:http";
import { Duplex } from "node:stream";
import { Logger } from "pino";
import { WebSocket, WebSocketServer } from "ws";
import { Caller } from "../shared/auth/access-token";
import { isDeviceId } from "../bridge/device-csr";
import {
    authenticate,
    checkDevice,
    checkOrigin,
    deviceIdOf,
    Refusal,
    tokenOf,
    ttyProtocol,
    userOf,
} from "./access";
import { TerminalProxyConfig } from "./config";
import { DeviceTerminal } from "./devices";
import { TerminalMetrics } from "./metrics";
import { SessionRecorder } from "./recording";
import { Relay } from "./relay";
import { closeReasons, SessionRegistry } from "./sessions";
import { checkUpgrade, clientAddress, parseRequestUrl, refuse } from "./upgrade";

export interface TerminalProxyDeps {
    readonly verify: (token: string) => Promise<Caller>;
    readonly devices: { lookup(deviceId: string): Promise<DeviceTerminal> };
    readonly log: Logger;
    readonly metrics: TerminalMetrics;
}

/** The running proxy. */
export interface TerminalProxy {
    readonly app: FastifyInstance;
    readonly sessions: SessionRegistry;
    /** Refuses new sessions, lets live ones run up to `drainSeconds`, then closes them and the server. */
    drain(): Promise<void>;
}

/** Opens the WebSocket to the device's ttyd with its credential; refuses with 502/504 when it cannot. */
export function connectDevice(device: DeviceTerminal, maxPayload: number): Promise<WebSocket> {
    const { username, password } = device.credential;
    const upstream = new WebSocket(`ws://${device.address}:${device.port}/ws`, [ttyProtocol], {
        headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` },
        handshakeTimeout: 5000,
        maxPayload,
        perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
        upstream.once("open", () => resolve(upstream));
        upstream.once("unexpected-response", (_req, res) => {
            upstream.terminate();
            reject(new Refusal(502, "device_refused", `the device's terminal answered ${res.statusCode}`));
        });
        upstream.once("error", (error: Error) => {
            const timeout = /timed out/i.test(error.message);
            reject(
                new Refusal(
                    timeout ? 504 : 502,
                    "device_unreachable",
                    timeout
                        ? "the device's terminal did not answer in time"
                        : // ttyd drops a connection it refuses without answering: the two look alike.
                          "the device's terminal is unreachable or refused the proxy",
                ),
            );
        });
    });
}

export async function startTerminalProxy(
    config: TerminalProxyConfig,
    deps: TerminalProxyDeps,
): Promise<TerminalProxy> {
    const { log, metrics } = deps;
    const sessions = new SessionRegistry(config.limits);
    const state = { draining: false };
    const wss = new WebSocketServer({
        noServer: true,
        maxPayload: config.limits.maxFrameBytes,
        perMessageDeflate: false,
        // Only ttyd's protocol is ever selected; a bearer entry is never echoed back.
        handleProtocols: (offered) => (offered.has(ttyProtocol) ? ttyProtocol : false),
    });
    const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
    const admin = async (authorization: string | undefined): Promise<Caller> => {
        const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
        if (!token) throw new Refusal(401, "token_missing", "an administrator's bearer token is required");
        return authenticate(deps.verify, token, config.oidc.adminRole);
    };
    app.setErrorHandler((error, _request, reply) => {
        const refusal = error instanceof Refusal ? error : new Refusal(500, "internal", "internal error");
        if (!(error instanceof Refusal)) log.error({ err: error }, "admin request failed");
        void reply.code(refusal.status).send({ error: refusal.code, message: refusal.message });
    });
    app.get("/sessions", async (request) => {
        const caller = await admin(request.headers.authorization);
        log.info({ event: "terminal.sessions.listed", user: userOf(caller) }, "sessions listed");
        return { sessions: sessions.list() };
    });
    app.delete<{ Params: { id: string } }>("/sessions/:id", async (request, reply) => {
        const caller = await admin(request.headers.authorization);
        if (!sessions.end(request.params.id, closeReasons.killed)) {
            throw new Refusal(404, "session_not_found", `no live session ${request.params.id}`);
        }
        log.info(
            { event: "terminal.session.killed", session: request.params.id, by: userOf(caller) },
            "session ended by an administrator",
        );
        return reply.code(202).send({ ended: request.params.id });
    });
    app.get("/terminal", async (_request, reply) =>
        reply
            .code(426)
            .header("upgrade", "websocket")
            .send({ error: "upgrade_required", message: "open /terminal as a WebSocket" }),
    );

    app.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        accept(request, socket, head).catch((error: unknown) => {
            log.error({ err: error }, "session setup failed");
            socket.destroy();
        });
    });

    async function accept(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
        const from = clientAddress(request);
        const audit: Record<string, unknown> = { tenant: config.tenantId, clientAddress: from };
        // The browser may go away at any point of the setup: a reset must not throw, and a
        // closed socket ends the setup before anything is kept for it.
        let gone = false;
        socket.on("error", () => (gone = true));
        socket.once("close", () => (gone = true));
        const stillThere = () => {
            if (gone || !socket.readable || !socket.writable) {
                throw new Refusal(400, "client_gone", "the browser left before the session started");
            }
        };
        let sessionId: string | undefined;
        let upstream: WebSocket | undefined;
        try {
            const url = parseRequestUrl(request.url);
            // Named in refusals before authentication too, when it has a device id's form.
            const asked = url.searchParams.get("deviceId");
            if (asked && isDeviceId(asked)) audit.deviceId = asked;
            if (url.pathname !== "/terminal")
                throw new Refusal(404, "not_found", `no WebSocket at ${url.pathname}`);
            if (state.draining) throw new Refusal(503, "draining", "the proxy is shutting down; reconnect");
            checkUpgrade(request);
            checkOrigin(request.headers.origin, config.allowedOrigins);
            const { token, source } = tokenOf(request, url, config.allowedOrigins);
            audit.tokenSource = source;
            const timer = metrics.verification.startTimer();
            const caller = await authenticate(deps.verify, token, config.oidc.role).finally(() => timer());
            stillThere();
            audit.user = userOf(caller);
            const deviceId = deviceIdOf(url);
            audit.deviceId = deviceId;
            checkDevice(caller, deviceId);
            sessionId = sessions.admit(userOf(caller), deviceId);
            const device = await deps.devices.lookup(deviceId);
            stillThere();
            upstream = await connectDevice(device, config.limits.maxFrameBytes);
            stillThere();
            let accepted = false;
            // Synchronous for a socket that is still open (checked above, with the headers ws
            // checks): if the callback did not run, ws refused the upgrade itself.
            wss.handleUpgrade(request, socket, head, (client) => {
                accepted = true;
                run(sessionId!, client, upstream!, caller, device, deviceId, from);
            });
            if (!accepted)
                throw new Refusal(400, "upgrade_refused", "the WebSocket upgrade request is not valid");
        } catch (error) {
            if (sessionId) sessions.release(sessionId);
            upstream?.terminate();
            const refusal = error instanceof Refusal ? error : new Refusal(500, "internal", "internal error");
            if (!(error instanceof Refusal)) log.error({ err: error }, "session setup failed");
            metrics.attempts.inc({ outcome: refusal.code });
            log.warn(
                {
                    event: "terminal.session.refused",
                    ...audit,
                    status: refusal.status,
                    code: refusal.code,
                    reason: refusal.message,
                },
                "terminal session refused",
            );
            if (!socket.destroyed) refuse(socket, refusal);
        }
    }

    function run(
        id: string,
        client: WebSocket,
        upstream: WebSocket,
        caller: Caller,
        device: DeviceTerminal,
        deviceId: string,
        from: string,
    ): void {
        const startedAt = new Date();
        const user = userOf(caller);
        metrics.attempts.inc({ outcome: "started" });
        metrics.active.inc();
        const record = config.recordingDir
            ? (columns: number, rows: number) =>
                  new SessionRecorder(
                      config.recordingDir!,
                      { sessionId: id, user, deviceId, columns, rows },
                      (reason) =>
                          log.error(
                              { event: "terminal.recording.failed", session: id, reason },
                              "recording stopped",
                          ),
                  )
            : undefined;
        const relay = new Relay({
            client,
            upstream,
            credential: device.credential,
            limits: config.limits,
            expiresAt: caller.expiresAt,
            record,
            onEnd: (end) => {
                sessions.release(id);
                metrics.active.dec();
                metrics.bytes.inc({ direction: "to_device" }, end.bytesFromClient);
                metrics.bytes.inc({ direction: "to_client" }, end.bytesFromDevice);
                const seconds = (Date.now() - startedAt.getTime()) / 1000;
                metrics.duration.observe(seconds);
                log.info(
                    {
                        event: "terminal.session.end",
                        session: id,
                        tenant: config.tenantId,
                        user,
                        deviceId,
                        clientAddress: from,
                        durationSeconds: seconds,
                        ...end,
                    },
                    "terminal session ended",
                );
            },
        });
        sessions.attach(id, {
            info: () => ({
                id,
                user,
                tenant: config.tenantId,
                deviceId,
                clientAddress: from,
                startedAt,
                bytesFromClient: relay.bytesFromClient,
                bytesFromDevice: relay.bytesFromDevice,
            }),
            close: (why) => relay.close(why),
        });
        log.info(
            {
                event: "terminal.session.start",
                session: id,
                tenant: config.tenantId,
                user,
                deviceId,
                clientAddress: from,
                recording: Boolean(record),
            },
            "terminal session started",
        );
    }

    await app.listen({ port: config.port, host: "0.0.0.0" });
    return {
        app,
        sessions,
        drain: async () => {
            state.draining = true;
            const deadline = Date.now() + config.drainSeconds * 1000;
            while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
            sessions.endAll(closeReasons.shutdown);
            while (sessions.size > 0 && Date.now() < deadline + 3000)
                await new Promise((r) => setTimeout(r, 50));
            wss.close();
            await app.close();
        },
    };
}
