/**
 * The platform PKI against a real step-ca: the provider step-ca signs tenant Sub-CAs through its
 * CA-capable provisioner, each tenant step-ca signs device certificates through the bridge's JWK
 * provisioner, and strict verifiers (OpenSSL, Go via the step CLI, Node's TLS and the runtime
 * library) accept exactly the chains they should. Every step-ca runs the program's ca.json.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { connect } from "node:tls";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    deviceClaims,
    intermediateProfile,
    rootProfile,
    subCaClaims,
    subCaProfile,
} from "../../components/pki/profile";
import { checkSignedSubCa } from "../../runtime/shared/sub-ca-check";
import { deviceProvisioner } from "../../components/tenant-stack";
import { DeviceCertificates } from "../../runtime/bridge/device-certificates";
import {
    deviceDnsName,
    stepCaServiceNames,
    subCaCommonName,
    subCaPermittedNames,
} from "../../runtime/shared/pki-names";
import {
    ChainError,
    createToken,
    ProvisionerKey,
    StepCaError,
    verifyChain,
} from "../../runtime/shared/step-ca";
import { x509 } from "../../runtime/shared/x509";
import { publicJwkFromPem } from "../../components/pki/jwk";
import { csr, ecKey, intermediateCa, KeyPair, leafCertificate, rootCa, TestCa } from "../support/pki";
import { RunningCa, startStepCa, stepBinaries, testProvisioner } from "../support/step-ca";

interface Tenant {
    readonly id: string;
    readonly subCa: string;
    readonly subCaKey: KeyPair;
    readonly ca: RunningCa;
    readonly bridge: ProvisionerKey;
}

let root: TestCa;
let ica: TestCa;
let provider: RunningCa;
let subCaSigner: ProvisionerKey;
const tenants: Record<string, Tenant> = {};
const work = mkdtempSync(join(tmpdir(), "pki-"));
let nextPort = 19100 + Math.floor(Math.random() * 400);

/** The Sub-CA's names as the tenant stack requests them; `localhost` because the test CA serves there. */
const permitted = (id: string) => [
    ...subCaPermittedNames(id, `cdm-tenant-${id}`, "cdm.example.com"),
    "localhost",
];

/** Onboards a tenant: Sub-CA key and CSR, signed by the provider step-ca, then its own step-ca. */
async function onboard(id: string): Promise<Tenant> {
    const subCaKey = await ecKey(subCaProfile(id).curve);
    const subject = subCaCommonName(id);
    const token = await createToken(subCaSigner, { caDnsName: "localhost", subject, sans: permitted(id) });
    const signed = await provider.client.sign(await csr(subCaKey, subject, permitted(id)), token);
    const bridge = await testProvisioner(deviceProvisioner(id), "device", deviceClaims("168h", "720h"));
    const ca = await startStepCa({
        rootPem: root.pem,
        bundle: [signed.certificate, ica.pem],
        keyPem: subCaKey.privatePem,
        provisioners: [bridge.spec],
        port: nextPort++,
        dnsNames: stepCaServiceNames(`cdm-tenant-${id}`),
    });
    return { id, subCa: signed.certificate, subCaKey, ca, bridge: bridge.signer };
}

async function enroll(tenant: Tenant, deviceId: string) {
    const key = await ecKey("P256");
    const token = await createToken(tenant.bridge, {
        caDnsName: "localhost",
        subject: deviceId,
        sans: [deviceDnsName(tenant.id, deviceId)],
    });
    const signed = await tenant.ca.client.sign(await csr(key, deviceId), token);
    return { key, ...signed };
}

beforeAll(async () => {
    stepBinaries();
    root = await rootCa(rootProfile);
    ica = await intermediateCa(intermediateProfile, root);
    const subCa = await testProvisioner("tenant-sub-ca", "sub-ca", subCaClaims());
    subCaSigner = subCa.signer;
    provider = await startStepCa({
        rootPem: root.pem,
        bundle: [ica.pem],
        keyPem: ica.key.privatePem,
        provisioners: [subCa.spec],
        port: nextPort++,
    });
    tenants.acme = await onboard("acme");
    tenants.globex = await onboard("globex");
});

