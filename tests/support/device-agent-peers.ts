/**
 * The tenant bridge and its peers for the device agent's integration tests, one set per test
 * file: a private PostgreSQL, the tenant PKI and step-ca, real hawkBit, an OIDC realm, the bridge
 * as a process and the fault-injecting proxy in front of it; and what the tests ask of them
 * (enrollment tokens, device roots, an enrolled device, the bridge's and hawkBit's view of one).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wireguardPublicKey } from "../../components/wireguard/keys";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { issueToken } from "../../runtime/bridge/enrollment-tokens";
import { HawkbitClient, HawkbitTarget } from "../../runtime/shared/hawkbit/client";
import { serveJwks, testRealm } from "./bridge";
import { BridgeProcess, httpsJson, startBridgeProcess } from "./bridge-process";
import { DeviceRoot, installDeviceTools } from "./device-agent";
import { FaultInjectionProxy } from "./device-agent-fault-proxy";
import { RunningHawkbit, startHawkbit } from "./hawkbit";
import { installWireguard, wireguardKeys } from "./netns";
import { pgPool, PgSettings } from "./peers";
import { localhostTls, TestCa } from "./pki";
import { startTenantCa, tenantBridgeEnv, tenantPki } from "./tenant-peers";

/**
 * A PostgreSQL cluster of this test's own (Debian's binaries, a temporary directory, 127.0.0.1:
 * `port`) with database `database`. Not scripts/peers/postgres.sh's shared cluster: every start
 * of that one wipes and restarts it, which pulls the database from under a test running
 * beside another (CI's and developers' runs share the machine).
 */
async function privatePostgres(
    port: number,
    database: string,
): Promise<{ settings: PgSettings; stop(): void }> {
    const findBin = () =>
        execFileSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1"], {
            encoding: "utf8",
        }).trim();
    if (!findBin()) {
        execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
        execFileSync("apt-get", ["install", "-y", "-qq", "postgresql"], {
            stdio: "ignore",
            env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        });
    }
    const bin = findBin();
    const dir = mkdtempSync(join(tmpdir(), "cdm-agent-pg-"));
    // The server runs as the postgres user (it refuses root), who must reach the directory.
    chmodSync(dir, 0o755);
    const password = randomBytes(18).toString("hex");
    writeFileSync(join(dir, "pwfile"), `${password}\n`, { mode: 0o600 });
    const root = process.getuid?.() === 0;
    if (root) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    const asPostgres = (command: string, ...args: string[]) =>
        execFileSync(root ? "runuser" : command, root ? ["-u", "postgres", "--", command, ...args] : args, {
            stdio: ["ignore", "ignore", "pipe"],
        });
    const data = join(dir, "data");
    const stop = () => {
        try {
            asPostgres(join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop");
        } catch {
            // not running
        }
        rmSync(dir, { recursive: true, force: true });
    };
    try {
        asPostgres(
            join(bin, "initdb"),
            "-D",
            data,
            "-U",
            "postgres",
            `--pwfile=${join(dir, "pwfile")}`,
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
        );
        rmSync(join(dir, "pwfile"));
        asPostgres(
            join(bin, "pg_ctl"),
            "-D",
            data,
            "-w",
            "-l",
            join(dir, "server.log"),
            "-o",
            `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}`,
            "start",
        );
        const settings: PgSettings = {
            PGHOST: "127.0.0.1",
            PGPORT: String(port),
            PGUSER: "postgres",
            PGPASSWORD: password,
            PGDATABASE: database,
        };
        const admin = pgPool({ ...settings, PGDATABASE: "postgres" }, 1);
        await admin.query(`CREATE DATABASE ${database}`);
        await admin.end();
        return { settings, stop };
    } catch (error) {
        stop();
        throw error;
    }
}

/** Ports of one file's peers: eight in a row at a random place (hawkBit's PostgreSQL on hawkbit + 1). */
function agentPorts() {
    const base = 23300 + Math.floor(Math.random() * 100) * 8;
    return {
        api: base,
        management: base + 1,
        stepCa: base + 2,
        jwks: base + 3,
        hawkbit: base + 4,
        proxy: base + 6,
        postgres: base + 7,
    };
}

/** The running bridge and its peers, and what the tests do with them. */
export interface AgentBridge {
    readonly ports: ReturnType<typeof agentPorts>;
    readonly pki: { readonly root: TestCa; readonly ica: TestCa; readonly subCa: TestCa };
    readonly hawkbit: RunningHawkbit;
    readonly bridge: BridgeProcess;
    /** The fault proxy in front of the bridge (it forwards unless scripted) and its base URL. */
    readonly proxy: FaultInjectionProxy;
    readonly proxyUrl: string;
    /** The VPN server's key pair, whose public key the bridge gives devices; `file` holds the private key. */
    readonly vpnKey: ReturnType<typeof wireguardKeys>;
    enrollmentToken(id: string, options?: { reenroll?: boolean }): Promise<string>;
    /** A device root configured for `bridgeUrl` (the bridge's own by default), removed by `close`. */
    deviceRoot(name: string, id: string, bridgeUrl?: string): DeviceRoot;
    /** A device root enrolled through the bridge with a fresh token (a failed run throws). */
    enrolledDevice(name: string, id: string): Promise<{ device: DeviceRoot; token: string }>;
    /** The bridge's view of a device (its management API, as a tenant admin). */
    bridgeDevice(id: string): Promise<any>;
    /** hawkBit's target for a device. */
    hawkbitTarget(id: string): Promise<HawkbitTarget | undefined>;
    close(): Promise<void>;
}

