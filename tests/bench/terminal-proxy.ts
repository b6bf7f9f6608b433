/**
 * The terminal proxy (issue #8), each figure against a direct connection to the same upstream
 * in the same run:
 * - throughput of a bulk stream from the device to the browser, and of the same stream through a
 *   plain TCP relay in the proxy's thread: the most any relay hop can reach on this machine;
 * - added round-trip latency of small frames (p99);
 * - memory per idle session;
 * - token verifications per second (the proxy's verifier against a bare `jwtVerify`).
 *
 * The upstream is a loopback WebSocket server speaking ttyd's framing minimally (subprotocol
 * `tty`, a JSON handshake first, then "0"-prefixed binary frames): an echo and a bulk stream,
 * since the bench measures the proxy, not a shell.
 *
 * The browsers and the devices (the "peers") run in one worker thread and the proxy in another,
 * as it would in a pod of its own. The peers then do the same work whether or not the proxy is
 * between them, so a proxied run differs from a direct one only by the proxy; on one shared
 * thread, the proxy's work would be taken out of the peers' time instead. A fresh thread also
 * keeps the proxy's memory apart from everything else the bench process has run.
 */
import { once } from "node:events";
import { AddressInfo, connect, createServer, Server, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { createLocalJWKSet, jwtVerify } from "jose";
import pino from "pino";
import { WebSocket, WebSocketServer } from "ws";
import { TerminalMetrics } from "../../runtime/terminal-proxy/metrics";
import { startTerminalProxy, TerminalProxy } from "../../runtime/terminal-proxy/server";
import { testProxyConfig, TokenRealm } from "../support/terminal";
import { median, round, Scenario, scenario } from "./scenario";

/** How much each scenario does; a quick run keeps all four within several seconds. */
interface Sizes {
    /** Bytes the stream upstream sends per session, and how many streams of each kind. */
    readonly streamBytes: number;
    readonly streamRuns: number;
    /** Sequential round trips of each kind, after `warmUpTrips` not counted. */
    readonly roundTrips: number;
    readonly warmUpTrips: number;
    /** Concurrent idle sessions of each kind. */
    readonly idleSessions: number;
    /** Verifications of each kind per round, and rounds. */
    readonly verifications: number;
    readonly verificationRounds: number;
}

const quickSizes: Sizes = {
    streamBytes: 128 * 1024 * 1024,
    streamRuns: 3,
    roundTrips: 2000,
    warmUpTrips: 200,
    idleSessions: 500,
    verifications: 2000,
    verificationRounds: 3,
};

const fullSizes: Sizes = {
    streamBytes: 512 * 1024 * 1024,
    streamRuns: 5,
    roundTrips: 10_000,
    warmUpTrips: 500,
    idleSessions: 2000,
    verifications: 5000,
    verificationRounds: 5,
};

/** Output frames of the stream upstream: "0" and 32 KiB of terminal output. */
const streamFrameBytes = 32 * 1024;
/** Bytes the stream upstream lets its socket hold before waiting for writes to complete. */
const streamWindow = 1024 * 1024;
/** The input of a latency round trip: "0" and 16 bytes. */
const keystrokes = Buffer.from("0abcdefghijklmnop");
/** ttyd's first client message; the proxy adds `AuthToken`, which the upstream ignores. */
const handshake = JSON.stringify({ AuthToken: "", columns: 80, rows: 24 });
/** Idle sessions are opened this many at a time, below the listen backlog of either server. */
const openBatch = 100;
/**
 * How long the relay keeps hold of a closed session's sockets (its 2 s terminate timer) and a
 * margin: memory measured sooner would count them, to be freed during the next measurement.
 */
const relayLingerMs = 2500;
/** Longest any one request to a thread may take, so that a stuck session fails the bench rather than hanging it. */
const callTimeoutMs = 120_000;

export async function terminalProxy(quick: boolean): Promise<Scenario[]> {
    const sizes = quick ? quickSizes : fullSizes;
    const peers = await Thread.start<PeerApi>({
        role: "terminal-bench-peers",
        streamBytes: sizes.streamBytes,
    });
    let proxy: Thread<ProxyApi> | undefined;
    const scenarios: Scenario[] = [];
    const left = { sessions: 0, sockets: 0 };
    try {
        proxy = await Thread.start<ProxyApi>({ role: "terminal-bench-proxy" });
        const ports = await peers.call("ports");
        const proxied = await proxy.call("listen", ports);
        const threads = { peers, proxy };
        const stream = { direct: `ws://127.0.0.1:${ports.stream}/ws`, proxied: proxied.stream };
        const echo = { direct: `ws://127.0.0.1:${ports.echo}/ws`, proxied: proxied.echo };
        scenarios.push(...(await throughput(threads, { ...stream, relayed: proxied.relayedStream }, sizes)));
        scenarios.push(await addedLatency(threads, echo, sizes));
        scenarios.push(await idleMemory(threads, echo, sizes));
        scenarios.push(await tokenVerifications(sizes));
    } finally {
        try {
            left.sessions = (await proxy?.stop()) ?? 0;
        } finally {
            left.sockets = await peers.stop();
        }
    }
    // Checked only once the scenarios succeeded, so that a failure is reported as itself.
    if (left.sessions > 0 || left.sockets > 0) {
        throw new Error(
            `terminal bench: ${left.sessions} proxy sessions or relay sockets and ${left.sockets} peer sockets were left open`,
        );
    }
    return scenarios;
}

/** The same peer code's two ways to an upstream. */
interface Paths {
    readonly direct: string;
    readonly proxied: string;
}

interface Threads {
    readonly peers: Thread<PeerApi>;
    readonly proxy: Thread<ProxyApi>;
}

/**
 * The proxy's stream rate against the direct one; and a plain TCP relay's (bytes piped, no
 * WebSocket work) against the direct one, the ceiling of any relay hop here: the hop's two
 * extra socket copies compete with the peers for the same cores.
 */
async function throughput(
    { peers }: Threads,
    paths: Paths & { relayed: string },
    sizes: Sizes,
): Promise<Scenario[]> {
    const mib = sizes.streamBytes / (1024 * 1024);
    const rate = async (url: string) => mib / ((await peers.call("stream", url, sizes.streamBytes)) / 1000);
    const urls = [paths.direct, paths.proxied, paths.relayed];
    for (const url of urls) await rate(url); // warm-up of every path
    const rates: number[][] = [[], [], []];
    for (let run = 0; run < sizes.streamRuns; run++) {
        for (const [i, url] of urls.entries()) rates[i].push(await rate(url));
    }
    const [direct, proxied, relayed] = rates.map(median);
    const stream = `device-to-browser stream of ${mib} MiB in ${streamFrameBytes / 1024} KiB frames`;
    const against = `against the same stream straight from the upstream (median of ${sizes.streamRuns})`;
    return [
        scenario("terminal-throughput", `${stream} through the proxy, ${against}`, "MiB/s", proxied, direct),
        scenario(
            "terminal-tcp-relay-ceiling",
            `${stream} through a plain TCP relay in the proxy's thread (no WebSocket work), ${against}`,
            "MiB/s",
            relayed,
            direct,
        ),
    ];
}

async function addedLatency({ peers }: Threads, paths: Paths, sizes: Sizes): Promise<Scenario> {
    const trips = await peers.call("roundTrips", paths, sizes.roundTrips, sizes.warmUpTrips);
    const direct = percentile(trips.direct, 0.99);
    const proxied = percentile(trips.proxied, 0.99);
    console.log(
        `terminal-added-latency-p99: ${round(proxied - direct)} ms added (p99 ${round(proxied)} ms proxied, ` +
            `${round(direct)} ms direct; medians ${round(median(trips.proxied))} and ${round(median(trips.direct))} ms)`,
    );
    return {
        name: "terminal-added-latency-p99",
        metric: `p99 round trip of a 16-byte input echoed back, proxied minus direct, over ${sizes.roundTrips} sequential round trips of each (interleaved); baseline is the direct p99, ratio proxied p99 / direct p99`,
        unit: "ms",
        value: round(proxied - direct),
        baseline: round(direct),
        ratio: round(proxied / direct),
    };
}

async function idleMemory(threads: Threads, paths: Paths, sizes: Sizes): Promise<Scenario> {
    const count = sizes.idleSessions;
    // A few sessions of each kind before each measurement, so that code compiled and pools grown
    // on first use are in the "before" figure rather than in the growth.
    await idleGrowth(threads, paths.direct, 20);
    const direct = await idleGrowth(threads, paths.direct, count);
    await idleGrowth(threads, paths.proxied, 20);
    await new Promise((r) => setTimeout(r, relayLingerMs));
    const proxied = await idleGrowth(threads, paths.proxied, count);
    const perSession = (bytes: number) => bytes / count / 1024;
    console.log(
        `terminal-memory-per-idle-session: the proxy's own share ${round(perSession(proxied.proxy))} KiB/session ` +
            `(browser and upstream sides ${round(perSession(proxied.peers))} proxied, ${round(perSession(direct.peers))} direct)`,
    );
    return scenario(
        "terminal-memory-per-idle-session",
        `heap and external memory after GC per idle session with ${count} concurrent idle sessions through the proxy (browser, proxy and upstream sides), against ${count} direct idle connections to the upstream (browser and upstream sides)`,
        "KiB/session",
        perSession(proxied.proxy + proxied.peers),
        perSession(direct.proxy + direct.peers),
    );
}

/**
 * Growth of the proxy thread's and of the peers thread's memory with `count` idle sessions at
 * `url`: V8 heap and external memory after GC, which each thread has to itself. Process RSS
 * would mix the threads and keep the pages the throughput runs freed.
 */
async function idleGrowth(
    { peers, proxy }: Threads,
    url: string,
    count: number,
): Promise<{ proxy: number; peers: number }> {
    const before = { proxy: await proxy.call("memory"), peers: await peers.call("memory") };
    await peers.call("openIdle", url, count);
    const after = { proxy: await proxy.call("memory"), peers: await peers.call("memory") };
    await peers.call("closeIdle");
    await proxy.call("idle");
    return {
        proxy: heapAndExternal(after.proxy) - heapAndExternal(before.proxy),
        peers: heapAndExternal(after.peers) - heapAndExternal(before.peers),
    };
}

async function tokenVerifications(sizes: Sizes): Promise<Scenario> {
    const realm = new TokenRealm();
    const token = await realm.token({ exp: Math.floor(Date.now() / 1000) + 3600 });
    const verifier = realm.verifier();
    const keys = createLocalJWKSet({ keys: [realm.jwk] });
    const raw = (t: string) => jwtVerify(t, keys);
    const rate = async (verify: (t: string) => Promise<unknown>) => {
        const start = performance.now();
        for (let i = 0; i < sizes.verifications; i++) await verify(token);
        return sizes.verifications / ((performance.now() - start) / 1000);
    };
    await rate(raw); // warm-up: key import and compiled code
    await rate(verifier);
    const rawRates: number[] = [];
    const verifierRates: number[] = [];
    for (let round = 0; round < sizes.verificationRounds; round++) {
        rawRates.push(await rate(raw));
        verifierRates.push(await rate(verifier));
    }
    return scenario(
        "terminal-token-verifications",
        `ES256 access tokens verified per second by the proxy's verifier (warm local JWKS; issuer, audience, algorithms, expiry, tenant), against jose's jwtVerify with the same key and no policy (median of ${sizes.verificationRounds} rounds of ${sizes.verifications})`,
        "verifications/s",
        median(verifierRates),
        median(rawRates),
    );
}

/** The `q` quantile of `values` (nearest rank). */
function percentile(values: readonly number[], q: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Waits until `done()` holds, polling; throws after `timeoutMs` naming what it waited for. */
async function until(done: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

/** `gc()`, which tsx gives no way to expose with a flag: exposed at run time, in a fresh context. */
let gc: (() => void) | undefined;

/** This thread's memory after a full collection. */
function collectedMemory(): NodeJS.MemoryUsage {
    if (!gc) {
        setFlagsFromString("--expose-gc");
        gc = runInNewContext("gc") as () => void;
    }
    // Twice: the first collection may only queue finalizers whose memory the second frees.
    gc();
    gc();
    return process.memoryUsage();
}

/** A thread's own memory: its V8 heap, and buffers outside it (`external` includes ArrayBuffers). */
function heapAndExternal(m: NodeJS.MemoryUsage): number {
    return m.heapUsed + m.external;
}

// ---- The worker threads: this module again, serving requests from the main thread ----

/** What the worker threads serve: requests by name, and `stop`, which answers what was left open. */
type ThreadApi<A> = { [K in keyof A]: (...args: never[]) => unknown } & { stop(): Promise<number> };

type ThreadData = { role: "terminal-bench-peers"; streamBytes: number } | { role: "terminal-bench-proxy" };
type Call = { id: number; op: string; args: unknown[] };
type Answer = { id: number; result?: unknown; error?: string };

/** The main thread's handle on a worker thread serving `A`. */
class Thread<A extends ThreadApi<A>> {
    private nextId = 0;
    private readonly waiting = new Map<
        number,
        { resolve: (v: unknown) => void; reject: (e: Error) => void }
    >();
    private failure?: Error;

    private constructor(
        private readonly worker: Worker,
        private readonly role: string,
    ) {
        worker.on("message", ({ id, result, error }: Answer) => {
            const call = this.waiting.get(id);
            this.waiting.delete(id);
            if (error === undefined) call?.resolve(result);
            else call?.reject(new Error(`${role}: ${error}`));
        });
        worker.on("error", (error) => {
            this.failure = error;
            for (const call of this.waiting.values()) call.reject(error);
            this.waiting.clear();
        });
    }

    /** Starts a worker on this module, under tsx, which workers do not inherit. */
    static async start<A extends ThreadApi<A>>(data: ThreadData): Promise<Thread<A>> {
        const worker = new Worker(
            `require(${JSON.stringify(require.resolve("tsx/cjs"))}); require(${JSON.stringify(__filename)});`,
            { eval: true, workerData: data },
        );
        await once(worker, "online");
        return new Thread<A>(worker, data.role);
    }

    call<K extends keyof A & string>(op: K, ...args: Parameters<A[K]>): Promise<Awaited<ReturnType<A[K]>>> {
        if (this.failure) return Promise.reject(this.failure);
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiting.delete(id);
                reject(new Error(`${this.role}: ${op} took over ${callTimeoutMs / 1000} s`));
            }, callTimeoutMs);
            this.waiting.set(id, {
                resolve: (value) => {
                    clearTimeout(timer);
                    resolve(value as Awaited<ReturnType<A[K]>>);
                },
                reject: (error) => {
                    clearTimeout(timer);
                    reject(error);
                },
            });
            this.worker.postMessage({ id, op, args } satisfies Call);
        });
    }

    /** Closes everything the thread opened and ends it; answers what was still open. */
    async stop(): Promise<number> {
        try {
            return (await this.call("stop", ...([] as Parameters<A["stop"]>))) as number;
        } finally {
            await this.worker.terminate();
        }
    }
}

