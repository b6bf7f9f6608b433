/**
 * ttyd 1.7.7 as the terminal tests run it (tests/support/ttyd-peer.ts: upstream's release binary),
 * spoken to with a raw `ws` client and, where the wire itself is the point, raw TCP. These pin
 * down what the terminal proxy has to cope with, including where ttyd differs from what its
 * protocol suggests: no HTTP 401 on the WebSocket upgrade, PAUSE ignored, status 1006 sent in a
 * close frame when the command fails, and output lost when the command exits at once.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { connect, Socket } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { projectRoot } from "../../tools/stack-config";
import { installTtyd, startTtydPeer, TtydOptions, TtydPeer } from "../support/ttyd-peer";

const credential = "user:pass";
const token = Buffer.from(credential).toString("base64"); // dXNlcjpwYXNz
const basic = { Authorization: `Basic ${token}` };
const host = hostname();
const peers: TtydPeer[] = [];

async function peer(options: TtydOptions = {}): Promise<TtydPeer> {
    const started = await startTtydPeer({ credential, ...options });
    peers.push(started);
    return started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(25);
    }
}

/** A `ws` client of ttyd that records everything it is sent. */
class Client {
    readonly frames: { text: string; binary: boolean }[] = [];
    readonly errors: string[] = [];
    pings = 0;
    closed?: { code: number; reason: string };

    private constructor(readonly ws: WebSocket) {
        ws.on("message", (data: Buffer, binary) =>
            this.frames.push({ text: data.toString("latin1"), binary }),
        );
        ws.on("error", (e) => this.errors.push(e.message));
        ws.on("ping", () => this.pings++);
        ws.on("close", (code, reason) => (this.closed = { code, reason: reason.toString() }));
    }

    /** Connects with `protocols` and `headers`; rejects with what went wrong before the upgrade. */
    static open(
        url: string,
        protocols: string[] = ["tty"],
        headers: Record<string, string> = basic,
    ): Promise<Client> {
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(url, protocols, { headers });
            const client = new Client(ws);
            ws.once("open", () => resolve(client));
            ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
            ws.once("error", (e) => reject(e));
        });
    }

    /** Opens a terminal: the JSON_DATA handshake with the right token and this size. */
    static async terminal(target: TtydPeer, columns = 80, rows = 24): Promise<Client> {
        const client = await Client.open(target.wsUrl);
        client.sendBinary(JSON.stringify({ AuthToken: token, columns, rows }));
        return client;
    }

    sendBinary(message: string): void {
        this.ws.send(Buffer.from(message, "utf8"), { binary: true });
    }

    /** OUTPUT ('0') payloads so far, concatenated. */
    output(): string {
        return this.frames
            .filter((f) => f.text.startsWith("0"))
            .map((f) => f.text.slice(1))
            .join("");
    }

    async waitForOutput(text: string): Promise<void> {
        await until(`output ${JSON.stringify(text)} (have ${JSON.stringify(this.output())})`, () =>
            this.output().includes(text),
        );
    }

    async waitForClose(): Promise<{ code: number; reason: string }> {
        await until("the connection to close", () => this.closed !== undefined);
        return this.closed!;
    }
}

/** A server frame: opcode and payload (server frames are not masked). */
interface Frame {
    opcode: number;
    payload: Buffer;
}

function parseFrames(data: Buffer): { frames: Frame[]; complete: boolean } {
    const frames: Frame[] = [];
    let at = 0;
    while (at + 2 <= data.length) {
        let length = data[at + 1] & 0x7f;
        let header = 2;
        if (length === 126) {
            if (at + 4 > data.length) break;
            length = data.readUInt16BE(at + 2);
            header = 4;
        } else if (length === 127) {
            if (at + 10 > data.length) break;
            length = Number(data.readBigUInt64BE(at + 2));
            header = 10;
        }
        if (at + header + length > data.length) break;
        frames.push({ opcode: data[at] & 0x0f, payload: data.subarray(at + header, at + header + length) });
        at += header + length;
    }
    return { frames, complete: at === data.length };
}

/** A client frame: FIN, `opcode`, masked as clients must. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    if (payload.length > 125) throw new Error("short frames only");
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/**
 * An upgrade request to `/ws` by hand, with `headers`. Answers what ttyd sent back: the response
 * head (empty if it sent nothing) and the frames after it, until it closed the connection or sent a
 * close frame. `first`, if given, is sent as a binary frame once the upgrade succeeded.
 */