/**
 * Starts the bridge with its peers on random ports; the bridge tells devices that the VPN
 * server is at `vpnEndpoint` and ThingsBoard's MQTTS at `mqttUrl`. hawkBit, the slowest to
 * start, comes up while the rest does.
 */
export async function startAgentBridge(
    options: { vpnEndpoint?: string; mqttUrl?: string } = {},
): Promise<AgentBridge> {
    installWireguard();
    installDeviceTools();
    const ports = agentPorts();
    const stops: (() => unknown)[] = [];
    const close = async () => {
        for (const stop of stops.splice(0).reverse()) await stop();
    };
    try {
        const hawkbitStarting = startHawkbit(ports.hawkbit);
        stops.push(async () => (await hawkbitStarting.catch(() => undefined))?.stop());
        const postgres = await privatePostgres(ports.postgres, "bridge_device_agent");
        stops.push(postgres.stop);
        const pki = await tenantPki();
        const stepCa = await startTenantCa(pki, ports.stepCa);
        stops.push(() => stepCa.stop());
        const dir = mkdtempSync(join(tmpdir(), "bridge-agent-"));
        stops.push(() => rmSync(dir, { recursive: true, force: true }));
        const realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/acme`);
        const jwks = await serveJwks(realm, ports.jwks);
        stops.push(() => jwks.close());
        const vpnKey = wireguardKeys(`agent-server-${randomBytes(3).toString("hex")}`);
        const hawkbit = await hawkbitStarting;
        const hawkbitUser = { url: hawkbit.url, ...hawkbit.bridge };
        const bridge = await startBridgeProcess({
            ...postgres.settings,
            BRIDGE_DATABASE: "postgres",
            ...(await tenantBridgeEnv(
                { ...pki, stepCaPort: ports.stepCa, dir },
                ports,
                hawkbitUser,
                realm.issuer,
            )),
            WIREGUARD_ENDPOINT: options.vpnEndpoint ?? "vpn.acme.test:51820",
            ...(options.mqttUrl ? { DEVICE_MQTT_URL: options.mqttUrl } : {}),
            WIREGUARD_SERVER_PUBLIC_KEY: wireguardPublicKey(vpnKey.privateKey),
        });
        stops.push(() => bridge.stop());
        const pool = pgPool(postgres.settings);
        stops.push(() => pool.end());
        const proxy = new FaultInjectionProxy(bridge.url, pki.root.pem, await localhostTls(pki.ica));
        stops.push(() => proxy.close());
        const proxyUrl = await proxy.listen(ports.proxy);
        const roots: DeviceRoot[] = [];
        stops.push(() => roots.forEach((root) => root.remove()));

        const enrollmentToken = async (id: string, { reenroll = false } = {}) =>
            (
                await issueToken(pgDatabase(pool), {
                    deviceId: id,
                    reenroll,
                    ttlSeconds: 900,
                    createdBy: "test",
                })
            ).token;
        const deviceRoot = (name: string, id: string, bridgeUrl = bridge.url) => {
            const root = new DeviceRoot(name, { bridgeUrl, deviceId: id, rootPem: pki.root.pem });
            roots.push(root);
            return root;
        };
        return {
            ports,
            pki,
            hawkbit,
            bridge,
            proxy,
            proxyUrl,
            vpnKey,
            enrollmentToken,
            deviceRoot,
            async enrolledDevice(name, id) {
                const device = deviceRoot(name, id);
                const token = await enrollmentToken(id);
                device.writeToken(token);
                const run = await device.run();
                if (run.status !== 0)
                    throw new Error(`${id} did not enroll (exit ${run.status}):\n${run.stderr}`);
                return { device, token };
            },
            async bridgeDevice(id) {
                const admin = await realm.token({ roles: ["tenant-admin"] });
                const res = await httpsJson(`${bridge.url}/devices/${id}`, pki.root.pem, "GET", undefined, {
                    bearer: admin,
                });
                if (res.status !== 200) throw new Error(`GET /devices/${id}: HTTP ${res.status}`);
                return res.json;
            },
            hawkbitTarget: (id) => new HawkbitClient(hawkbitUser).getTarget(id),
            close,
        };
    } catch (error) {
        await close();
        throw error;
    }
}
