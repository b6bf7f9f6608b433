/**
 * `npm run dev`: a tenant bridge on this machine with embedded defaults. The database is PGlite
 * (kept in .cache/dev/bridge-db); the peers are real: step-ca and hawkBit from the repo's peer
 * scripts (built or fetched once, then cached), on a throwaway PKI made at start. Prints an
 * admin token and the commands that enroll a device. Ctrl-C stops everything.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBridgeConfig } from "../runtime/bridge/config";
import { startBridge } from "../runtime/bridge/main";
import { serveJwks, testRealm } from "../tests/support/bridge";
import { startHawkbit } from "../tests/support/hawkbit";
import { startTenantCa, tenantBridgeEnv, tenantPki } from "../tests/support/tenant-peers";
import { projectRoot } from "./stack-config";

const ports = { api: 8443, management: 9464, stepCa: 9000, jwks: 9080, hawkbit: 9081 };

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
    const bridge = await startBridge(readBridgeConfig(env), process.env.LOG_LEVEL ?? "info");
    const admin = await realm.token({ sub: "dev-admin", roles: ["tenant-admin"], expiresIn: "8h" });
    const url = `https://localhost:${ports.api}`;
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
`);
    const stop = async () => {
        await bridge.close();
        jwks.close();
        await hawkbit.stop();
        await stepCa.stop();
        process.exit(0);
    };
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