afterAll(async () => {
    await Promise.all(
        [provider, ...Object.values(tenants).map((t) => t.ca)].filter(Boolean).map((ca) => ca.stop()),
    );
});

/** A certificate's DER as hex, to compare certificates whatever their PEM line layout. */
function der(pem: string): string {
    return Buffer.from(new x509.X509Certificate(pem).rawData).toString("hex");
}

/** Files for the command-line verifiers. */
function files(name: string, contents: Record<string, string>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(contents).map(([k, v]) => {
            const path = join(work, `${name}-${k}.pem`);
            writeFileSync(path, v.endsWith("\n") ? v : `${v}\n`);
            return [k, path];
        }),
    );
}

function opensslVerify(rootFile: string, untrusted: string, leaf: string, purpose = "sslclient") {
    const r = spawnSync(
        "openssl",
        ["verify", "-x509_strict", "-purpose", purpose, "-CAfile", rootFile, "-untrusted", untrusted, leaf],
        { encoding: "utf8" },
    );
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Go's crypto/x509 through the step CLI: the leaf file carries the intermediates after it. */
function goVerify(rootFile: string, leafWithChain: string) {
    const r = spawnSync(
        join(stepBinaries(), "step"),
        ["certificate", "verify", leafWithChain, "--roots", rootFile],
        {
            encoding: "utf8",
            env: { PATH: process.env.PATH ?? "", HOME: work, STEPPATH: work },
        },
    );
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Node's own TLS verifier: a server requesting client certificates, trusting only `rootPem`. */
async function nodeTlsAccepts(rootPem: string, clientChain: string, clientKey: string): Promise<boolean> {
    const serverKey = await ecKey();
    const serverCert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: "77",
        name: "CN=localhost",
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3600_000),
        keys: serverKey.keys,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    });
    const server = createServer(
        {
            key: serverKey.privatePem,
            cert: serverCert.toString("pem"),
            ca: rootPem,
            requestCert: true,
            rejectUnauthorized: false,
        },
        (req, res) => res.end(String((req.socket as import("node:tls").TLSSocket).authorized)),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
        return await new Promise<boolean>((resolve, reject) => {
            const socket = connect(
                { port, host: "127.0.0.1", cert: clientChain, key: clientKey, rejectUnauthorized: false },
                () => {
                    socket.write("GET / HTTP/1.0\r\n\r\n");
                },
            );
            let body = "";
            socket.on("data", (d) => (body += d.toString()));
            socket.on("end", () => resolve(body.trim().endsWith("true")));
            socket.on("error", reject);
        });
    } finally {
        server.close();
    }
}

describe("Sub-CA signing at the provider step-ca", () => {
    it("issues a CA certificate that may sign leaves only, constrained to its tenant's names", () => {
        const cert = new x509.X509Certificate(tenants.acme.subCa);
        const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
        expect(bc.ca).toBe(true);
        expect(bc.pathLength).toBe(0);
        expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        );
        expect(cert.subject).toBe("O=cdm-platform, CN=acme.sub-ca.cdm-platform");
        expect(cert.issuer).toBe(ica.cert.subject);
        expect(cert.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
        expect(cert.extensions.find((e) => e.type === "2.5.29.30")?.critical).toBe(true);
    });

    it("passes the check the tenant stack applies to the onboarding answer, and a device certificate does not", async () => {
        const expectation = (publicKeyPem: string, tenantId: string) => ({
            tenantId,
            publicKeyPem,
            permittedNames: permitted(tenantId),
            issuerPem: ica.pem,
            rootPem: root.pem,
        });
        expect(
            checkSignedSubCa(
                { certificate_pem: tenants.acme.subCa, chain_pem: [ica.pem] },
                expectation(tenants.acme.subCaKey.publicPem, "acme"),
            ),
        ).toBeUndefined();
        const device = await enroll(tenants.acme, "dev-0900");
        expect(
            checkSignedSubCa(
                { certificate_pem: device.certificate, chain_pem: device.chain },
                expectation(device.key.publicPem, "acme"),
            ),
        ).toBe("the certificate's subject CN=dev-0900 is not the Sub-CA of acme");
    });

    it("refuses a Sub-CA request whose names differ from what the provisioner's token allows", async () => {
        const key = await ecKey();
        const subject = subCaCommonName("initech");
        const token = await createToken(subCaSigner, {
            caDnsName: "localhost",
            subject,
            sans: permitted("initech"),
        });
        // A request that asks for more than the token grants (another tenant's devices).
        const greedy = await csr(key, subject, [...permitted("initech"), "acme.devices.cdm-platform"]);
        const error = await provider.client.sign(greedy, token).catch((e: StepCaError) => e);
        expect(error).toBeInstanceOf(StepCaError);
        expect((error as StepCaError).status).toBe(403);
    });
});