function rawUpgrade(
    target: TtydPeer,
    headers: Record<string, string>,
    first?: string,
): Promise<{ head: string; frames: Frame[] }> {
    return new Promise((resolve, reject) => {
        const socket: Socket = connect(target.port, "127.0.0.1");
        let received = Buffer.alloc(0);
        let sentFirst = false;
        const timer = setTimeout(() => finish(new Error("no close within 10 s")), 10_000);
        const split = () => {
            const end = received.indexOf("\r\n\r\n");
            if (end < 0)
                return { head: received.toString("latin1"), frames: [] as Frame[], closeSeen: false };
            const { frames } = parseFrames(received.subarray(end + 4));
            return {
                head: received.subarray(0, end).toString("latin1"),
                frames,
                closeSeen: frames.some((f) => f.opcode === 0x8),
            };
        };
        const finish = (error?: Error) => {
            clearTimeout(timer);
            socket.destroy();
            const { head, frames } = split();
            if (error) reject(new Error(`${error.message}; received ${JSON.stringify(head)}`));
            else resolve({ head, frames });
        };
        socket.on("connect", () => {
            const lines = [
                "GET /ws HTTP/1.1",
                `Host: 127.0.0.1:${target.port}`,
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
                ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
            ];
            socket.write(`${lines.join("\r\n")}\r\n\r\n`);
        });
        socket.on("data", (d: Buffer) => {
            received = Buffer.concat([received, d]);
            const { head, closeSeen } = split();
            if (
                first !== undefined &&
                !sentFirst &&
                head.startsWith("HTTP/1.1 101") &&
                received.includes("\r\n\r\n")
            ) {
                sentFirst = true;
                socket.write(maskedFrame(0x2, Buffer.from(first)));
            }
            if (closeSeen) finish();
        });
        socket.on("close", () => finish());
        socket.on("error", () => undefined);
    });
}

function alive(pid: number): boolean {
    try {
        // A zombie has exited; only its parent has not collected it yet.
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
        return false;
    }
}

function get(url: string, headers: Record<string, string> = {}) {
    return fetch(url, { headers }).then(async (r) => ({
        status: r.status,
        contentType: r.headers.get("content-type"),
        wwwAuthenticate: r.headers.get("www-authenticate"),
        contentLength: r.headers.get("content-length"),
        body: await r.text(),
    }));
}

let shell: TtydPeer;

beforeAll(async () => {
    installTtyd();
    shell = await peer({ writable: true });
});

afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
});

describe("the binary", () => {
    it("is upstream's ttyd 1.7.7 release build", () => {
        expect(execFileSync(installTtyd(), ["--version"], { encoding: "utf8" }).trim()).toBe(
            "ttyd version 1.7.7-40e79c7",
        );
    });
});

describe("HTTP", () => {
    it("answers /token with the base64 credential, and only with Basic auth", async () => {
        expect(await get(`${shell.url}/token`, basic)).toEqual({
            status: 200,
            contentType: "application/json;charset=utf-8",
            wwwAuthenticate: null,
            contentLength: "25",
            body: `{"token": "${token}"}`,
        });
        const refused = {
            status: 401,
            contentType: null,
            wwwAuthenticate: 'Basic realm="ttyd"',
            contentLength: "0",
            body: "",
        };
        expect(await get(`${shell.url}/token`)).toEqual(refused);
        const wrong = { Authorization: `Basic ${Buffer.from("user:nope").toString("base64")}` };
        expect(await get(`${shell.url}/token`, wrong)).toEqual(refused);
    });
});

describe("the WebSocket upgrade", () => {
    it("is dropped without any HTTP response when Basic auth is missing or wrong (not 401)", async () => {
        expect(await rawUpgrade(shell, { "Sec-WebSocket-Protocol": "tty" })).toEqual({
            head: "",
            frames: [],
        });
        const wrong = `Basic ${Buffer.from("user:nope").toString("base64")}`;
        expect(await rawUpgrade(shell, { "Sec-WebSocket-Protocol": "tty", Authorization: wrong })).toEqual({
            head: "",
            frames: [],
        });
        await expect(Client.open(shell.wsUrl, ["tty"], {})).rejects.toThrow(/^socket hang up$/);
    });

    it("is dropped when the client offers only other subprotocols", async () => {
        expect(await rawUpgrade(shell, { "Sec-WebSocket-Protocol": "foo", ...basic })).toEqual({
            head: "",
            frames: [],
        });
        await expect(Client.open(shell.wsUrl, ["foo"])).rejects.toThrow(/^socket hang up$/);
    });

    it("answers 101 with `tty` when offered, among others", async () => {
        const client = await Client.open(shell.wsUrl, ["foo", "tty"]);
        expect(client.ws.protocol).toBe("tty");
        client.ws.close();
    });

    it("succeeds without a subprotocol, but such a socket never reaches a terminal", async () => {
        const client = await Client.open(shell.wsUrl, [], {});
        expect(client.ws.protocol).toBe("");
        client.sendBinary(JSON.stringify({ AuthToken: token, columns: 80, rows: 24 }));
        client.sendBinary("0echo never-$((1+1))\n");
        await sleep(1000);
        expect(client.frames).toEqual([]);
        expect(client.closed).toBeUndefined();
        client.ws.terminate();
    });
});

