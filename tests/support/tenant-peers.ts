/**
 * A tenant's real peers for the bridge's integration tests and benchmarks: PostgreSQL (a fresh
 * database), the tenant step-ca with the program's device provisioner, and the files and
 * variables a bridge process is configured with, as the deployment mounts them.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "pg";
import { deviceClaims, intermediateProfile, rootProfile, subCaProfile } from "../../components/pki/profile";
import { deviceProvisioner } from "../../components/tenant-stack";
import { stepCaServiceNames, subCaPermittedNames } from "../../runtime/shared/pki-names";
import { ProvisionerKey } from "../../runtime/shared/step-ca";
import { ProvisionerSpec } from "../../components/step-ca/ca-json";
import { freshDatabase, pgPool } from "./peers";
import { intermediateCa, localhostTls, rootCa, TestCa } from "./pki";
import { RunningCa, startStepCa, testProvisioner } from "./step-ca";
import { wireguardKey } from "./bridge";

export interface TenantPeers {
    readonly root: TestCa;
    readonly ica: TestCa;
    readonly subCa: TestCa;
    readonly provisioner: { spec: ProvisionerSpec; signer: ProvisionerKey };
    /** The running tenant step-ca (replaced by `restartStepCa`). */
    stepCa: RunningCa;
    readonly stepCaPort: number;
    /** PG* settings of the fresh database. */
    readonly pg: Record<string, string>;
    /** A folder with the mounted files (certificates, provisioner, TLS). */
    readonly dir: string;
    /** Stops step-ca (for outage tests); `restartStepCa` brings it back on the same port. */
    stopStepCa(): Promise<void>;
    restartStepCa(): Promise<void>;
    /** A pool on the database, for consistency checks. */
    pool(): Pool;
    close(): Promise<void>;
}

/**
 * The PKI of a tenant (`acme` by default) for tests: root → intermediate → Sub-CA, and the device
 * provisioner; `platform` gives the root and intermediate of a platform that already has tenants.
 */
export async function tenantPki(
    tenant = "acme",
    platform?: { readonly root: TestCa; readonly ica: TestCa },
): Promise<Pick<TenantPeers, "root" | "ica" | "subCa" | "provisioner">> {
    const root = platform?.root ?? (await rootCa(rootProfile));
    const ica = platform?.ica ?? (await intermediateCa(intermediateProfile, root));
    // `localhost` too: the test CA serves there.
    const subCa = await intermediateCa(subCaProfile(tenant), ica, [
        ...subCaPermittedNames(tenant, `cdm-tenant-${tenant}`, "cdm.example.com"),
        "localhost",
    ]);
    const provisioner = await testProvisioner(
        deviceProvisioner(tenant),
        "device",
        deviceClaims("24h", "168h"),
    );
    return { root, ica, subCa, provisioner };
}

/** The tenant step-ca, as the tenant stack configures it, on 127.0.0.1:`port`. */
export function startTenantCa(
    pki: Pick<TenantPeers, "root" | "ica" | "subCa" | "provisioner">,
    port: number,
    tenant = "acme",
) {
    return startStepCa({
        rootPem: pki.root.pem,
        bundle: [pki.subCa.pem, pki.ica.pem],
        keyPem: pki.subCa.key.privatePem,
        provisioners: [pki.provisioner.spec],
        port,
        dnsNames: stepCaServiceNames(`cdm-tenant-${tenant}`),
    });
}

/** Starts PostgreSQL (fresh database `database`) and the tenant step-ca on `stepCaPort`. */
export async function startTenantPeers(database: string, stepCaPort: number): Promise<TenantPeers> {
    const pg = await freshDatabase(database);
    const pki = await tenantPki();
    const { root, ica, subCa, provisioner } = pki;
    const start = () => startTenantCa(pki, stepCaPort);
    const dir = mkdtempSync(join(tmpdir(), "bridge-"));
    const pools: Pool[] = [];
    const peers: TenantPeers = {
        root,
        ica,
        subCa,
        provisioner,
        stepCa: await start(),
        stepCaPort,
        pg,
        dir,
        stopStepCa: () => peers.stepCa.stop(),
        async restartStepCa() {
            peers.stepCa = await start();
        },
        pool() {
            const pool = pgPool(pg);
            pools.push(pool);
            return pool;
        },
        async close() {
            await Promise.all(pools.map((p) => p.end()));
            await peers.stepCa.stop();
        },
    };
    return peers;
}