describe("device certificates at a tenant step-ca", () => {
    let device: Awaited<ReturnType<typeof enroll>>;

    beforeAll(async () => {
        device = await enroll(tenants.acme, "dev-0001");
    });

    it("issues a short-lived client certificate named for the device and its tenant", () => {
        const cert = new x509.X509Certificate(device.certificate);
        expect(cert.subject).toBe("CN=dev-0001");
        expect(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([
            { type: "dns", value: "dev-0001.acme.devices.cdm-platform" },
        ]);
        expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false).toBe(false);
        expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages.map(String)).toEqual([
            "1.3.6.1.5.5.7.3.2",
        ]);
        expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
        const lifetimeHours = (cert.notAfter.getTime() - cert.notBefore.getTime()) / 3600_000;
        // 168 h default plus the one-minute backdate.
        expect(Math.round(lifetimeHours * 60)).toBe(168 * 60 + 1);
        expect(device.chain.map(der)).toEqual([tenants.acme.subCa, ica.pem].map(der));
    });

    it("verifies device → Sub-CA → intermediate → root with OpenSSL, Go, Node's TLS and the library", async () => {
        const f = files("acme", {
            root: root.pem,
            chain: `${tenants.acme.subCa}${ica.pem}`,
            leaf: device.certificate,
            full: `${device.certificate}${tenants.acme.subCa}${ica.pem}`,
        });
        expect(opensslVerify(f.root, f.chain, f.leaf)).toEqual({ status: 0, output: `${f.leaf}: OK` });
        expect(goVerify(f.root, f.full).status).toBe(0);
        expect(
            await nodeTlsAccepts(
                root.pem,
                `${device.certificate}${tenants.acme.subCa}${ica.pem}`,
                device.key.privatePem,
            ),
        ).toBe(true);
        expect(
            await verifyChain({
                leaf: device.certificate,
                intermediates: [tenants.acme.subCa, ica.pem],
                roots: [root.pem],
                usage: "clientAuth",
                issuer: tenants.acme.subCa,
            }),
        ).toEqual([
            "CN=dev-0001",
            "O=cdm-platform, CN=acme.sub-ca.cdm-platform",
            ica.cert.subject,
            root.cert.subject,
        ]);
        await expect(
            verifyChain({
                leaf: device.certificate,
                intermediates: [tenants.acme.subCa, ica.pem],
                roots: [root.pem],
                usage: "serverAuth",
            }),
        ).rejects.toThrow(new ChainError("CN=dev-0001 is not valid for serverAuth"));
    });

    it("renews the certificate over mutual TLS", async () => {
        const renewed = await tenants.acme.ca.client.renew({
            certificatePem: `${device.certificate}${tenants.acme.subCa}${ica.pem}`,
            keyPem: device.key.privatePem,
        });
        const before = new x509.X509Certificate(device.certificate);
        const after = new x509.X509Certificate(renewed.certificate);
        expect(after.subject).toBe("CN=dev-0001");
        expect(after.serialNumber).not.toBe(before.serialNumber);
        expect(Buffer.from(after.publicKey.rawData).equals(Buffer.from(before.publicKey.rawData))).toBe(true);
    });
});