describe("the handshake", () => {
    it("closes with 1008 (policy violation) on a wrong AuthToken, before any output", async () => {
        const client = await Client.open(shell.wsUrl);
        client.sendBinary(JSON.stringify({ AuthToken: "dXNlcjpub3Bl", columns: 80, rows: 24 }));
        expect(await client.waitForClose()).toEqual({ code: 1008, reason: "" });
        expect(client.frames).toEqual([]);
    });

    it("closes with 1008 when the JSON has no AuthToken", async () => {
        const client = await Client.open(shell.wsUrl);
        client.sendBinary(JSON.stringify({ columns: 80, rows: 24 }));
        expect(await client.waitForClose()).toEqual({ code: 1008, reason: "" });
    });

    it("closes with 1008 when the JSON does not parse", async () => {
        const client = await Client.open(shell.wsUrl);
        client.sendBinary(`{"AuthToken": "${token}", "columns": 80,`);
        expect(await client.waitForClose()).toEqual({ code: 1008, reason: "" });
    });

    it("drops the connection without a close frame (1006) when the first message is not JSON", async () => {
        const client = await Client.open(shell.wsUrl);
        client.sendBinary("0echo hi\n");
        expect(await client.waitForClose()).toEqual({ code: 1006, reason: "" });
        expect(client.frames).toEqual([]);
        expect(client.errors).toEqual([]);
    });
});

