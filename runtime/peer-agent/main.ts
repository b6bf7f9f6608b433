/**
 * The WireGuard peer-sync agent, a sidecar of the WireGuard server: follows the tenant bridge's
 * peer list and applies it to the interface live. Configuration from the environment (exit 2
 * naming every bad variable); `/healthz` on the health port answers 200 while it keeps up.
 */
import { createServer } from "node:http";
import pino from "pino";
import { configOrExit, EnvReader } from "../shared/env";
import { PeerAgent } from "./agent";
import { WireguardInterface } from "./wireguard";

/** The agent's settings. */
export interface PeerAgentConfig {
    readonly bridgeUrl: string;
    readonly token: string;
    readonly caPem: string;
    /** The bridge certificate's name, when the URL's host is another (the in-cluster Service). */
    readonly serverName?: string;
    readonly interfaceName: string;
    readonly waitSeconds: number;
    readonly healthPort: number;
}

/** Reads and checks the environment; throws an EnvError naming every bad variable. */
export function readPeerAgentConfig(env: Readonly<Record<string, string | undefined>>): PeerAgentConfig {
    const r = new EnvReader(env);
    const config: PeerAgentConfig = {
        bridgeUrl: r.url("BRIDGE_URL", ["https"], "the tenant bridge's URL")!,
        token: r.required("PEER_AGENT_TOKEN", "the peer agent's credential at the bridge"),
        caPem: r.file("BRIDGE_CA_FILE", "the CA of the bridge's certificate (PEM)") ?? "",
        serverName: r.optional("BRIDGE_TLS_SERVER_NAME"),
        interfaceName: r.optional("WG_INTERFACE") ?? "wg0",
        waitSeconds: r.integer("PEER_AGENT_WAIT_SECONDS", 50, 1, 55),
        healthPort: r.integer("PEER_AGENT_HEALTH_PORT", 9465, 1, 65535),
    };
    r.check("WG_INTERFACE", config.interfaceName, (v) =>
        /^[A-Za-z0-9_=+.-]{1,15}$/.test(v) ? undefined : "must be an interface name (15 characters at most)",
    );
    r.done();
    return config;
}

async function main(): Promise<void> {
    const config = configOrExit(readPeerAgentConfig);
    const log = pino({ level: process.env.LOG_LEVEL ?? "info" });
    const agent = new PeerAgent({
        bridgeUrl: config.bridgeUrl,
        token: config.token,
        caPem: config.caPem,
        serverName: config.serverName,
        wireguard: new WireguardInterface(config.interfaceName),
        waitSeconds: config.waitSeconds,
        log,
    });
    const staleAfterMs = 2 * (config.waitSeconds + 15) * 1000;
    const health = createServer((req, res) => {
        const fresh =
            agent.lastSyncAt !== undefined && Date.now() - agent.lastSyncAt.getTime() < staleAfterMs;
        res.writeHead(req.url === "/healthz" ? (fresh ? 200 : 503) : 404, {
            "content-type": "application/json",
        });
        res.end(JSON.stringify({ revision: agent.revision ?? null, lastSyncAt: agent.lastSyncAt ?? null }));
    });
    health.listen(config.healthPort);
    const stop = new AbortController();
    process.on("SIGTERM", () => stop.abort());
    process.on("SIGINT", () => stop.abort());
    log.info({ interface: config.interfaceName }, "following the bridge's peer list");
    await agent.run(stop.signal);
    health.close();
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(
            `peer agent failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
    });
}