describe("tenant separation", () => {
    it("has step-ca itself refuse names outside the Sub-CA's constraints", async () => {
        const bare = await createToken(tenants.acme.bridge, { caDnsName: "localhost", subject: "dev-0004" });
        const error = await tenants.acme.ca.client
            .sign(await csr(await ecKey(), "dev-0004"), bare)
            .catch((e: StepCaError) => e);
        expect(error).toEqual(new StepCaError(403, 'DNS name "dev-0004" is not permitted by any constraint'));
    });

    it("does not renew Sub-CAs at the provider: a new Sub-CA goes through onboarding", async () => {
        const error = await provider.client
            .renew({
                certificatePem: `${tenants.acme.subCa}${ica.pem}`,
                keyPem: tenants.acme.subCaKey.privatePem,
            })
            .catch((e: StepCaError) => e);
        expect(error).toBeInstanceOf(StepCaError);
        expect([401, 403]).toContain((error as StepCaError).status);
    });

    it("does not let another tenant's step-ca renew a tenant's device", async () => {
        const device = await enroll(tenants.acme, "dev-0002");
        const error = await tenants.globex.ca.client
            .renew({
                certificatePem: `${device.certificate}${tenants.acme.subCa}${ica.pem}`,
                keyPem: device.key.privatePem,
            })
            .catch((e: StepCaError) => e);
        expect(error).toBeInstanceOf(StepCaError);
        expect((error as StepCaError).status).toBe(401);
    });

    it("keeps a forged certificate from one tenant's Sub-CA key out of another tenant and the platform", async () => {
        // An attacker holding acme's Sub-CA key signs names of globex and of the platform.
        const attackerKey = await ecKey();
        const acmeSubCa = new x509.X509Certificate(tenants.acme.subCa);
        const acmeSubCaCa = { pem: tenants.acme.subCa, cert: acmeSubCa, key: tenants.acme.subCaKey };
        const forge = async (dns: string) =>
            (
                await leafCertificate(
                    acmeSubCaCa,
                    "CN=victim",
                    [
                        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: dns }]),
                        new x509.ExtendedKeyUsageExtension([
                            x509.ExtendedKeyUsage.clientAuth,
                            x509.ExtendedKeyUsage.serverAuth,
                        ]),
                    ],
                    attackerKey,
                )
            ).pem;
        for (const name of [
            "victim.globex.devices.cdm-platform",
            "api.cdm.example.com",
            "step-ca.cdm-tenant-globex.svc.cluster.local",
            "ota.globex.cdm.example.com",
        ]) {
            const forged = await forge(name);
            const f = files(`forged-${name}`, {
                root: root.pem,
                chain: `${tenants.acme.subCa}${ica.pem}`,
                leaf: forged,
            });
            const openssl = opensslVerify(f.root, f.chain, f.leaf);
            expect(openssl.status, name).toBe(2);
            expect(openssl.output, name).toContain("permitted subtree violation");
            await expect(
                verifyChain({
                    leaf: forged,
                    intermediates: [tenants.acme.subCa, ica.pem],
                    roots: [root.pem],
                    usage: "clientAuth",
                }),
            ).rejects.toThrow(
                `CN=victim names ${name}, outside the constraints of O=cdm-platform, CN=acme.sub-ca.cdm-platform`,
            );
            expect(
                await nodeTlsAccepts(
                    root.pem,
                    `${forged}${tenants.acme.subCa}${ica.pem}`,
                    attackerKey.privatePem,
                ),
            ).toBe(false);
        }
        // Pinned to globex's Sub-CA, even an in-constraint acme certificate is refused.
        const acmeDevice = await enroll(tenants.acme, "dev-0003");
        await expect(
            verifyChain({
                leaf: acmeDevice.certificate,
                intermediates: [tenants.acme.subCa, ica.pem],
                roots: [root.pem],
                usage: "clientAuth",
                issuer: tenants.globex.subCa,
            }),
        ).rejects.toThrow("leaf CN=dev-0003 was not issued by the required CA");
    });

    it("refuses another tenant's bridge token", async () => {
        const token = await createToken(tenants.globex.bridge, {
            caDnsName: "localhost",
            subject: "dev-0105",
            sans: [deviceDnsName("acme", "dev-0105")],
        });
        const error = await tenants.acme.ca.client
            .sign(await csr(await ecKey(), "dev-0105"), token)
            .catch((e: StepCaError) => e);
        expect((error as StepCaError).status).toBe(401);
    });
});

