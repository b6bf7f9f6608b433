/**
 * The TLS client proxy beside tb-node: its routes, and real TLS on loopback: it carries bytes to a
 * server whose certificate chains to the given CA and names the expected host, and refuses others.
 */
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { AddressInfo, connect as tcpConnect, Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { rootProfile } from "../../components/pki/profile";
import { tlsProxyRoutes } from "../../components/thingsboard/bootstrap-job";
import { readTlsProxyConfig } from "../../runtime/tls-client-proxy/main";
import { parseRoutes, ProxyEvent, serveRoute } from "../../runtime/tls-client-proxy/proxy";
import { localhostTls, rootCa, TestCa } from "../support/pki";
import { resolve } from "../support/outputs";

let ca: TestCa;
let otherCa: TestCa;
const servers: Server[] = [];

beforeAll(async () => {
    [ca, otherCa] = await Promise.all([rootCa(rootProfile), rootCa(rootProfile)]);
});
afterEach(() => {
    for (const s of servers.splice(0)) s.close();
});

/** A TLS echo server for `localhost` issued by `issuer`; answers its port. */
async function echoServer(issuer: TestCa): Promise<number> {
    const { certPem, keyPem } = await localhostTls(issuer);
    const server = createTlsServer({ cert: certPem, key: keyPem }, (socket) => socket.pipe(socket));
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
}

/** Sends `text` through the proxy on `port`; answers what came back before the connection closed. */
async function roundTrip(port: number, text: string): Promise<string> {
    const socket = tcpConnect(port, "127.0.0.1");
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
        received += d;
        if (received === text) socket.end();
    });
    socket.write(text);
    await once(socket, "close");
    return received;
}

async function proxy(target: number, serverName: string, caPem: string | undefined, events: ProxyEvent[]) {
    const server = serveRoute(
        { listenPort: 0 as number, host: "127.0.0.1", port: target, serverName },
        0,
        caPem,
        (e) => events.push(e),
    );
    servers.push(server);
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
}

describe("TLS client proxy", () => {
    it("carries plain TCP over verified TLS to the target", async () => {
        const events: ProxyEvent[] = [];
        const port = await proxy(await echoServer(ca), "localhost", ca.pem, events);
        expect(await roundTrip(port, "AMQP\x00\x00\x09\x01")).toBe("AMQP\x00\x00\x09\x01");
        expect(events).toEqual([{ kind: "connected", route: 0, protocol: "TLSv1.3" }]);
    });

    it("passes no byte to a server whose certificate another CA issued or names another host", async () => {
        for (const [issuer, name] of [
            [otherCa, "localhost"],
            [ca, "amqp.cdm.example.com"],
        ] as const) {
            const events: ProxyEvent[] = [];
            const port = await proxy(await echoServer(issuer), name, ca.pem, events);
            expect(await roundTrip(port, "secret-bearing bytes")).toBe("");
            expect(events).toHaveLength(1);
            expect(events[0].kind).toBe("failed");
        }
    });

    it("parses routes and refuses bad ones by their problem", () => {
        const route = { listenPort: 5672, host: "amqp.cdm.example.com", port: 5671, caFile: "/etc/ca.crt" };
        expect(parseRoutes(JSON.stringify([route]))).toEqual([route]);
        expect(() => parseRoutes("{")).toThrow("is not JSON");
        expect(() => parseRoutes("[]")).toThrow("must be a non-empty JSON array of routes");
        expect(() => parseRoutes(JSON.stringify([{ ...route, port: 70000 }]))).toThrow(
            "route 0 needs listenPort and port (1..65535)",
        );
        expect(() => parseRoutes(JSON.stringify([{ ...route, tls: false }]))).toThrow(
            "route 0 has unknown keys: tls",
        );
        expect(() => parseRoutes(JSON.stringify([route, route]))).toThrow("two routes listen on one port");
    });

    it("reads the CA files of its routes, naming the variable when one is missing", () => {
        const dir = mkdtempSync(join(tmpdir(), "tls-proxy-"));
        writeFileSync(join(dir, "root.crt"), ca.pem);
        const routes = [
            { listenPort: 5672, host: "amqp.example.com", port: 5671, caFile: join(dir, "root.crt") },
        ];
        const config = readTlsProxyConfig({ TLS_PROXY_ROUTES: JSON.stringify(routes) });
        expect(config).toEqual({ routes, caPems: [ca.pem], healthPort: 9466 });
        expect(() =>
            readTlsProxyConfig({
                TLS_PROXY_ROUTES: JSON.stringify([{ ...routes[0], caFile: join(dir, "none") }]),
            }),
        ).toThrow(`TLS_PROXY_ROUTES names a file that cannot be read: ${join(dir, "none")} (ENOENT)`);
    });

    it("is given the provider's AMQPS endpoint and the bridge's Service by the component", async () => {
        const routes = await resolve(
            tlsProxyRoutes("amqps://amqp.cdm.example.com:5671", {
                internalUrl: "https://bridge.cdm-tenant-acme.svc.cluster.local:8443",
                serverName: "api.acme.cdm.example.com",
            }),
        );
        expect(JSON.parse(routes)).toEqual([
            {
                listenPort: 5672,
                host: "amqp.cdm.example.com",
                port: 5671,
                caFile: "/etc/tls-proxy/platform-root.crt",
            },
            {
                listenPort: 18443,
                host: "bridge.cdm-tenant-acme.svc.cluster.local",
                port: 8443,
                serverName: "api.acme.cdm.example.com",
            },
        ]);
    });
});
