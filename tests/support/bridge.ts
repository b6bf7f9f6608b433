/**
 * A tenant bridge assembled by hand for tests. The unit tier signs with a local test Sub-CA and
 * keeps OTA targets in a map (the real step-ca and hawkBit are the integration tier's); access
 * tokens are signed with a test realm key and checked by the bridge's real verifier.
 */
import { generateKeyPairSync, randomBytes, webcrypto } from "node:crypto";
import { AddressInfo } from "node:net";
import { createLocalJWKSet, exportJWK, importPKCS8, SignJWT } from "jose";
import { AddressPool } from "../../runtime/bridge/addresses";
import { TenantBridgeConfig } from "../../runtime/bridge/config";
import { Database } from "../../runtime/bridge/db/database";
import { DeviceCertificate } from "../../runtime/bridge/device-certificates";
import { DeviceSigner, LifecycleDeps, OtaTargets } from "../../runtime/bridge/enrollment";
import { BridgeMetrics } from "../../runtime/bridge/metrics";
import { PeerFeed } from "../../runtime/bridge/peer-feed";
import { tenantBridgeApi } from "../../runtime/bridge/tenant-bridge";
import { accessTokenVerifier } from "../../runtime/shared/auth/access-token";
import { parseIpv4Cidr, Ipv4Cidr } from "../../runtime/shared/ipv4";
import { x509 } from "../../runtime/shared/x509";
import { intermediateCa, localhostTls, rootCa, TestCa } from "./pki";
import { intermediateProfile, rootProfile, subCaProfile } from "../../components/pki/profile";
import { deviceDomain } from "../../runtime/shared/pki-names";

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];

/** A test realm: signs access tokens the bridge's verifier accepts. */
export interface TestRealm {
    readonly issuer: string;
    /** The realm's public keys, as its JWKS endpoint serves them. */
    readonly jwks: { keys: object[] };
    verifier(tenant?: string): ReturnType<typeof accessTokenVerifier>;
    /** Accepts the realm's tokens of any audience for `tenant` (ThingsBoard's logins). */
    loginVerifier(tenant?: string): ReturnType<typeof accessTokenVerifier>;
    token(claims: {
        sub?: string;
        roles?: string[];
        tenant?: string;
        aud?: string;
        expiresIn?: string;
        /** More claims, for example `azp` and `email`. */
        extra?: Record<string, unknown>;
    }): Promise<string>;
}

export async function testRealm(issuer = "https://auth.test/auth/realms/acme"): Promise<TestRealm> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = { ...(await exportJWK(publicKey)), kid: "test-key", alg: "ES256", use: "sig" };
    const keys = createLocalJWKSet({ keys: [jwk] });
    const signingKey = await importPKCS8(
        privateKey.export({ type: "pkcs8", format: "pem" }) as string,
        "ES256",
    );
    return {
        issuer,
        jwks: { keys: [jwk] },
        verifier: (tenant) => accessTokenVerifier({ issuer, audience: "bridge", tenant }, keys),
        loginVerifier: (tenant) => accessTokenVerifier({ issuer, tenant }, keys),
        token: (claims) =>
            new SignJWT({
                ...claims.extra,
                roles: claims.roles ?? [],
                tenant: claims.tenant ?? "acme",
                preferred_username: claims.sub ?? "alice",
            })
                .setProtectedHeader({ alg: "ES256", kid: "test-key" })
                .setIssuer(issuer)
                .setAudience(claims.aud ?? "bridge")
                .setSubject(claims.sub ?? "alice")
                .setIssuedAt()
                .setExpirationTime(claims.expiresIn ?? "5m")
                .sign(signingKey),
    };
}

/** Signs device requests with a local Sub-CA, like step-ca's device template; `failNext` makes the next call fail. */
export class LocalSigner implements DeviceSigner {
    readonly revoked: string[] = [];
    signed = 0;
    failNext?: Error;

    constructor(
        private readonly subCa: TestCa,
        private readonly chain: readonly string[],
    ) {}

    async sign(csrPem: string, deviceId: string): Promise<DeviceCertificate> {
        if (this.failNext) {
            const error = this.failNext;
            this.failNext = undefined;
            throw error;
        }
        const csr = new x509.Pkcs10CertificateRequest(csrPem);
        const cert = await x509.X509CertificateGenerator.create(
            {
                serialNumber: `7${randomBytes(15).toString("hex")}`,
                subject: `CN=${deviceId}`,
                issuer: this.subCa.cert.subject,
                notBefore: new Date(Date.now() - 60_000),
                notAfter: new Date(Date.now() + 24 * 3600_000),
                publicKey: csr.publicKey,
                signingKey: this.subCa.key.keys.privateKey,
                signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
                extensions: [
                    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
                    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
                    await x509.AuthorityKeyIdentifierExtension.create(this.subCa.cert),
                ],
            },
            crypto,
        );
        this.signed++;
        return {
            certificatePem: cert.toString("pem"),
            chainPem: [this.subCa.pem, ...this.chain],
            serialNumber: cert.serialNumber.toLowerCase(),
            notAfter: cert.notAfter,
        };
    }

    /** How many of the next revocations fail (step-ca unreachable). */
    failRevokes = 0;

    async revoke(serialNumberHex: string): Promise<void> {
        if (this.failRevokes > 0) {
            this.failRevokes--;
            throw new Error("connect ECONNREFUSED 127.0.0.1:9000");
        }
        this.revoked.push(serialNumberHex);
    }
}

/** OTA targets kept in a map; `failNext` makes the next call fail. */
export class MapTargets implements OtaTargets {
    readonly targets = new Map<string, string>();
    failNext?: Error;