describe("the tenant's public endpoints", () => {
    it("are served with certificates of its own Sub-CA, which verify to the platform root", async () => {
        // What the tenant stack's TenantServerCertificate makes for hawkBit's DDI host.
        const acmeSubCa = {
            pem: tenants.acme.subCa,
            cert: new x509.X509Certificate(tenants.acme.subCa),
            key: tenants.acme.subCaKey,
        };
        const server = await leafCertificate(acmeSubCa, "CN=ota.acme.cdm.example.com", [
            new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "ota.acme.cdm.example.com" }]),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        ]);
        const f = files("ota-server", {
            root: root.pem,
            chain: `${tenants.acme.subCa}${ica.pem}`,
            leaf: server.pem,
        });
        expect(opensslVerify(f.root, f.chain, f.leaf, "sslserver")).toEqual({
            status: 0,
            output: `${f.leaf}: OK`,
        });
        expect(
            await verifyChain({
                leaf: server.pem,
                intermediates: [tenants.acme.subCa, ica.pem],
                roots: [root.pem],
                usage: "serverAuth",
            }),
        ).toEqual([
            "CN=ota.acme.cdm.example.com",
            "O=cdm-platform, CN=acme.sub-ca.cdm-platform",
            expect.stringContaining("Intermediate"),
            expect.stringContaining("Root"),
        ]);
    });
});

describe("one-time tokens refused by the real step-ca", () => {
    /** Signs with `token` at acme's CA; returns the refusal and what step-ca logged about it. */
    const refusal = async (token: string, subject: string, csrSubject = subject) => {
        const before = tenants.acme.ca.log().length;
        const error = await tenants.acme.ca.client
            .sign(await csr(await ecKey(), csrSubject), token)
            .catch((e: StepCaError) => e);
        if (!(error instanceof StepCaError)) throw new Error("step-ca accepted the token");
        await new Promise((r) => setTimeout(r, 50));
        return { status: error.status, log: tenants.acme.ca.log().slice(before) };
    };
    const token = (
        subject: string,
        extra: Partial<Parameters<typeof createToken>[1]> = {},
        signer = tenants.acme.bridge,
    ) =>
        createToken(signer, {
            caDnsName: "localhost",
            subject,
            sans: [deviceDnsName("acme", subject)],
            ...extra,
        });

    it("refuses a reused token", async () => {
        const once = await token("dev-0100");
        await tenants.acme.ca.client.sign(await csr(await ecKey(), "dev-0100"), once);
        const { status, log } = await refusal(once, "dev-0100");
        expect(status).toBe(401);
        expect(log).toContain("token already used");
    });

    it("refuses an expired token", async () => {
        const expired = await token("dev-0101", {
            now: new Date(Date.now() - 10 * 60_000),
            issuedAt: new Date(),
            lifetimeSeconds: 60,
        });
        const { status, log } = await refusal(expired, "dev-0101");
        expect(status).toBe(401);
        expect(log).toMatch(/token is expired/i);
    });

    it("refuses a token for another audience", async () => {
        const { status, log } = await refusal(
            await token("dev-0102", { caDnsName: "ca.evil.example.com" }),
            "dev-0102",
        );
        expect(status).toBe(401);
        expect(log).toMatch(/invalid token audience|audience/i);
    });

    it("refuses a token signed with a key whose kid is not the provisioner's", async () => {
        const stranger = { ...tenants.acme.bridge, privateKeyPem: (await ecKey()).privatePem };
        const wrongKey = await refusal(await token("dev-0103", {}, stranger), "dev-0103");
        expect(wrongKey.status).toBe(401);
        expect(wrongKey.log).toContain("error in cryptographic primitive");
        const wrongKid = { ...tenants.acme.bridge, kid: publicJwkFromPem((await ecKey()).publicPem).kid };
        const unknown = await refusal(await token("dev-0104", {}, wrongKid), "dev-0104");
        expect(unknown.status).toBe(401);
        expect(unknown.log).toMatch(/provisioner not found|invalid token/i);
    });

    it("refuses a CSR whose common name is not the token's subject, and extra names", async () => {
        expect((await refusal(await token("dev-0106"), "dev-0106", "dev-9999")).status).toBe(403);
        const sans = [deviceDnsName("acme", "dev-0107")];
        const extra = await csr(await ecKey(), "dev-0107", [...sans, "dev-0107.globex.devices.cdm-platform"]);
        const error = await tenants.acme.ca.client
            .sign(extra, await token("dev-0107", { sans }))
            .catch((e: StepCaError) => e);
        expect((error as StepCaError).status).toBe(403);
    });
});

