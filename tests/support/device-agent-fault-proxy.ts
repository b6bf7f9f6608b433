/**
 * TEST-ONLY FAULT INJECTION for the device agent's integration tests: an HTTPS proxy in front of
 * the real bridge that misbehaves on cue (error statuses, cut connections, hanging, malformed
 * answers) and counts the requests it is sent.
 */
import { createServer, Server, request as httpsRequest } from "node:https";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";

/** What the fault proxy does with one request. */
export type Fault =
    /** Answers this status and body itself. */
    | { readonly status: number; readonly body: string; readonly headers?: Record<string, string> }
    /** Sends the headers of a 201 with the full length, half the body, then drops the connection. */
    | "cut"
    /** Never answers (the agent's own timeout must end the request). */
    | "hang"
    /** Passes the request to the real bridge and its answer back. */
    | "forward";

/** A request the proxy received. */
export interface ProxiedRequest {
    readonly method: string;
    readonly path: string;
    readonly body: any;
    readonly fault: Fault;
}

/**
 * TEST-ONLY FAULT INJECTION: an HTTPS proxy in front of the real bridge that answers each request
 * with the next of `faults` (then forwards), to show how the agent copes with a misbehaving
 * server. Its certificate chains to the platform root, as the bridge's does.
 */
export class FaultInjectionProxy {
    readonly requests: ProxiedRequest[] = [];
    private faults: Fault[] = [];
    private readonly hung = new Set<Socket>();
    private server?: Server;

    constructor(
        private readonly upstream: string,
        private readonly rootPem: string,
        private readonly tls: { certPem: string; keyPem: string },
    ) {}

    /** Listens on 127.0.0.1:`port`; answers its base URL (https://localhost:port). */
    async listen(port: number): Promise<string> {
        this.server = createServer({ cert: this.tls.certPem, key: this.tls.keyPem }, (req, res) =>
            this.handle(req, res),
        );
        await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
        return `https://localhost:${port}`;
    }

    /** The faults for the next requests, in order; requests after them are forwarded. */
    script(faults: Fault[]): void {
        this.faults = [...faults];
        this.requests.length = 0;
    }

    private handle(req: IncomingMessage, res: ServerResponse): void {
        let text = "";
        req.on("data", (d: Buffer) => (text += d.toString()));
        req.on("end", () => {
            const fault = this.faults.shift() ?? "forward";
            let body: unknown;
            try {
                body = JSON.parse(text);
            } catch {
                body = text;
            }
            this.requests.push({ method: req.method ?? "", path: req.url ?? "", body, fault });
            if (fault === "hang") {
                this.hung.add(req.socket);
                return;
            }
            if (fault === "cut") {
                const full = JSON.stringify({ device_id: "cut", certificate_pem: "x".repeat(400) });
                res.writeHead(201, { "content-type": "application/json", "content-length": full.length });
                res.write(full.slice(0, 200), () => req.socket.destroy());
                return;
            }
            if (fault !== "forward") {
                res.writeHead(fault.status, { "content-type": "application/json", ...(fault.headers ?? {}) });
                res.end(fault.body);
                return;
            }
            const upstream = httpsRequest(
                `${this.upstream}${req.url}`,
                {
                    method: req.method,
                    ca: this.rootPem,
                    agent: false,
                    headers: { "content-type": "application/json" },
                },
                (answer) => {
                    let out = "";
                    answer.on("data", (d: Buffer) => (out += d.toString()));
                    answer.on("end", () => {
                        res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" });
                        res.end(out);
                    });
                },
            );
            upstream.on("error", (e) => {
                res.writeHead(502, { "content-type": "application/json" });
                res.end(JSON.stringify({ error: "proxy", message: e.message }));
            });
            upstream.end(text);
        });
    }

    close(): Promise<void> {
        for (const socket of this.hung) socket.destroy();
        return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }
}
