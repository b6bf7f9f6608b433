/**
 * The platform PKI against a real step-ca: the provider step-ca signs tenant Sub-CAs through its
 * CA-capable provisioner, each tenant step-ca signs device certificates through the bridge's JWK
 * provisioner, and strict verifiers (OpenSSL, Go via the step CLI, Node) accept exactly the
 * chains they should. Every step-ca here runs the ca.json the program's generator produces.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publicJwkFromPem } from "../../components/pki/jwk";
import { intermediateProfile, rootProfile, subCaProfile } from "../../components/pki/profile";
import { checkSignedSubCa } from "../../components/pki/signed-sub-ca";
import { CertificateClaims, ProvisionerSpec } from "../../components/step-ca/ca-json";
import { inClusterNames } from "../../components/step-ca/step-ca";
import { subCaCommonName } from "../../runtime/shared/onboarding";
import {
    ChainError,
    createToken,
    ProvisionerKey,
    StepCaError,
    verifyChain,
} from "../../runtime/shared/step-ca";
import { x509 } from "../../runtime/shared/x509";
import { csr, ecKey, intermediateCa, KeyPair, rootCa, TestCa } from "../support/pki";
import { RunningCa, startStepCa, stepBinaries } from "../support/step-ca";

const subCaClaims: CertificateClaims = {
    minDuration: "5m",
    defaultDuration: "43800h",
    maxDuration: "43800h",
    allowRenewal: false,
};
const deviceClaims: CertificateClaims = {
    minDuration: "5m",
    defaultDuration: "168h",
    maxDuration: "720h",
    allowRenewal: true,
};

async function provisioner(name: string, issues: ProvisionerSpec["issues"], claims: CertificateClaims) {
    const key = await ecKey("P256");
    const jwk = publicJwkFromPem(key.publicPem);
    const spec: ProvisionerSpec = { name, key: jwk, claims, issues };
    const signer: ProvisionerKey = { name, kid: jwk.kid, privateKeyPem: key.privatePem, alg: "ES256" };
    return { spec, signer };
}

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

/** Onboards a tenant: Sub-CA key and CSR, signed by the provider step-ca, then its own step-ca. */
async function onboard(id: string): Promise<Tenant> {
    const subCaKey = await ecKey(subCaProfile(id).curve);
    const subject = subCaCommonName(id);
    const token = await createToken(subCaSigner, { caDnsName: "localhost", subject });
    const signed = await provider.client.sign(await csr(subCaKey, subject), token);
    const bridge = await provisioner("bridge", "device", deviceClaims);
    const ca = await startStepCa({
        rootPem: root.pem,
        bundle: [signed.certificate, ica.pem],
        keyPem: subCaKey.privatePem,
        provisioners: [bridge.spec],
        port: nextPort++,
        dnsNames: inClusterNames(`cdm-tenant-${id}`),
    });
    return { id, subCa: signed.certificate, subCaKey, ca, bridge: bridge.signer };
}

beforeAll(async () => {
    stepBinaries();
    root = await rootCa(rootProfile);
    ica = await intermediateCa(intermediateProfile, root);
    const subCa = await provisioner("tenant-sub-ca", "sub-ca", subCaClaims);
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

describe("Sub-CA signing at the provider step-ca", () => {
    it("issues a CA certificate that may sign leaves only", () => {
        const cert = new x509.X509Certificate(tenants.acme.subCa);
        const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
        expect(bc.ca).toBe(true);
        expect(bc.pathLength).toBe(0);
        expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        );
        expect(cert.subject).toBe("O=cdm-platform, CN=acme.sub-ca.cdm-platform");
        expect(cert.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
        expect(cert.issuer).toBe(ica.cert.subject);
    });

    it("passes the check the tenant stack applies to the onboarding answer", async () => {
        const subCaKey = await ecKey();
        const subject = subCaCommonName("initech");
        const token = await createToken(subCaSigner, { caDnsName: "localhost", subject });
        const signed = await provider.client.sign(await csr(subCaKey, subject), token);
        expect(
            checkSignedSubCa(
                { certificate_pem: signed.certificate, chain_pem: signed.chain },
                subCaKey.publicPem,
            ),
        ).toBeUndefined();
        // A device certificate is no Sub-CA, whatever the bridge might claim.
        const device = await enroll(tenants.acme, "dev-0900");
        expect(
            checkSignedSubCa(
                { certificate_pem: device.certificate, chain_pem: device.chain },
                device.key.publicPem,
            ),
        ).toBe("the certificate is not a CA limited to path length 0");
    });

    it("accepts tokens for the in-cluster Service name the program puts in dnsNames", async () => {
        const token = await createToken(tenants.acme.bridge, {
            caDnsName: inClusterNames("cdm-tenant-acme")[3],
            subject: "dev-0901",
        });
        const signed = await tenants.acme.ca.client.sign(await csr(await ecKey(), "dev-0901"), token);
        expect(new x509.X509Certificate(signed.certificate).subject).toBe("CN=dev-0901");
    });
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
            writeFileSync(path, v);
            return [k, path];
        }),
    );
}