/** Answers the main thread's calls with `api` (in a worker thread). */
function serve<A extends ThreadApi<A>>(api: A): void {
    const operations = api as unknown as Record<string, (...args: unknown[]) => unknown>;
    parentPort!.on("message", ({ id, op, args }: Call) => {
        const answer = (result: unknown) => parentPort!.postMessage({ id, result } satisfies Answer);
        const fail = (error: unknown) =>
            parentPort!.postMessage({
                id,
                error: error instanceof Error ? error.message : String(error),
            } satisfies Answer);
        Promise.resolve()
            .then(() => operations[op](...args))
            .then(answer, fail);
    });
}

// ---- The proxy's thread ----

interface ProxyApi {
    /**
     * Starts the proxy towards the peers' upstreams; answers each one's URL through the proxy,
     * and the stream's through a plain TCP relay.
     */
    listen(ports: UpstreamPorts): Promise<{ echo: string; stream: string; relayedStream: string }>;
    /** Returns once the proxy holds no session. */
    idle(): Promise<void>;
    /** This thread's memory after a full collection. */
    memory(): NodeJS.MemoryUsage;
    /** Drains the proxy; answers how many sessions it still held. */
    stop(): Promise<number>;
}

function proxyApi(): ProxyApi {
    let proxy: TerminalProxy | undefined;
    let relay: Server | undefined;
    const relaySockets = new Set<Socket>();
    return {
        listen: async (ports) => {
            const realm = new TokenRealm();
            proxy = await startProxy(realm, ports);
            relay = await tcpRelay(ports.stream, relaySockets);
            const token = await realm.token({ exp: Math.floor(Date.now() / 1000) + 3600 });
            const url = `ws://127.0.0.1:${(proxy.app.server.address() as AddressInfo).port}/terminal?token=${token}`;
            return {
                echo: `${url}&deviceId=bench-echo`,
                stream: `${url}&deviceId=bench-stream`,
                relayedStream: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/ws`,
            };
        },
        idle: () => until(() => !proxy || proxy.sessions.size === 0, "the proxy to end its sessions"),
        memory: collectedMemory,
        stop: async () => {
            relay?.close();
            const open = relaySockets.size;
            for (const socket of relaySockets) socket.destroy();
            if (!proxy) return open;
            await proxy.drain();
            return proxy.sessions.size + open;
        },
    };
}

/** A TCP relay on loopback to `port`: each connection piped both ways, nothing parsed. */
async function tcpRelay(port: number, sockets: Set<Socket>): Promise<Server> {
    const server = createServer((client) => {
        const upstream = connect(port, "127.0.0.1");
        for (const socket of [client, upstream]) {
            sockets.add(socket);
            socket.setNoDelay(true);
            socket.on("error", () => socket.destroy());
            socket.once("close", () => {
                sockets.delete(socket);
                client.destroy();
                upstream.destroy();
            });
        }
        client.pipe(upstream);
        upstream.pipe(client);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return server;
}

/** The proxy with high per-user and per-device limits; both bench devices are the peers' upstreams. */
function startProxy(realm: TokenRealm, ports: UpstreamPorts): Promise<TerminalProxy> {
    const credential = { username: "cdm-terminal", password: "bench" };
    const devices: Record<string, number> = { "bench-echo": ports.echo, "bench-stream": ports.stream };
    const base = testProxyConfig();
    return startTerminalProxy(
        testProxyConfig({
            allowedOrigins: [],
            limits: { ...base.limits, perUser: 100_000, perDevice: 100_000 },
        }),
        {
            verify: realm.verifier(),
            devices: {
                lookup: async (id) => {
                    const port = devices[id];
                    if (port === undefined) throw new Error(`no bench device ${id}`);
                    return { address: "127.0.0.1", port, credential };
                },
            },
            log: pino({ level: "silent" }),
            metrics: new TerminalMetrics(false),
        },
    );
}

// ---- The peers' thread: browsers and devices ----

interface UpstreamPorts {
    readonly echo: number;
    readonly stream: number;
}

interface PeerApi {
    /** The ports of the echo and the stream upstream. */
    ports(): UpstreamPorts;
    /** Milliseconds from a session's opening to the last byte of the stream upstream's output. */
    stream(url: string, bytes: number): Promise<number>;
    /** Round-trip times in ms of a session on each path, one trip on each in turn. */
    roundTrips(paths: Paths, count: number, warmUp: number): Promise<{ direct: number[]; proxied: number[] }>;
    /** Opens `count` sessions that send the handshake and nothing else, until all reached the upstream. */
    openIdle(url: string, count: number): Promise<void>;
    /** Closes the idle sessions; returns when the upstream has seen every one close. */
    closeIdle(): Promise<void>;
    /** This thread's memory after a full collection. */
    memory(): NodeJS.MemoryUsage;
    /** Closes the upstreams; answers how many sockets were still open. */
    stop(): Promise<number>;
}

/** A client session's socket, open once ttyd's handshake is sent. */
async function openSession(url: string): Promise<WebSocket> {
    const ws = new WebSocket(url, ["tty"], { perMessageDeflate: false });
    await once(ws, "open");
    ws.send(handshake);
    return ws;
}

/** Closes `ws` and waits until it is closed. */
async function closeSession(ws: WebSocket): Promise<void> {
    if (ws.readyState === WebSocket.CLOSED) return;
    const closed = once(ws, "close");
    ws.close(1000);
    await closed;
}

/** A ttyd stand-in on loopback; `onSession` gets each socket once its handshake has arrived. */
async function upstream(onSession: (socket: WebSocket) => void): Promise<WebSocketServer> {
    const server = new WebSocketServer({
        host: "127.0.0.1",
        port: 0,
        perMessageDeflate: false,
        handleProtocols: (offered) => (offered.has("tty") ? "tty" : false),
    });
    server.on("connection", (socket) => {
        socket.once("message", (first) => {
            if ((first as Buffer)[0] !== 0x7b /* "{" */) socket.close(1008, "handshake expected");
            else onSession(socket);
        });
    });
    await once(server, "listening");
    return server;
}

/** Sends `bytes` of output in frames, as fast as the socket takes them. */
function streamOutput(socket: WebSocket, bytes: number): void {
    const frame = Buffer.alloc(1 + streamFrameBytes, "x");
    frame[0] = 0x30; // "0": output
    let sent = 0;
    let inFlight = 0;
    const pump = () => {
        while (sent < bytes && inFlight < streamWindow && socket.readyState === WebSocket.OPEN) {
            const chunk = frame.subarray(0, 1 + Math.min(streamFrameBytes, bytes - sent));
            sent += chunk.length - 1;
            inFlight += chunk.length;
            socket.send(chunk, { binary: true }, () => {
                inFlight -= chunk.length;
                pump();
            });
        }
    };
    pump();
}

async function peerApi(streamBytes: number): Promise<PeerApi> {
    /** Echo sessions that got their handshake, for `openIdle` to know every idle session is through. */
    const echoSessions = new Set<WebSocket>();
    const echo = await upstream((socket) => {
        echoSessions.add(socket);
        socket.on("close", () => echoSessions.delete(socket));
        socket.on("message", (data) => socket.send(data as Buffer, { binary: true }));
    });
    const stream = await upstream((socket) => streamOutput(socket, streamBytes));
    const idle: WebSocket[] = [];
    const openSockets = () => idle.length + echo.clients.size + stream.clients.size;
    return {
        ports: () => ({
            echo: (echo.address() as AddressInfo).port,
            stream: (stream.address() as AddressInfo).port,
        }),
        stream: async (url, bytes) => {
            const ws = await openSession(url);
            const start = performance.now();
            let received = 0;
            await new Promise<void>((resolve, reject) => {
                ws.on("message", (data: Buffer) => {
                    received += data.length - 1;
                    if (received >= bytes) resolve();
                });
                ws.once("close", () =>
                    reject(new Error(`the stream ended after ${received} of ${bytes} bytes`)),
                );
            });
            const elapsed = performance.now() - start;
            await closeSession(ws);
            return elapsed;
        },
        roundTrips: async (paths, count, warmUp) => {
            const sessions = {
                direct: await openSession(paths.direct),
                proxied: await openSession(paths.proxied),
            };
            const times = { direct: [] as number[], proxied: [] as number[] };
            const trip = async (kind: keyof Paths, i: number) => {
                const ws = sessions[kind];
                const start = performance.now();
                const answer = once(ws, "message");
                ws.send(keystrokes, { binary: true });
                const [data] = (await answer) as [Buffer];
                if (!data.equals(keystrokes)) throw new Error(`${kind} echo answered ${data.toString()}`);
                if (i >= warmUp) times[kind].push(performance.now() - start);
            };
            for (let i = 0; i < warmUp + count; i++) {
                // Interleaved, and in alternating order, so that neither path gets the quieter turns.
                const order: (keyof Paths)[] = i % 2 ? ["direct", "proxied"] : ["proxied", "direct"];
                for (const kind of order) await trip(kind, i);
            }
            await Promise.all([closeSession(sessions.direct), closeSession(sessions.proxied)]);
            return times;
        },
        openIdle: async (url, count) => {
            // The upstream may not have seen earlier sessions close yet; count from none.
            await until(() => echoSessions.size === 0, "earlier sessions to close at the upstream");
            for (let opened = 0; opened < count; opened += openBatch) {
                const batch = Math.min(openBatch, count - opened);
                idle.push(...(await Promise.all(Array.from({ length: batch }, () => openSession(url)))));
            }
            await until(() => echoSessions.size === count, "idle sessions to reach the upstream");
        },
        closeIdle: async () => {
            await Promise.all(idle.splice(0).map(closeSession));
            await until(() => echo.clients.size === 0, "the upstream to see the idle sessions close");
        },
        memory: collectedMemory,
        stop: async () => {
            // A moment for closing handshakes that the last sessions started.
            await until(() => openSockets() === 0, "sockets to close", 2000).catch(() => undefined);
            const left = openSockets();
            for (const ws of [...idle, ...echo.clients, ...stream.clients]) ws.terminate();
            await Promise.all([echo, stream].map((s) => new Promise((r) => s.close(r))));
            return left;
        },
    };
}

if (!isMainThread) {
    const data = workerData as ThreadData | undefined;
    if (data?.role === "terminal-bench-peers") void peerApi(data.streamBytes).then(serve);
    if (data?.role === "terminal-bench-proxy") serve(proxyApi());
}
