/**
 * `npm run dev`: a tenant bridge on this machine with embedded defaults. The database is PGlite
 * (kept in .cache/dev/bridge-db); the peers are real: step-ca and hawkBit from the repo's peer
 * scripts (built or fetched once, then cached), on a throwaway PKI made at start. Beside it, the
 * terminal proxy, with a demo device enrolled at start whose terminal is a real ttyd on
 * loopback (there is no VPN here: the proxy's lookups are pointed at it). Prints tokens and the
 * commands that enroll a device and open its terminal. Ctrl-C stops everything.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBridgeConfig } from "../runtime/bridge/config";
import { startBridge } from "../runtime/bridge/main";
import pino from "pino";
import { accessTokenVerifier } from "../runtime/shared/auth/access-token";
import { DeviceDirectory } from "../runtime/terminal-proxy/devices";
import { TerminalMetrics } from "../runtime/terminal-proxy/metrics";
import { startTerminalProxy } from "../runtime/terminal-proxy/server";
import { serveJwks, testRealm, TestRealm } from "../tests/support/bridge";
import { httpsJson } from "../tests/support/bridge-process";
import { csr, ecKey } from "../tests/support/pki";
import { testProxyConfig } from "../tests/support/terminal";
import { startTtydPeer } from "../tests/support/ttyd-peer";
import { startHawkbit } from "../tests/support/hawkbit";
import { startTenantCa, tenantBridgeEnv, tenantPki } from "../tests/support/tenant-peers";
import { projectRoot } from "./stack-config";

const ports = { api: 8443, management: 9464, stepCa: 9000, jwks: 9080, hawkbit: 9081, terminal: 8080 };

/** Enrolls `id` through the bridge's API; answers the enrollment answer. */
async function enrollDemo(url: string, rootPem: string, admin: string, id: string): Promise<any> {
    const issued = await httpsJson(
        `${url}/enrollment-tokens`,
        rootPem,
        "POST",
        { device_id: id, ttl_seconds: 600 },
        { bearer: admin },
    );
    const enrolled = await httpsJson(`${url}/devices/${id}/enroll`, rootPem, "POST", {
        csr_pem: await csr(await ecKey(), id),
        wireguard_public_key: randomBytes(32).toString("base64"),
        enrollment_token: issued.json.token,
    });
    if (enrolled.status !== 201 && enrolled.status !== 409) {
        throw new Error(
            `could not enroll the demo device: ${enrolled.status} ${JSON.stringify(enrolled.json)}`,
        );
    }
    return enrolled.json;
}