function opensslVerify(root: string, untrusted: string, leaf: string) {
    const r = spawnSync(
        "openssl",
        ["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", root, "-untrusted", untrusted, leaf],
        {
            encoding: "utf8",
        },
    );
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** Go's crypto/x509 through the step CLI: the leaf file carries the intermediates after it. */
function goVerify(root: string, leafWithChain: string) {
    const r = spawnSync(
        join(stepBinaries(), "step"),
        ["certificate", "verify", leafWithChain, "--roots", root],
        {
            encoding: "utf8",
            env: { PATH: process.env.PATH ?? "", HOME: work, STEPPATH: work },
        },
    );
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

async function enroll(tenant: Tenant, deviceId: string) {
    const key = await ecKey("P256");
    const token = await createToken(tenant.bridge, { caDnsName: "localhost", subject: deviceId });
    const signed = await tenant.ca.client.sign(await csr(key, deviceId), token);
    return { key, ...signed };
}

describe("device certificates at a tenant step-ca", () => {
    let device: Awaited<ReturnType<typeof enroll>>;

    beforeAll(async () => {
        device = await enroll(tenants.acme, "dev-0001");
    });

    it("issues a short-lived client certificate for the device id", () => {
        const cert = new x509.X509Certificate(device.certificate);
        expect(cert.subject).toBe("CN=dev-0001");
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

    it("verifies device → Sub-CA → intermediate → root with OpenSSL, Go and Node", async () => {
        const f = files("acme", {
            root: root.pem,
            chain: `${tenants.acme.subCa}${ica.pem}`,
            leaf: device.certificate,
            full: `${device.certificate}${tenants.acme.subCa}${ica.pem}`,
        });
        expect(opensslVerify(f.root, f.chain, f.leaf)).toEqual({ status: 0, output: `${f.leaf}: OK` });
        expect(goVerify(f.root, f.full).status).toBe(0);
        expect(
            await verifyChain({
                leaf: device.certificate,
                intermediates: [tenants.acme.subCa, ica.pem],
                roots: [root.pem],
                usage: "clientAuth",
            }),
        ).toEqual([
            "CN=dev-0001",
            "O=cdm-platform, CN=acme.sub-ca.cdm-platform",
            ica.cert.subject,
            root.cert.subject,
        ]);
    });

    it("does not let another tenant's Sub-CA vouch for the device", async () => {
        const f = files("cross", {
            root: root.pem,
            chain: `${tenants.globex.subCa}${ica.pem}`,
            leaf: device.certificate,
        });
        const openssl = opensslVerify(f.root, f.chain, f.leaf);
        expect(openssl.status).toBe(2);
        expect(openssl.output).toContain("unable to get local issuer certificate");
        await expect(
            verifyChain({
                leaf: device.certificate,
                intermediates: [tenants.globex.subCa, ica.pem],
                roots: [root.pem],
            }),
        ).rejects.toThrow(new ChainError("no trusted issuer for CN=dev-0001"));
        // And globex's step-ca signs only for globex: its chain never contains acme's Sub-CA.
        const other = await enroll(tenants.globex, "dev-0001");
        expect(der(other.chain[0])).toBe(der(tenants.globex.subCa));
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
        await expect(
            tenants.acme.ca.client.renew({
                certificatePem: device.certificate,
                keyPem: (await ecKey()).privatePem,
            }),
        ).rejects.toThrow();
    });
});

describe("one-time tokens refused by the real step-ca", () => {
    const refused = async (token: string, subject = "dev-0100") => {
        try {
            await tenants.acme.ca.client.sign(await csr(await ecKey(), subject), token);
        } catch (error) {
            return error as StepCaError;
        }
        throw new Error("step-ca accepted the token");
    };

    it("refuses a reused token", async () => {
        const token = await createToken(tenants.acme.bridge, { caDnsName: "localhost", subject: "dev-0100" });
        await tenants.acme.ca.client.sign(await csr(await ecKey(), "dev-0100"), token);
        const error = await refused(token);
        expect(error).toBeInstanceOf(StepCaError);
        expect(error.status).toBe(401);
    });

    it("refuses an expired token", async () => {
        const token = await createToken(tenants.acme.bridge, {
            caDnsName: "localhost",
            subject: "dev-0101",
            now: new Date(Date.now() - 10 * 60_000),
            lifetimeSeconds: 60,
        });
        expect((await refused(token, "dev-0101")).status).toBe(401);
    });

    it("refuses a token for another audience", async () => {
        const token = await createToken(tenants.acme.bridge, {
            caDnsName: "ca.evil.example.com",
            subject: "dev-0102",
        });
        expect((await refused(token, "dev-0102")).status).toBe(401);
    });

    it("refuses a token signed with a key whose kid is not the provisioner's", async () => {
        const stranger = { ...tenants.acme.bridge, privateKeyPem: (await ecKey()).privatePem };
        expect(
            (
                await refused(
                    await createToken(stranger, { caDnsName: "localhost", subject: "dev-0103" }),
                    "dev-0103",
                )
            ).status,
        ).toBe(401);
        const wrongKid = { ...tenants.acme.bridge, kid: publicJwkFromPem((await ecKey()).publicPem).kid };
        expect(
            (
                await refused(
                    await createToken(wrongKid, { caDnsName: "localhost", subject: "dev-0104" }),
                    "dev-0104",
                )
            ).status,
        ).toBe(401);
    });

    it("refuses another tenant's bridge token", async () => {
        const token = await createToken(tenants.globex.bridge, {
            caDnsName: "localhost",
            subject: "dev-0105",
        });
        expect((await refused(token, "dev-0105")).status).toBe(401);
    });

    it("refuses a CSR whose common name is not the token's subject", async () => {
        const token = await createToken(tenants.acme.bridge, { caDnsName: "localhost", subject: "dev-0106" });
        const error = await refused(token, "dev-9999");
        expect(error.status).toBe(403);
    });
});

describe("path length", () => {
    it("is why the intermediate needs a path length of 1: with 0 the device chain is refused", async () => {
        const narrow = await intermediateCa({ ...intermediateProfile, maxPathLength: 0 }, root);
        const sub = await intermediateCa({ ...subCaProfile("narrow"), maxPathLength: 0 }, narrow);
        const leafKey = await ecKey();
        const leaf = await x509.X509CertificateGenerator.create({
            serialNumber: "03",
            subject: "CN=dev-0001",
            issuer: sub.cert.subject,
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + 3600_000),
            publicKey: leafKey.keys.publicKey,
            signingKey: sub.key.keys.privateKey,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
            extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
        });
        const f = files("narrow", {
            root: root.pem,
            chain: `${sub.pem}${narrow.pem}`,
            leaf: `${leaf.toString("pem")}\n`,
        });
        const openssl = opensslVerify(f.root, f.chain, f.leaf);
        expect(openssl.status).toBe(2);
        expect(openssl.output).toContain("path length constraint exceeded");
        await expect(
            verifyChain({
                leaf: leaf.toString("pem"),
                intermediates: [sub.pem, narrow.pem],
                roots: [root.pem],
            }),
        ).rejects.toThrow("allows 0 CA level(s) below it, the chain has 1");
    });
});