describe("a terminal", () => {
    it("starts with SET_WINDOW_TITLE and SET_PREFERENCES, every server frame binary", async () => {
        const client = await Client.terminal(shell);
        await client.waitForOutput("# ");
        expect(client.frames.slice(0, 2)).toEqual([
            { text: `1/bin/sh (${host})`, binary: true },
            { text: "2{ }", binary: true },
        ]);
        expect(client.frames.every((f) => f.binary)).toBe(true);
        client.ws.close();
    });

    it("runs INPUT in a PTY of the handshake's size and follows RESIZE_TERMINAL", async () => {
        const client = await Client.terminal(shell, 91, 17);
        client.sendBinary("0stty size; echo hello-$((6*7))\n");
        await client.waitForOutput("hello-42\r\n");
        expect(client.output()).toContain("17 91\r\nhello-42\r\n");
        client.sendBinary(`1${JSON.stringify({ columns: 100, rows: 30 })}`);
        client.sendBinary("0stty size; echo resized-$((6*7))\n");
        await client.waitForOutput("resized-42\r\n");
        expect(client.output()).toContain("30 100\r\nresized-42\r\n");
        client.sendBinary('0echo "term=$TERM"\n');
        await client.waitForOutput("term=xterm-256color\r\n");
        // ttyd does not tell text frames from binary ones.
        client.ws.send("0echo text-$((1+2))\n");
        await client.waitForOutput("text-3\r\n");
        client.ws.close();
    });

    it("ignores INPUT unless started with --writable", async () => {
        const command = ["sh", "-c", 'read line; echo "got:$line"; sleep 60'];
        const readOnly = await peer({ command });
        const watcher = await Client.terminal(readOnly);
        watcher.sendBinary("0abc\n");
        await sleep(1000);
        expect(watcher.frames).toEqual([
            { text: `1${command.join(" ")} (${host})`, binary: true },
            { text: "2{ }", binary: true },
        ]);
        watcher.ws.close();

        const writable = await peer({ command, writable: true });
        const typist = await Client.terminal(writable);
        typist.sendBinary("0abc\n");
        await typist.waitForOutput("got:abc\r\n");
        expect(typist.output()).toBe("abc\r\ngot:abc\r\n");
        typist.ws.close();
    });

    it("ignores PAUSE: 1.7.7 keeps sending output while paused", async () => {
        const client = await Client.terminal(shell);
        await client.waitForOutput("# ");
        client.sendBinary("2");
        client.sendBinary("0echo paused-$((1+1))\n");
        await client.waitForOutput("paused-2\r\n");
        client.sendBinary("3");
        client.sendBinary("0echo resumed-$((1+2))\n");
        await client.waitForOutput("resumed-3\r\n");
        client.ws.close();
    });

    it("closes with 1000 when the command exits 0", async () => {
        const command = ["sh", "-c", "sleep 0.5; echo bye; sleep 0.5"];
        const client = await Client.terminal(await peer({ command }));
        expect(await client.waitForClose()).toEqual({ code: 1000, reason: "" });
        expect(client.frames).toEqual([
            { text: `1${command.join(" ")} (${host})`, binary: true },
            { text: "2{ }", binary: true },
            { text: "0bye\r\n", binary: true },
        ]);
    });

    it("sends a close frame with status 1006 when the command exits non-zero", async () => {
        const command = ["sh", "-c", "sleep 0.5; exit 3"];
        const failing = await peer({ command });
        const raw = await rawUpgrade(
            failing,
            { "Sec-WebSocket-Protocol": "tty", ...basic },
            JSON.stringify({ AuthToken: token, columns: 80, rows: 24 }),
        );
        expect(raw.head.split("\r\n")[0]).toBe("HTTP/1.1 101 Switching Protocols");
        expect(raw.frames).toEqual([
            { opcode: 0x2, payload: Buffer.from(`1${command.join(" ")} (${host})`) },
            { opcode: 0x2, payload: Buffer.from("2{ }") },
            { opcode: 0x8, payload: Buffer.from([0x03, 0xee]) },
        ]);
        // 1006 may not be sent on the wire (RFC 6455 §7.4.1): `ws` fails the connection for it.
        const client = await Client.terminal(failing);
        expect(await client.waitForClose()).toEqual({ code: 1006, reason: "" });
        expect(client.errors).toEqual(["Invalid WebSocket frame: invalid status code 1006"]);
    });

    it("hangs up the command's whole process group when the client goes away", async () => {
        const group = await peer({ command: ["sh", "-c", 'sleep 300 & echo "pids:$$:$!"; wait'] });
        const client = await Client.terminal(group);
        await client.waitForOutput("\r\n");
        const [, shPid, sleepPid] = /pids:(\d+):(\d+)/.exec(client.output())!.map(Number);
        expect([alive(shPid), alive(sleepPid)]).toEqual([true, true]);
        await until("ttyd to count the client", () => group.connections() === 1);
        client.ws.close();
        await until("the process group to end", () => !alive(shPid) && !alive(sleepPid));
        await until("ttyd to count no client", () => group.connections() === 0);
        expect(group.log()).toContain(`killing process, pid: ${shPid}\n`);
    });

    it("pings the client every --ping-interval seconds", async () => {
        const client = await Client.terminal(await peer({ pingInterval: 1 }));
        await sleep(3500);
        expect(client.pings).toBeGreaterThanOrEqual(2);
        expect(client.closed).toBeUndefined();
        client.ws.close();
    });
});

describe("the command line", () => {
    it("starts ttyd bound to the given address only", async () => {
        const cli: ChildProcess = spawn(
            join(projectRoot, "node_modules/.bin/tsx"),
            [
                "tests/support/ttyd-peer.ts",
                ...["--interface-address", "127.0.0.2", "--port", "0", "--credential", credential],
                ...["--writable", "--command", "/bin/sh"],
            ],
            { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] },
        );
        let stdout = "";
        let stderr = "";
        cli.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
        cli.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => cli.once("exit", (code) => resolve(code)));
        try {
            await until(`the CLI to listen (stderr: ${stderr})`, () => stdout.includes("\n"), 60_000);
            const url = /^ttyd-peer listening on (http:\/\/127\.0\.0\.2:(\d+))\n$/.exec(stdout);
            expect(url, stdout).not.toBeNull();
            const port = Number(url![2]);

            const refused = await new Promise<string>((resolve) => {
                const s = connect(port, "127.0.0.1");
                s.on("connect", () => resolve("connected"));
                s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
            });
            expect(refused).toBe("ECONNREFUSED");

            const target = { wsUrl: `ws://127.0.0.2:${port}/ws` } as TtydPeer;
            const client = await Client.terminal(target);
            client.sendBinary("0echo hello-$((6*7))\n");
            await client.waitForOutput("hello-42\r\n");
            expect(client.frames[0]).toEqual({ text: `1/bin/sh (${host})`, binary: true });
            client.ws.close();
        } finally {
            cli.kill("SIGTERM");
        }
        expect(await exited).toBe(0);
    });
});
