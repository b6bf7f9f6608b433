/**
 * The provider bridge as a process against real PostgreSQL and the provider step-ca: a platform
 * admin registers a tenant, the tenant stack's own dynamic resource has its Sub-CA signed with
 * the tenant's onboarding credential and accepts the answer, and every bad request is refused
 * without signing anything.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { globalAgent } from "node:https";
import { join } from "node:path";
import { Server } from "node:http";
import { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedSubCaProvider } from "../../components/pki/signed-sub-ca";
import { federationClientProvider } from "../../components/keycloak/federation-client";
import {
    brokerRedirectUri,
    federationAlias,
    keycloakBasePath,
    platformRealm,
    tenantOrigins,
} from "../../components/keycloak/model";
import { RunningKeycloak, startKeycloak } from "../support/keycloak";
import { reconcileFederationClients } from "../../runtime/bridge/federation";
import { pgDatabase } from "../../runtime/bridge/db/database";
import { KeycloakAdmin as BridgeKeycloakAdmin } from "../../runtime/shared/keycloak-admin";
import { amqpPublisherProvider } from "../../components/onboarding/amqp-publisher";
import amqp, { ChannelModel } from "amqplib";
import { metricsVhost, telemetryExchange } from "../../runtime/shared/onboarding";
import { intermediateProfile, rootProfile, subCaClaims } from "../../components/pki/profile";
import { subCaCommonName, subCaPermittedNames } from "../../runtime/shared/pki-names";
import { x509 } from "../../runtime/shared/x509";
import { serveJwks, testRealm, TestRealm } from "../support/bridge";
import { BridgeProcess, httpsJson, startBridgeProcess } from "../support/bridge-process";
import { freshDatabase, pgPool, startPeer, stopPeer } from "../support/peers";
import { csr, ecKey, intermediateCa, KeyPair, leafCertificate, rootCa, TestCa } from "../support/pki";
import { RunningCa, startStepCa, testProvisioner } from "../support/step-ca";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const base = 20500 + Math.floor(Math.random() * 300);
const ports = {
    api: base,
    management: base + 1,
    stepCa: base + 2,
    jwks: base + 3,
    keycloak: base + 4,
    keycloakManagement: base + 5,
};

let root: TestCa;
let ica: TestCa;
let stepCa: RunningCa;
let realm: TestRealm;
let jwks: Server;
let bridge: BridgeProcess;
let pool: Pool;
let keycloak: RunningKeycloak;
let bridgeKeycloakSecret: string;
let rabbit: Record<string, string>;

beforeAll(async () => {
    const pg = await freshDatabase("bridge_provider");
    root = await rootCa(rootProfile);
    ica = await intermediateCa(intermediateProfile, root);
    const provisioner = await testProvisioner("tenant-sub-ca", "sub-ca", subCaClaims());
    stepCa = await startStepCa({
        rootPem: root.pem,
        bundle: [ica.pem],
        keyPem: ica.key.privatePem,
        provisioners: [provisioner.spec],
        port: ports.stepCa,
    });
    rabbit = startPeer("rabbitmq");
    keycloak = await startKeycloak(ports.keycloak, ports.keycloakManagement);
    const keycloakSecrets = await keycloak.admin.applyRealm(platformRealm("cdm.example.com"));
    bridgeKeycloakSecret = keycloakSecrets.bridge;
    realm = await testRealm(`http://127.0.0.1:${ports.jwks}/realms/platform`);
    jwks = await serveJwks(realm, ports.jwks);
    const dir = mkdtempSync(join(tmpdir(), "provider-bridge-"));
    const file = (name: string, text: string) => (
        writeFileSync(join(dir, name), text, { mode: 0o600 }),
        join(dir, name)
    );
    mkdirSync(join(dir, "provisioner"));
    writeFileSync(join(dir, "provisioner/name"), provisioner.signer.name);
    writeFileSync(join(dir, "provisioner/kid"), provisioner.signer.kid);
    writeFileSync(join(dir, "provisioner/private-key.pem"), provisioner.signer.privateKeyPem);
    const serverKey = await ecKey();
    const server = await leafCertificate(
        ica,
        "CN=localhost",
        [
            new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        ],
        serverKey,
    );
    bridge = await startBridgeProcess({
        ...pg,
        BRIDGE_ROLE: "provider",
        BRIDGE_HOST: "127.0.0.1",
        BRIDGE_PORT: String(ports.api),
        BRIDGE_MANAGEMENT_PORT: String(ports.management),
        BRIDGE_SHUTDOWN_DELAY_SECONDS: "0",
        BRIDGE_TLS_CERT_FILE: file("tls.crt", server.pem + ica.pem),
        BRIDGE_TLS_KEY_FILE: file("tls.key", serverKey.privatePem),
        STEP_CA_URL: `https://localhost:${ports.stepCa}`,
        STEP_CA_ROOT_FILE: file("root.crt", root.pem),
        STEP_CA_PROVISIONER_DIR: join(dir, "provisioner"),
        OIDC_ISSUER: realm.issuer,
        PLATFORM_DOMAIN: "cdm.example.com",
        INTERMEDIATE_CERT_FILE: file("ica.crt", ica.pem),
        KEYCLOAK_ADMIN_URL: `${keycloak.origin}${keycloakBasePath}`,
        KEYCLOAK_CLIENT_SECRET: keycloakSecrets.bridge,
        RABBITMQ_MGMT_URL: rabbit.RABBITMQ_MGMT_URL,
        RABBITMQ_USERNAME: rabbit.RABBITMQ_USERNAME,
        RABBITMQ_PASSWORD: rabbit.RABBITMQ_PASSWORD,
    });
    pool = pgPool(pg, 2);
});

afterAll(async () => {
    await bridge?.stop();
    jwks?.close();
    await stepCa?.stop();
    await keycloak?.stop();
    stopPeer("rabbitmq");
    await pool?.end();
    stopPeer("postgres");
});

function call(method: string, path: string, bearer: string, body?: unknown) {
    return httpsJson(`${bridge.url}${path}`, root.pem, method, body, { bearer });
}

async function register(tenantId: string): Promise<string> {
    const admin = await realm.token({ roles: ["platform-admin"], tenant: "platform" });
    const res = await call("POST", "/v1/tenants", admin, { tenant_id: tenantId });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ tenant_id: tenantId, namespace: `cdm-tenant-${tenantId}` });
    return res.json.onboarding_token;
}

async function subCaRequest(
    tenantId: string,
    names = subCaPermittedNames(tenantId, `cdm-tenant-${tenantId}`, "cdm.example.com"),
    key?: KeyPair,
) {
    const k = key ?? (await ecKey());
    return { key: k, csrPem: await csr(k, subCaCommonName(tenantId), names) };
}

const signedCount = async () =>
    Number((await pool.query("SELECT count(*)::int AS n FROM sub_ca_certificates")).rows[0].n);

describe("tenant onboarding on real peers", () => {
    it("signs a tenant's Sub-CA through the tenant stack's own resource, and revokes exactly it", async () => {
        globalAgent.options.ca = root.pem;
        const token = await register("acme");
        const { key, csrPem } = await subCaRequest("acme");
        const inputs = {
            bridgeUrl: bridge.url,
            tenantId: "acme",
            csrPem,
            publicKeyPem: key.publicPem,
            permittedNames: subCaPermittedNames("acme", "cdm-tenant-acme", "cdm.example.com"),
            issuerPem: ica.pem,
            rootPem: root.pem,
            token,
        };
        const created = await signedSubCaProvider.create(inputs);
        const cert = new x509.X509Certificate(created.outs.certificatePem);
        expect(cert.subject).toContain(`CN=${subCaCommonName("acme")}`);
        expect(cert.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0 });
        const events = await pool.query(
            "SELECT kind, actor FROM tenant_events WHERE tenant_id = 'acme' ORDER BY id",
        );
        expect(events.rows).toEqual([
            { kind: "registered", actor: "user:alice" },
            { kind: "sub-ca signed", actor: "tenant:acme" },
        ]);
        await signedSubCaProvider.delete!(created.id, created.outs);
        const revoked = await pool.query(
            "SELECT serial FROM sub_ca_certificates WHERE revoked_at IS NOT NULL",
        );
        expect(revoked.rows).toEqual([{ serial: cert.serialNumber.toLowerCase() }]);
    });

    it("refuses bad Sub-CA requests and other tenants' credentials, signing nothing", async () => {
        const globex = await register("globex");
        const acme = await register("initech");
        const before = await signedCount();
        const cases: [string, () => Promise<{ status: number; json: any }>, number, string][] = [
            [
                "another tenant's credential",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", acme, {
                        csr_pem: (await subCaRequest("globex")).csrPem,
                    }),
                403,
                "the onboarding credential is not for tenant globex",
            ],
            [
                "an unknown credential",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", "cdm_ot_nope", {
                        csr_pem: (await subCaRequest("globex")).csrPem,
                    }),
                401,
                "the onboarding credential is not valid",
            ],
            [
                "another tenant's CN",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", globex, {
                        csr_pem: (
                            await subCaRequest(
                                "initech",
                                subCaPermittedNames("globex", "cdm-tenant-globex", "cdm.example.com"),
                            )
                        ).csrPem,
                    }),
                400,
                "the request's CN must be globex.sub-ca.cdm-platform",
            ],
            [
                "an extra permitted name",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", globex, {
                        csr_pem: (
                            await subCaRequest("globex", [
                                ...subCaPermittedNames("globex", "cdm-tenant-globex", "cdm.example.com"),
                                "cdm-platform",
                            ])
                        ).csrPem,
                    }),
                400,
                `the request's names must be exactly ${subCaPermittedNames("globex", "cdm-tenant-globex", "cdm.example.com").join(", ")}`,
            ],
            [
                "another namespace's names",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", globex, {
                        csr_pem: (
                            await subCaRequest(
                                "globex",
                                subCaPermittedNames("globex", "cdm-provider", "cdm.example.com"),
                            )
                        ).csrPem,
                    }),
                400,
                `the request's names must be exactly ${subCaPermittedNames("globex", "cdm-tenant-globex", "cdm.example.com").join(", ")}`,
            ],
            [
                "a P-384 key",
                async () =>
                    call("POST", "/v1/tenants/globex/sub-ca", globex, {
                        csr_pem: (await subCaRequest("globex", undefined, await ecKey("P384"))).csrPem,
                    }),
                400,
                "a Sub-CA key must be EC P-256",
            ],
            [
                "garbage",
                async () => call("POST", "/v1/tenants/globex/sub-ca", globex, { csr_pem: "garbage" }),
                400,
                "csr_pem is not a PEM certificate request",
            ],
            [
                "revoking a serial that is not the tenant's",
                async () => call("DELETE", "/v1/tenants/globex/sub-ca?serial=abcdef", globex),
                404,
                "tenant globex has no unrevoked Sub-CA with serial abcdef",
            ],
        ];
        for (const [name, send, status, message] of cases) {
            const res = await send();
            expect([name, res.status, res.json.message]).toEqual([name, status, message]);
        }
        expect(await signedCount()).toBe(before);
    });

    it("lets only platform admins register tenants, once", async () => {
        const operator = await realm.token({ roles: ["platform-operator"], tenant: "platform" });
        const refused = await call("POST", "/v1/tenants", operator, { tenant_id: "umbrella" });
        expect([refused.status, refused.json.message]).toEqual([
            403,
            "needs one of the roles platform-admin",
        ]);
        await register("umbrella");
        const admin = await realm.token({ roles: ["platform-admin"], tenant: "platform" });
        const again = await call("POST", "/v1/tenants", admin, { tenant_id: "umbrella" });
        expect([again.status, again.json.error]).toEqual([409, "tenant_exists"]);
        const bad = await call("POST", "/v1/tenants", admin, { tenant_id: "Not_A_Label" });
        expect([bad.status, bad.json.error]).toEqual([400, "invalid_tenant_id"]);
    });
});

describe("federation clients on a real Keycloak", () => {
    const redirectUri = (tenantId: string) =>
        brokerRedirectUri(tenantOrigins("cdm.example.com", tenantId).identity, tenantId, federationAlias);

    /** The status of a token introspection authenticated as `clientId`: 200 only with its real secret. */
    async function introspectionStatus(clientId: string, secret: string): Promise<number> {
        const res = await fetch(
            `${keycloak.origin}${keycloakBasePath}/realms/platform/protocol/openid-connect/token/introspect`,
            {
                method: "POST",
                headers: { "content-type": "application/x-www-form-urlencoded" },
                body: new URLSearchParams({ token: "x", client_id: clientId, client_secret: secret }),
            },
        );
        return res.status;
    }

    it("creates the tenant's client through the tenant stack's own resource, idempotently, and removes it", async () => {
        globalAgent.options.ca = root.pem;
        const token = await register("hooli");
        const inputs = { bridgeUrl: bridge.url, tenantId: "hooli", redirectUri: redirectUri("hooli"), token };
        const created = await federationClientProvider.create(inputs);
        expect(created.outs.clientId).toBe("tenant-hooli");
        const [client] = await keycloak.admin.call("GET", "/platform/clients?clientId=tenant-hooli");
        expect(client).toMatchObject({
            publicClient: false,
            standardFlowEnabled: true,
            implicitFlowEnabled: false,
            directAccessGrantsEnabled: false,
            serviceAccountsEnabled: false,
            redirectUris: [redirectUri("hooli")],
        });
        // The secret is the client's own: Keycloak authenticates the client with it.
        expect(await introspectionStatus("tenant-hooli", created.outs.clientSecret)).toBe(200);
        expect(await introspectionStatus("tenant-hooli", "wrong")).toBe(401);
        // Its ID tokens carry the user's platform roles, which the tenant realm's claim filter reads.
        const mappers = () =>
            keycloak.admin.call("GET", `/platform/clients/${client.id}/protocol-mappers/models`);
        const roles = {
            name: "roles",
            protocol: "openid-connect",
            protocolMapper: "oidc-usermodel-realm-role-mapper",
            consentRequired: false,
            config: {
                "introspection.token.claim": "true",
                "claim.name": "roles",
                "jsonType.label": "String",
                multivalued: "true",
                "access.token.claim": "true",
                "id.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        };
        expect(await mappers()).toEqual([{ ...roles, id: expect.any(String) }]);
        // A client that lost its mapper (or was made before it existed) gets it back, same secret.
        await keycloak.admin.call(
            "DELETE",
            `/platform/clients/${client.id}/protocol-mappers/models/${(await mappers())[0].id}`,
        );
        expect(await mappers()).toEqual([]);
        const again = await federationClientProvider.create(inputs);
        expect(again.outs.clientSecret).toBe(created.outs.clientSecret);
        expect(await mappers()).toEqual([{ ...roles, id: expect.any(String) }]);
        // The bridge's start-up check does the same for every tenant that has a client, and makes
        // none for registered tenants without one.
        await keycloak.admin.call(
            "DELETE",
            `/platform/clients/${client.id}/protocol-mappers/models/${(await mappers())[0].id}`,
        );
        const platformAdmin = new BridgeKeycloakAdmin({
            url: `${keycloak.origin}${keycloakBasePath}`,
            realm: "platform",
            clientId: "bridge",
            clientSecret: bridgeKeycloakSecret,
        });
        expect(await reconcileFederationClients(pgDatabase(pool), platformAdmin)).toEqual(["tenant-hooli"]);
        expect(await mappers()).toEqual([{ ...roles, id: expect.any(String) }]);
        expect(await introspectionStatus("tenant-hooli", created.outs.clientSecret)).toBe(200);
        await federationClientProvider.delete!(created.id, created.outs);
        expect(await keycloak.admin.call("GET", "/platform/clients?clientId=tenant-hooli")).toEqual([]);
        await federationClientProvider.delete!(created.id, created.outs);
    });

    it("refuses a redirect URI other than the tenant's own broker endpoint, and other tenants' credentials", async () => {
        const pied = await register("piedpiper");
        const wrong = await call("POST", "/v1/tenants/piedpiper/federation-client", pied, {
            redirect_uri: "https://evil.example.com/auth/realms/piedpiper/broker/provider/endpoint",
        });
        expect([wrong.status, wrong.json.message]).toEqual([
            400,
            `the federation client's redirect URI must be ${redirectUri("piedpiper")}`,
        ]);
        const other = await register("aviato");
        const foreign = await call("POST", "/v1/tenants/piedpiper/federation-client", other, {
            redirect_uri: redirectUri("piedpiper"),
        });
        expect(foreign.status).toBe(403);
        expect(await keycloak.admin.call("GET", "/platform/clients?clientId=tenant-piedpiper")).toEqual([]);
    });
});

