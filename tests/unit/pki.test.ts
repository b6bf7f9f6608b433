import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { checkBringYourOwnPki } from "../../components/pki/byo";
import { encryptPrivateKey } from "../../components/pki/encrypted-key";
import { publicJwkFromPem } from "../../components/pki/jwk";
import {
    deviceClaims,
    intermediateProfile,
    rootProfile,
    subCaClaims,
    subCaProfile,
} from "../../components/pki/profile";
import { checkSignedSubCa, SubCaExpectation } from "../../runtime/shared/sub-ca-check";
import { subCaPermittedNames } from "../../runtime/shared/pki-names";
import { createToken } from "../../runtime/shared/step-ca";
import { ecKey, intermediateCa, rootCa, TestCa } from "../support/pki";

let root: TestCa;
let ica: TestCa;

beforeAll(async () => {
    root = await rootCa(rootProfile);
    ica = await intermediateCa(intermediateProfile, root);
});

describe("hierarchy profile", () => {
    it("allows root → intermediate → Sub-CA → device", () => {
        expect([
            rootProfile.maxPathLength,
            intermediateProfile.maxPathLength,
            subCaProfile("acme").maxPathLength,
        ]).toEqual([2, 1, 0]);
        expect(subCaClaims()).toEqual({
            minDuration: "5m",
            defaultDuration: "43800h",
            maxDuration: "43800h",
            allowRenewal: false,
        });
        expect(deviceClaims("24h", "72h")).toEqual({
            minDuration: "5m",
            defaultDuration: "24h",
            maxDuration: "72h",
            allowRenewal: true,
        });
    });
});

describe("provisioner JWK", () => {
    it("converts a P-256 public key with the RFC 7638 thumbprint as kid", async () => {
        const key = await ecKey("P256");
        const jwk = publicJwkFromPem(key.publicPem);
        expect(jwk).toMatchObject({ use: "sig", kty: "EC", crv: "P-256", alg: "ES256" });
        expect(jwk.kid).toBe(await calculateJwkThumbprint({ kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }));
        expect(publicJwkFromPem((await ecKey("P384")).publicPem)).toMatchObject({
            crv: "P-384",
            alg: "ES384",
        });
    });

    it("refuses keys step-ca's JWK provisioner cannot use", () => {
        const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
        const pem = rsa.export({ type: "spki", format: "pem" }).toString();
        expect(() => publicJwkFromPem(pem)).toThrow(
            "a JWK provisioner key must be EC P-256 or P-384, got RSA",
        );
    });
});

describe("one-time token", () => {
    it("carries exactly the claims step-ca checks", async () => {
        const key = await ecKey();
        const jwk = publicJwkFromPem(key.publicPem);
        const now = new Date("2026-11-27T12:00:00Z");
        const token = await createToken(
            { name: "bridge", kid: jwk.kid, privateKeyPem: key.privatePem, alg: "ES256" },
            {
                caDnsName: "step-ca.cdm-tenant-acme.svc.cluster.local",
                subject: "dev-0001",
                now,
                lifetimeSeconds: 120,
            },
        );
        expect(decodeProtectedHeader(token)).toEqual({ alg: "ES256", kid: jwk.kid, typ: "JWT" });
        const claims = decodeJwt(token);
        expect(claims).toEqual({
            iss: "bridge",
            sub: "dev-0001",
            aud: "https://step-ca.cdm-tenant-acme.svc.cluster.local/1.0/sign",
            sans: [],
            iat: 1795780800,
            nbf: 1795780800,
            exp: 1795780920,
            jti: claims.jti,
        });
        expect(claims.jti).toMatch(/^[0-9a-f]{32}$/);
        const revoke = decodeJwt(
            await createToken(
                { name: "bridge", kid: jwk.kid, privateKeyPem: key.privatePem, alg: "ES256" },
                { caDnsName: "ca", subject: "1234", action: "revoke" },
            ),
        );
        expect(revoke.aud).toBe("https://ca/1.0/revoke");
        expect("sans" in revoke).toBe(false);
    });

    it("refuses an empty subject and lifetimes step-ca would not accept", async () => {
        const key = await ecKey();
        const signer = { name: "bridge", kid: "k", privateKeyPem: key.privatePem, alg: "ES256" as const };
        await expect(createToken(signer, { caDnsName: "ca", subject: " " })).rejects.toThrow(
            "a one-time token needs a subject",
        );
        await expect(
            createToken(signer, { caDnsName: "ca", subject: "d", lifetimeSeconds: 7200 }),
        ).rejects.toThrow("token lifetime 7200s is outside 1..3600 seconds");
    });
});

describe("bring your own root", () => {
    it("accepts a hierarchy with the platform's shape", () => {
        expect(checkBringYourOwnPki(root.pem, ica.pem, ica.key.privatePem)).toEqual([]);
    });

    it("refuses a root that allows too few CA levels", async () => {
        const narrowRoot = await rootCa({ ...rootProfile, maxPathLength: 1 });
        const child = await intermediateCa(intermediateProfile, narrowRoot);
        expect(checkBringYourOwnPki(narrowRoot.pem, child.pem, child.key.privatePem)).toEqual([
            "cdm:pkiRootCertificate: allows 1 CA level(s) below it; the platform needs 2",
        ]);
    });

    it("refuses a key that is not the intermediate's, and an intermediate of another root", async () => {
        const otherRoot = await rootCa(rootProfile);
        expect(checkBringYourOwnPki(otherRoot.pem, ica.pem, (await ecKey("P384")).privatePem)).toEqual([
            "cdm:pkiIntermediateKey: does not match cdm:pkiIntermediateCertificate",
            "cdm:pkiIntermediateCertificate: was not issued by cdm:pkiRootCertificate",
        ]);
    });

    it("refuses text that is not PEM, without echoing it", () => {
        const problems = checkBringYourOwnPki("root", "intermediate", "secret-key-material");
        expect(problems).toEqual([
            "cdm:pkiRootCertificate: is not a PEM certificate",
            "cdm:pkiIntermediateCertificate: is not a PEM certificate",
            "cdm:pkiIntermediateKey: is not an unencrypted PEM private key",
        ]);
        expect(problems.join()).not.toContain("secret-key-material");
    });
});