/** The PKI and step-ca a tenant bridge is configured with. */
export type TenantPki = Pick<TenantPeers, "root" | "ica" | "subCa" | "provisioner" | "stepCaPort" | "dir">;

/**
 * Files and variables of a tenant bridge over `peers`, with TLS for mTLS renewal; the database
 * variables are the caller's (PG* for PostgreSQL, BRIDGE_DATABASE=pglite for the embedded one).
 */
export async function tenantBridgeEnv(
    peers: TenantPki,
    ports: { api: number; management: number },
    hawkbit: { url: string; username: string; password: string },
    realmIssuer: string,
): Promise<Record<string, string>> {
    const file = (name: string, content: string) => {
        const path = join(peers.dir, name);
        writeFileSync(path, content, { mode: 0o600 });
        return path;
    };
    const provisionerDir = join(peers.dir, "provisioner");
    mkdirSync(provisionerDir, { recursive: true });
    writeFileSync(join(provisionerDir, "name"), peers.provisioner.signer.name);
    writeFileSync(join(provisionerDir, "kid"), peers.provisioner.signer.kid);
    writeFileSync(join(provisionerDir, "private-key.pem"), peers.provisioner.signer.privateKeyPem);
    const tls = await localhostTls(peers.ica);
    return {
        BRIDGE_ROLE: "tenant",
        BRIDGE_TENANT_ID: "acme",
        BRIDGE_HOST: "127.0.0.1",
        BRIDGE_PORT: String(ports.api),
        BRIDGE_MANAGEMENT_PORT: String(ports.management),
        BRIDGE_SHUTDOWN_DELAY_SECONDS: "0",
        BRIDGE_TLS_CERT_FILE: file("tls.crt", tls.certPem),
        BRIDGE_TLS_KEY_FILE: file("tls.key", tls.keyPem),
        STEP_CA_URL: `https://localhost:${peers.stepCaPort}`,
        STEP_CA_ROOT_FILE: file("root.crt", peers.root.pem),
        STEP_CA_AUDIENCE_HOST: "localhost",
        STEP_CA_PROVISIONER_DIR: provisionerDir,
        SUB_CA_CERT_FILE: file("sub-ca.crt", peers.subCa.pem),
        OIDC_ISSUER: realmIssuer,
        WIREGUARD_CIDR: "10.8.0.0/16",
        WIREGUARD_ENDPOINT: "vpn.acme.test:51820",
        WIREGUARD_SERVER_PUBLIC_KEY: wireguardKey(),
        DEVICE_MQTT_URL: "mqtts://things.acme.test:8883",
        DEVICE_HAWKBIT_URL: "https://ota.acme.test",
        DEVICE_INFLUX_URL: "https://metrics.acme.test",
        INFLUX_ORG: "acme",
        INFLUX_BUCKET: "devices",
        INFLUX_DEVICE_TOKEN: "influx-device-write-token",
        HAWKBIT_MGMT_URL: hawkbit.url,
        HAWKBIT_USERNAME: hawkbit.username,
        HAWKBIT_PASSWORD: hawkbit.password,
        TERMINAL_PROXY_TOKEN: "t".repeat(40),
        PEER_AGENT_TOKEN: "p".repeat(40),
        THINGSBOARD_WEBHOOK_TOKEN: "w".repeat(40),
        THINGSBOARD_TENANT_TITLE: "ACME Corporation",
        THINGSBOARD_LOCAL_ACCOUNTS: "sysadmin@thingsboard.org,admin@things.acme.test",
        TERMINAL_CREDENTIAL_KEY: "k".repeat(40),
    };
}