describe("tenant publishers on a real RabbitMQ", () => {
    const amqpUrl = (user: string, password: string) =>
        `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${rabbit.AMQP_PORT}/${metricsVhost}`;

    /** Publishes with confirmation; answers "ok" or the broker's refusal. */
    async function publish(connection: ChannelModel, routingKey: string): Promise<string> {
        const channel = await connection.createConfirmChannel();
        const closed = new Promise<string>((resolve) =>
            channel.on("error", (e: Error) => resolve(e.message)),
        );
        channel.publish(telemetryExchange, routingKey, Buffer.from('{"cpu_usage":12}'));
        const confirmed = channel.waitForConfirms().then(
            () => "ok",
            () => "nack",
        );
        const outcome = await Promise.race([closed, confirmed]);
        // A channel the broker closed cannot be closed again.
        if (outcome === "ok") await channel.close();
        return outcome;
    }

    it("lets a tenant publish under its own routing keys only, rotates its password, and removes it", async () => {
        const token = await register("massive");
        // Made as the tenant stack makes it: its own dynamic resource.
        globalAgent.options.ca = root.pem;
        const resource = await amqpPublisherProvider.create({
            bridgeUrl: bridge.url,
            tenantId: "massive",
            token,
        });
        expect(resource.outs).toMatchObject({
            username: "tenant-massive",
            vhost: "cdm-metrics",
            exchange: "cdm.telemetry",
            routingKeyPrefix: "tenant.massive.",
        });
        const made = { json: { username: resource.outs.username, password: resource.outs.password } };
        const admin = await amqp.connect(amqpUrl(rabbit.RABBITMQ_USERNAME, rabbit.RABBITMQ_PASSWORD));
        const adminChannel = await admin.createChannel();
        const { queue } = await adminChannel.assertQueue("", { exclusive: true });
        await adminChannel.bindQueue(queue, telemetryExchange, "#");

        const publisher = await amqp.connect(amqpUrl(made.json.username, made.json.password));
        expect(await publish(publisher, "tenant.massive.dev-0001")).toBe("ok");
        expect(await publish(publisher, "tenant.hooli.dev-0001")).toMatch(/ACCESS_REFUSED/);
        expect(await publish(publisher, "tenant.massivex.dev-0001")).toMatch(/ACCESS_REFUSED/);
        const declaring = await publisher.createChannel();
        const refused = new Promise<string>((resolve) =>
            declaring.on("error", (e: Error) => resolve(e.message)),
        );
        declaring.assertQueue("sneaky").catch(() => undefined);
        expect(await refused).toMatch(/ACCESS_REFUSED/);
        const delivered = await adminChannel.get(queue, { noAck: true });
        expect(delivered && [delivered.fields.routingKey, delivered.content.toString()]).toEqual([
            "tenant.massive.dev-0001",
            '{"cpu_usage":12}',
        ]);
        expect(await adminChannel.get(queue, { noAck: true })).toBe(false);

        const publisherClosed = new Promise<void>((resolve) => publisher.on("close", () => resolve()));
        publisher.on("error", () => undefined);
        const rotated = await call("POST", "/v1/tenants/massive/amqp-publisher", token);
        expect(rotated.json.password).not.toBe(made.json.password);
        await publisherClosed;
        await expect(amqp.connect(amqpUrl("tenant-massive", made.json.password))).rejects.toThrow(
            /ACCESS_REFUSED|403/,
        );
        const again = await amqp.connect(amqpUrl("tenant-massive", rotated.json.password));
        await again.close();

        const other = await register("raviga");
        expect((await call("POST", "/v1/tenants/massive/amqp-publisher", other)).status).toBe(403);
        await amqpPublisherProvider.delete!(resource.id, {
            ...resource.outs,
            password: rotated.json.password,
        });
        await expect(amqp.connect(amqpUrl("tenant-massive", rotated.json.password))).rejects.toThrow(
            /ACCESS_REFUSED|403/,
        );
        expect((await call("DELETE", "/v1/tenants/massive/amqp-publisher", token)).status).toBe(404);
        await admin.close();
    });
});
