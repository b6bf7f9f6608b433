/**
 * `npm run terminal -- --url wss://terminal.<tenant>.<domain>/terminal --device <id>`: a device's
 * shell in this terminal, through the terminal proxy, as the browser widget has it. The access
 * token comes from CDM_TERMINAL_TOKEN (never the command line, which other users can read) and
 * travels in a `bearer.` subprotocol entry. Ctrl-] ends the session.
 */
import { WebSocket } from "ws";

/** ttyd's command bytes. */
const input = 0x30;
const resize = 0x31;
const output = 0x30;
/** Ctrl-], as telnet has it: leaves the session. */
const escape = 0x1d;

function argument(argv: string[], name: string): string | undefined {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
}

/** The frames a local terminal sends: the handshake with its size, then input and resizes. */
export function handshake(columns: number, rows: number): Buffer {
    return Buffer.from(JSON.stringify({ AuthToken: "", columns, rows }));
}

export function inputFrame(data: Buffer): Buffer {
    return Buffer.concat([Buffer.from([input]), data]);
}

export function resizeFrame(columns: number, rows: number): Buffer {
    return Buffer.concat([Buffer.from([resize]), Buffer.from(JSON.stringify({ columns, rows }))]);
}

function main(): void {
    const argv = process.argv.slice(2);
    const url = argument(argv, "--url") ?? "ws://127.0.0.1:8080/terminal";
    const device = argument(argv, "--device");
    const token = process.env.CDM_TERMINAL_TOKEN;
    if (!device || !token) {
        process.stderr.write(
            "usage: CDM_TERMINAL_TOKEN=<access token> npm run terminal -- --device <id> [--url <ws(s)://…/terminal>]\n",
        );
        process.exit(2);
    }
    const target = new URL(url);
    target.searchParams.set("deviceId", device);
    const ws = new WebSocket(target, ["tty", `bearer.${token}`]);
    const size = () => ({ columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
    ws.on("unexpected-response", (_request, response) => {
        let body = "";
        response.on("data", (d: Buffer) => (body += d.toString()));
        response.on("end", () => {
            process.stderr.write(`refused: ${response.statusCode} ${body}\n`);
            process.exit(1);
        });
    });
    ws.on("error", (error) => {
        process.stderr.write(`terminal: ${error.message}\n`);
        process.exit(1);
    });
    ws.on("open", () => {
        const { columns, rows } = size();
        ws.send(handshake(columns, rows));
        if (process.stdin.isTTY) process.stdin.setRawMode(true);
        process.stdin.on("data", (data: Buffer) => {
            if (data.includes(escape)) return ws.close(1000, "user left");
            ws.send(inputFrame(data));
        });
        process.stdout.on("resize", () => ws.send(resizeFrame(size().columns, size().rows)));
    });
    ws.on("message", (data: Buffer) => {
        if (data[0] === output) process.stdout.write(data.subarray(1));
    });
    ws.on("close", (code, reason) => {
        if (process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stderr.write(
            `\r\n[session closed: ${code}${reason.length ? ` ${reason.toString()}` : ""}]\r\n`,
        );
        process.exit(code === 1000 ? 0 : 1);
    });
}

if (require.main === module) main();
