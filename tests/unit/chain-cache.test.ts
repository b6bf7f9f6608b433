/**
 * The chain check's caches (runtime/shared/step-ca/chain.ts): a CA's imported key and its parsed
 * form are reused, and nothing a certificate carries makes a cached key vouch for a bad
 * signature or stops a later good one from verifying.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ChainError, verifyChain } from "../../runtime/shared/step-ca";
import { x509 } from "../../runtime/shared/x509";
import { testPki } from "../support/bridge";
import { ecKey, leafCertificate, TestCa } from "../support/pki";

let pki: Awaited<ReturnType<typeof testPki>>;

beforeAll(async () => {
    pki = await testPki();
});

async function device(id: string, issuer?: TestCa): Promise<string> {
    const { pem } = await leafCertificate(issuer ?? pki.subCa, `CN=${id}`, [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: `${id}.acme.devices.cdm-platform` }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ]);
    return pem;
}

const check = (leaf: string) =>
    verifyChain({
        leaf,
        intermediates: [pki.subCa.pem, pki.ica.pem],
        roots: [pki.root.pem],
        usage: "clientAuth",
        issuer: pki.subCa.pem,
    });

/** `pem` with its DER changed by `edit`. */
function rewritten(pem: string, edit: (der: Buffer) => void): string {
    const der = Buffer.from(new x509.X509Certificate(pem).rawData);
    edit(der);
    return new x509.X509Certificate(der).toString("pem");
}

describe("the chain check's caches", () => {
    it("verifies device after device with the Sub-CA's key imported once", async () => {
        for (const id of ["dev-1", "dev-2", "dev-3"]) {
            expect(await check(await device(id))).toEqual([
                `CN=${id}`,
                pki.subCa.cert.subject,
                pki.ica.cert.subject,
                pki.root.cert.subject,
            ]);
        }
    });

    it("refuses, with the key cached, a tampered signature and one by another key under the Sub-CA's name", async () => {
        await check(await device("dev-4"));
        const tampered = rewritten(await device("dev-5"), (der) => (der[der.length - 1] ^= 0x01));
        await expect(check(tampered)).rejects.toThrow(new ChainError("no trusted issuer for CN=dev-5"));
        // Same issuer name and key identifier as the Sub-CA, signed by an attacker's key.
        const impostor = await device("dev-6", { ...pki.subCa, key: await ecKey() });
        await expect(check(impostor)).rejects.toThrow(new ChainError("no trusted issuer for CN=dev-6"));
        expect(await check(await device("dev-7"))).toHaveLength(4);
    });

    it("refuses a signature algorithm outside the allow-list, then verifies a good device", async () => {
        // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) in the outer AlgorithmIdentifier becomes
        // 1.2.840.10045.4.3.9, which no verifier knows.
        const oid = Buffer.from("06082a8648ce3d040302", "hex");
        const unknown = rewritten(await device("dev-8"), (der) => {
            const at = der.lastIndexOf(oid);
            der[at + oid.length - 1] = 0x09;
        });
        await expect(check(unknown)).rejects.toThrow(new ChainError("no trusted issuer for CN=dev-8"));
        expect(await check(await device("dev-9"))).toHaveLength(4);
    });
});