describe("signed Sub-CA check", () => {
    const names = subCaPermittedNames("acme", "cdm-tenant-acme", "cdm.example.com");
    const expect_ = (sub: TestCa, extra: Partial<SubCaExpectation> = {}): SubCaExpectation => ({
        tenantId: "acme",
        publicKeyPem: sub.key.publicPem,
        permittedNames: names,
        issuerPem: ica.pem,
        rootPem: root.pem,
        ...extra,
    });

    it("accepts the tenant's own constrained CA of path length 0, issued by the provider intermediate", async () => {
        const sub = await intermediateCa(subCaProfile("acme"), ica, names);
        expect(
            checkSignedSubCa({ certificate_pem: sub.pem, chain_pem: [ica.pem] }, expect_(sub)),
        ).toBeUndefined();
    });

    it("refuses another key, name, width, constraint set, issuer or root", async () => {
        const sub = await intermediateCa(subCaProfile("acme"), ica, names);
        const answer = { certificate_pem: sub.pem, chain_pem: [ica.pem] };
        expect(checkSignedSubCa(answer, expect_(sub, { publicKeyPem: (await ecKey()).publicPem }))).toBe(
            "the certificate is not for this tenant's Sub-CA key",
        );
        expect(checkSignedSubCa(answer, expect_(sub, { tenantId: "globex" }))).toBe(
            "the certificate's subject CN=acme.sub-ca.cdm-platform, O=cdm-platform is not the Sub-CA of globex",
        );
        const wide = await intermediateCa({ ...subCaProfile("acme"), maxPathLength: 1 }, ica, names);
        expect(checkSignedSubCa({ certificate_pem: wide.pem, chain_pem: [ica.pem] }, expect_(wide))).toBe(
            "the certificate is not a CA limited to path length 0",
        );
        const unconstrained = await intermediateCa(subCaProfile("acme"), ica);
        expect(
            checkSignedSubCa(
                { certificate_pem: unconstrained.pem, chain_pem: [ica.pem] },
                expect_(unconstrained),
            ),
        ).toBe(`the certificate is not constrained to exactly ${names.join(", ")}`);
        const broader = await intermediateCa(subCaProfile("acme"), ica, [...names, "cdm-platform"]);
        expect(
            checkSignedSubCa({ certificate_pem: broader.pem, chain_pem: [ica.pem] }, expect_(broader)),
        ).toBe(`the certificate is not constrained to exactly ${names.join(", ")}`);
        const otherIca = await intermediateCa(intermediateProfile, root);
        expect(checkSignedSubCa(answer, expect_(sub, { issuerPem: otherIca.pem }))).toBe(
            "the certificate was not issued by the provider intermediate",
        );
        expect(checkSignedSubCa(answer, expect_(sub, { rootPem: (await rootCa(rootProfile)).pem }))).toBe(
            "the provider intermediate does not chain to the platform root",
        );
    });

    it("refuses a Sub-CA that is not valid now or outlives its issuer, and malformed answers", async () => {
        const sub = await intermediateCa(subCaProfile("acme"), ica, names);
        const answer = { certificate_pem: sub.pem, chain_pem: [ica.pem] };
        expect(
            checkSignedSubCa(answer, expect_(sub, { now: new Date(Date.now() + 6 * 365 * 24 * 3600_000) })),
        ).toBe("the certificate is not valid now");
        const shortIca = await intermediateCa({ ...intermediateProfile, validityHours: 24 }, root);
        const outliving = await intermediateCa(subCaProfile("acme"), shortIca, names);
        expect(
            checkSignedSubCa(
                { certificate_pem: outliving.pem, chain_pem: [shortIca.pem] },
                expect_(outliving, { issuerPem: shortIca.pem }),
            ),
        ).toBe("the certificate outlives its issuer");
        expect(checkSignedSubCa({ certificate_pem: sub.pem, chain_pem: [] }, expect_(sub))).toBe(
            "the answer has no certificate_pem and chain_pem",
        );
        expect(checkSignedSubCa({ certificate_pem: "x", chain_pem: ["y"] }, expect_(sub))).toBe(
            "the answer's certificates are not PEM certificates",
        );
    });
});

describe("encrypted CA key", () => {
    it("encrypts under the password so only the password opens it", async () => {
        const key = await ecKey("P384");
        const encrypted = encryptPrivateKey(key.privatePem, "pw-1");
        expect(encrypted).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
        const d = (k: string | { key: string; passphrase: string }) =>
            createPrivateKey(k).export({ format: "jwk" }).d;
        expect(d({ key: encrypted, passphrase: "pw-1" })).toBe(d(key.privatePem));
        expect(() => createPrivateKey({ key: encrypted, passphrase: "pw-2" })).toThrow();
    });
});