describe("path length", () => {
    it("is why the intermediate needs a path length of 1: with 0 the device chain is refused", async () => {
        const narrow = await intermediateCa({ ...intermediateProfile, maxPathLength: 0 }, root);
        const sub = await intermediateCa({ ...subCaProfile("narrow"), maxPathLength: 0 }, narrow);
        const leaf = await leafCertificate(sub, "CN=dev-0001", [
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ]);
        const f = files("narrow", {
            root: root.pem,
            chain: `${sub.pem}${narrow.pem}`,
            leaf: leaf.pem,
        });
        const openssl = opensslVerify(f.root, f.chain, f.leaf);
        expect(openssl.status).toBe(2);
        expect(openssl.output).toContain("path length constraint exceeded");
        await expect(
            verifyChain({
                leaf: leaf.pem,
                intermediates: [sub.pem, narrow.pem],
                roots: [root.pem],
                usage: "clientAuth",
            }),
        ).rejects.toThrow("allows 0 CA level(s) below it, the chain has 1");
    });
});

describe("the tenant bridge's device certificates", () => {
    const certificates = (tenant: Tenant) =>
        new DeviceCertificates({
            tenantId: tenant.id,
            client: tenant.ca.client,
            caDnsName: "localhost",
            provisioner: tenant.bridge,
            rootPem: root.pem,
            subCaPem: tenant.subCa,
        });

    it("signs a checked request into a pinned, tenant-named client certificate", async () => {
        const key = await ecKey();
        const issued = await certificates(tenants.acme).sign(await csr(key, "dev-0500"), "dev-0500");
        const cert = new x509.X509Certificate(issued.certificatePem);
        expect(cert.subject).toBe("CN=dev-0500");
        expect(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([
            { type: "dns", value: "dev-0500.acme.devices.cdm-platform" },
        ]);
        expect(issued.serialNumber).toBe(cert.serialNumber.toLowerCase());
        expect(issued.chainPem.map(der)).toEqual([tenants.acme.subCa, ica.pem].map(der));
    });

    it("refuses to hand out a certificate from another tenant's CA", async () => {
        // A bridge misconfigured with globex's CA but acme's pin must not return the certificate.
        const crossed = new DeviceCertificates({
            tenantId: "globex",
            client: tenants.globex.ca.client,
            caDnsName: "localhost",
            provisioner: tenants.globex.bridge,
            rootPem: root.pem,
            subCaPem: tenants.acme.subCa,
        });
        await expect(crossed.sign(await csr(await ecKey(), "dev-0501"), "dev-0501")).rejects.toThrow(
            "leaf CN=dev-0501 was not issued by the required CA",
        );
    });

    it("revokes a certificate so it can no longer be renewed", async () => {
        const key = await ecKey();
        const issued = await certificates(tenants.acme).sign(await csr(key, "dev-0502"), "dev-0502");
        await certificates(tenants.acme).revoke(issued.serialNumber, "decommissioned");
        const error = await tenants.acme.ca.client
            .renew({
                certificatePem: `${issued.certificatePem}${issued.chainPem.join("")}`,
                keyPem: key.privatePem,
            })
            .catch((e: StepCaError) => e);
        expect(error).toBeInstanceOf(StepCaError);
        expect((error as StepCaError).status).toBe(401);
    });
});