async function main(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "cdm-dev-"));
    const dataDir = join(projectRoot, ".cache/dev/bridge-db");
    mkdirSync(dataDir, { recursive: true });
    console.log("starting step-ca (built on first use) …");
    const pki = await tenantPki();
    const stepCa = await startTenantCa(pki, ports.stepCa);
    console.log("starting hawkBit (fetched on first use; about a minute) …");
    const hawkbit = await startHawkbit(ports.hawkbit);
    const realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
    const jwks = await serveJwks(realm, ports.jwks);
    const env = {
        BRIDGE_DATABASE: "pglite",
        BRIDGE_PGLITE_DIR: dataDir,
        ...(await tenantBridgeEnv(
            { ...pki, stepCaPort: ports.stepCa, dir },
            ports,
            { url: hawkbit.url, ...hawkbit.bridge },
            realm.issuer,
        )),
    };
    const config = readBridgeConfig(env);
    const bridge = await startBridge(config, process.env.LOG_LEVEL ?? "info");
    const admin = await realm.token({ sub: "dev-admin", roles: ["tenant-admin"], expiresIn: "8h" });
    const url = `https://localhost:${ports.api}`;
    const rootPem = readFileSync(join(dir, "root.crt"), "utf8");
    const terminal = await startDemoTerminal(
        url,
        rootPem,
        admin,
        realm,
        config.tenant!.serviceTokens.terminalProxy,
    );
    const operator = await realm.token({
        sub: "dev-operator",
        roles: ["device-terminal"],
        aud: "terminal-proxy",
        expiresIn: "8h",
    });
    console.log(`
The tenant bridge of tenant "acme" is up at ${url} (OpenAPI: ${url}/openapi.json; metrics:
http://127.0.0.1:${ports.management}/metrics). The platform root is ${join(dir, "root.crt")}.

Enroll a device:
  export ADMIN='${admin}'
  TOKEN=$(curl -s --cacert ${join(dir, "root.crt")} -H "authorization: Bearer $ADMIN" \\
      -H 'content-type: application/json' -d '{"device_id":"dev-0001","ttl_seconds":3600}' \\
      ${url}/enrollment-tokens | sed -E 's/.*"token":"([^"]+)".*/\\1/')
  openssl ecparam -name prime256v1 -genkey -noout -out dev.key
  openssl req -new -key dev.key -subj /CN=dev-0001 -out dev.csr
  WG=$(wg genkey | wg pubkey)   # or any 32 random bytes in base64
  jq -n --rawfile csr dev.csr --arg wg "$WG" --arg t "$TOKEN" \\
      '{csr_pem: $csr, wireguard_public_key: $wg, enrollment_token: $t}' |
    curl -s --cacert ${join(dir, "root.crt")} -H 'content-type: application/json' -d @- ${url}/devices/dev-0001/enroll

Open the demo device's terminal through the terminal proxy (ws://127.0.0.1:${ports.terminal}/terminal):
  export CDM_TERMINAL_TOKEN='${operator}'
  npm run terminal -- --url ws://127.0.0.1:${ports.terminal}/terminal --device dev-demo
or raw, with websocat (ttyd's frames: the JSON handshake, then "0" + input; output comes back as "0" + bytes):
  printf '{"AuthToken":"","columns":80,"rows":24}' | cat - <(sed -u 's/^/0/') |
    websocat --binary --protocol tty "ws://127.0.0.1:${ports.terminal}/terminal?deviceId=dev-demo&token=$CDM_TERMINAL_TOKEN"
Live sessions: curl -H "authorization: Bearer $ADMIN_TERMINAL" http://127.0.0.1:${ports.terminal}/sessions
  (ADMIN_TERMINAL='${await realm.token({ sub: "dev-admin", roles: ["tenant-admin"], aud: "terminal-proxy", expiresIn: "8h" })}')
`);
    const stop = async () => {
        await terminal.stop();
        await bridge.close();
        jwks.close();
        await hawkbit.stop();
        await stepCa.stop();
        process.exit(0);
    };
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
}

/**
 * The terminal proxy against the dev bridge, and the demo device `dev-demo`: enrolled (or already
 * enrolled from an earlier run), its ttyd on loopback with the credential the bridge derived.
 */
async function startDemoTerminal(
    url: string,
    rootPem: string,
    admin: string,
    realm: TestRealm,
    proxyToken: string,
): Promise<{ stop(): Promise<void> }> {
    await enrollDemo(url, rootPem, admin, "dev-demo");
    const directory = new DeviceDirectory(
        { url, token: proxyToken, caPem: rootPem, serverName: "localhost" },
        10_000,
    );
    const { credential } = await directory.lookup("dev-demo");
    console.log("starting ttyd for the demo device (fetched from PyPI on first use) …");
    const ttyd = await startTtydPeer({
        credential: `${credential.username}:${credential.password}`,
        writable: true,
        command: [process.env.SHELL ?? "/bin/sh"],
    });
    const proxy = await startTerminalProxy(
        testProxyConfig({
            port: ports.terminal,
            allowedOrigins: [],
            oidc: { ...testProxyConfig().oidc, issuer: realm.issuer },
        }),
        {
            verify: accessTokenVerifier({ issuer: realm.issuer, audience: "terminal-proxy", tenant: "acme" }),
            // No VPN on this machine: every device's terminal is the demo device's ttyd.
            devices: {
                lookup: async (id) => ({
                    ...(await directory.lookup(id)),
                    address: "127.0.0.1",
                    port: ttyd.port,
                }),
            },
            log: pino({ level: process.env.LOG_LEVEL ?? "info" }),
            metrics: new TerminalMetrics(false),
        },
    );
    return {
        stop: async () => {
            await proxy.drain();
            await ttyd.close();
        },
    };
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