    async ensureTarget(controllerId: string, _name: string, token: string): Promise<"created" | "updated"> {
        if (this.failNext) {
            const error = this.failNext;
            this.failNext = undefined;
            throw error;
        }
        const existed = this.targets.has(controllerId);
        this.targets.set(controllerId, token);
        return existed ? "updated" : "created";
    }

    async deleteTarget(controllerId: string): Promise<boolean> {
        return this.targets.delete(controllerId);
    }
}

/** A WireGuard public key (random bytes are as good as a Curve25519 point for the bridge). */
export function wireguardKey(): string {
    return randomBytes(32).toString("base64");
}

/** The tenant settings of a test bridge. */
export function testTenantConfig(subCaPem: string, cidr = "10.8.0.0/16"): TenantBridgeConfig {
    const token = () => randomBytes(24).toString("base64url");
    return {
        tenantId: "acme",
        subCaPem,
        allowRsa: false,
        wireguard: {
            cidr,
            endpoint: "vpn.acme.test:51820",
            serverPublicKey: wireguardKey(),
            keepaliveSeconds: 25,
        },
        services: {
            mqttUrl: "mqtts://things.acme.test:8883",
            hawkbitUrl: "https://ota.acme.test",
            hawkbitTenant: "DEFAULT",
            influxUrl: "https://metrics.acme.test",
            influxOrg: "acme",
            influxBucket: "devices",
            influxToken: "influx-device-write-token",
        },
        hawkbit: { url: "http://127.0.0.1:1", username: "bridge", password: "unused", tenant: "DEFAULT" },
        serviceTokens: { terminalProxy: token(), peerAgent: token(), thingsboard: token() },
        thingsboard: {
            tenantTitle: "ACME Corporation",
            localAccounts: ["sysadmin@thingsboard.org", "admin@things.acme.test"],
        },
        terminalCredentialKey: token(),
    };
}

/** Lifecycle dependencies over `db` with the given signer and targets. */
export async function lifecycleDeps(
    db: Database,
    tenant: TenantBridgeConfig,
    signer: DeviceSigner,
    targets: OtaTargets,
): Promise<LifecycleDeps> {
    const addresses = new AddressPool(parseIpv4Cidr(tenant.wireguard.cidr) as Ipv4Cidr);
    await addresses.prepare(db);
    return {
        db,
        addresses,
        signer,
        targets,
        feed: new PeerFeed(db, 50),
        csrPolicy: { allowRsa: tenant.allowRsa },
        log: { warn: () => undefined },
    };
}

/**
 * The tenant bridge's API over `deps`, not listening (tests use `inject`, or `listen` to be called
 * over HTTPS with `tls`), body limit 64 KiB.
 */
export function testTenantApi(
    deps: LifecycleDeps,
    tenant: TenantBridgeConfig,
    rootPem: string,
    realm: Pick<TestRealm, "verifier" | "loginVerifier">,
    tls?: { certPem: string; keyPem: string },
    metrics = new BridgeMetrics(false),
) {
    return tenantBridgeApi({
        deps,
        tenant,
        rootPem,
        verify: realm.verifier("acme"),
        verifyLogin: realm.loginVerifier("acme"),
        metrics,
        listen: {
            host: "127.0.0.1",
            port: 0,
            managementPort: 0,
            bodyLimit: 64 * 1024,
            shutdownDelaySeconds: 0,
            // No files: only the bridge's main watches them for renewals.
            ...(tls ? { tls: { ...tls, certFile: "", keyFile: "" } } : {}),
        },
        logLevel: "silent",
    });
}

/** The tables a tenant bridge writes, emptied between tests that share one database. */
export const tenantTables =
    "enrollment_tokens, wireguard_address_pool, wireguard_addresses, devices, device_certificates, device_events, wireguard_peer_changes, pending_undo, thingsboard_users";

/** A platform PKI for tenant `acme`: root → intermediate → Sub-CA constrained to its devices. */
export async function testPki(): Promise<{ root: TestCa; ica: TestCa; subCa: TestCa }> {
    const root = await rootCa(rootProfile);
    const ica = await intermediateCa(intermediateProfile, root);
    const subCa = await intermediateCa(subCaProfile("acme"), ica, [deviceDomain("acme")]);
    return { root, ica, subCa };
}

/** Serves `realm`'s JWKS on loopback at the Keycloak path; answers the server to close. */
export async function serveJwks(realm: TestRealm, port: number): Promise<import("node:http").Server> {
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
        const ok = req.url === `${new URL(realm.issuer).pathname}/protocol/openid-connect/certs`;
        res.writeHead(ok ? 200 : 404, { "content-type": "application/json" }).end(
            ok ? JSON.stringify(realm.jwks) : "{}",
        );
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return server;
}

/**
 * A tenant bridge over `db` listening on loopback over HTTPS (a certificate for `localhost`
 * from a throwaway PKI), signing locally and keeping OTA targets in memory; `feed` replaces
 * its peer feed (to observe commits).
 */
export async function listeningTenantBridge(db: Database, feed?: PeerFeed) {
    const pki = await testPki();
    const tenant = testTenantConfig(pki.subCa.pem);
    const signer = new LocalSigner(pki.subCa, [pki.ica.pem]);
    const deps = {
        ...(await lifecycleDeps(db, tenant, signer, new MapTargets())),
        ...(feed ? { feed } : {}),
    };
    const app = await testTenantApi(
        deps,
        tenant,
        pki.root.pem,
        await testRealm(),
        await localhostTls(pki.ica),
    );
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    return { app, tenant, rootPem: pki.root.pem, port, url: `https://127.0.0.1:${port}` };
}
