import { webcrypto } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkDeviceCsr, CsrRefused, isDeviceId } from "../../../runtime/bridge/device-csr";
import { x509 } from "../../../runtime/shared/x509";
import { csr, ecKey, rsaCsr } from "../../support/pki";

const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];
const policy = { allowRsa: false };

async function request(
    keys: webcrypto.CryptoKeyPair,
    name: string,
    algorithm: object,
    extensions: x509.Extension[] = [],
) {
    return (
        await x509.Pkcs10CertificateRequestGenerator.create(
            { name, keys, signingAlgorithm: algorithm, extensions },
            crypto,
        )
    ).toString("pem");
}

describe("device ids", () => {
    it.each([
        ["dev-0001", true],
        ["abc", true],
        ["ab", false],
        ["Dev-1", false],
        ["dev_1", false],
        ["dev.1", false],
        ["a".repeat(63), true],
        ["a".repeat(64), false],
    ])("isDeviceId(%j) is %s", (id, ok) => expect(isDeviceId(id)).toBe(ok));
});

describe("device certificate requests", () => {
    it("accepts EC P-256, P-384 and Ed25519 keys with exactly CN=<id>", async () => {
        expect(await checkDeviceCsr(await csr(await ecKey("P256"), "dev-0001"), "dev-0001", policy)).toEqual({
            algorithm: "EC P-256",
        });
        expect(await checkDeviceCsr(await csr(await ecKey("P384"), "dev-0001"), "dev-0001", policy)).toEqual({
            algorithm: "EC P-384",
        });
        const ed = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, [
            "sign",
            "verify",
        ])) as webcrypto.CryptoKeyPair;
        expect(
            await checkDeviceCsr(await request(ed, "CN=dev-0001", { name: "Ed25519" }), "dev-0001", policy),
        ).toEqual({ algorithm: "Ed25519" });
    });

    it("refuses another subject, extra names, and garbage", async () => {
        const key = await ecKey();
        await expect(checkDeviceCsr(await csr(key, "dev-0002"), "dev-0001", policy)).rejects.toThrow(
            new CsrRefused("the request's subject must be exactly CN=dev-0001, not CN=dev-0002"),
        );
        await expect(
            checkDeviceCsr(
                await request(key.keys, "CN=dev-0001, O=Evil", { name: "ECDSA", hash: "SHA-256" }),
                "dev-0001",
                policy,
            ),
        ).rejects.toThrow(/subject must be exactly CN=dev-0001/);
        await expect(
            checkDeviceCsr(
                await csr(key, "dev-0001", ["dev-0001.globex.devices.cdm-platform"]),
                "dev-0001",
                policy,
            ),
        ).rejects.toThrow(new CsrRefused("the request must not ask for names or other extensions"));
        await expect(
            checkDeviceCsr(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
                "dev-0001",
                policy,
            ),
        ).rejects.toThrow(new CsrRefused("csr_pem is not a PEM certificate request"));
    });

    it("refuses a request not signed by its own key", async () => {
        const pem = await csr(await ecKey(), "dev-0001");
        const body = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
        body[body.length - 5] ^= 0xff; // corrupt the signature
        const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString("base64")}\n-----END CERTIFICATE REQUEST-----`;
        await expect(checkDeviceCsr(tampered, "dev-0001", policy)).rejects.toThrow(CsrRefused);
    });

    it("takes RSA only when allowed, and never below 2048 bits", async () => {
        const rsa = (bits: number) => rsaCsr(bits, "dev-0001");
        const strong = await rsa(2048);
        await expect(checkDeviceCsr(strong, "dev-0001", policy)).rejects.toThrow(
            new CsrRefused("key type RSASSA-PKCS1-v1_5 is not accepted (EC P-256, EC P-384 or Ed25519)"),
        );
        expect(await checkDeviceCsr(strong, "dev-0001", { allowRsa: true })).toEqual({
            algorithm: "RSA 2048",
        });
        await expect(checkDeviceCsr(await rsa(1024), "dev-0001", { allowRsa: true })).rejects.toThrow(
            new CsrRefused("RSA keys need 2048 bits or more, not 1024"),
        );
    });
});
