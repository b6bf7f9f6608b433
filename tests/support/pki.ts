/**
 * Builds test hierarchies with the same shapes the program declares (components/pki/profile.ts),
 * keys and CSRs, with @peculiar/x509 on Node's WebCrypto.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from "@peculiar/asn1-x509";
import { randomBytes, webcrypto } from "node:crypto";
import { CaProfile } from "../../components/pki/profile";
import { x509 } from "../../runtime/shared/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
// @peculiar/x509's typings name the DOM's Crypto; Node's WebCrypto is the same API.
const crypto = webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0];

export interface KeyPair {
    readonly keys: CryptoKeyPair;
    /** PKCS#8 PEM of the private key. */
    readonly privatePem: string;
    /** SPKI PEM of the public key. */
    readonly publicPem: string;
}

const curves = { P256: "P-256", P384: "P-384" } as const;

/** A fresh ECDSA key pair. */
export async function ecKey(curve: "P256" | "P384" = "P256"): Promise<KeyPair> {
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: curves[curve] }, true, [
        "sign",
        "verify",
    ])) as CryptoKeyPair;
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
    return {
        keys,
        privatePem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
        publicPem: x509.PemConverter.encode(spki, "PUBLIC KEY"),
    };
}

const signing = { name: "ECDSA", hash: "SHA-384" };

function caExtensions(profile: CaProfile, key: CryptoKey) {
    return Promise.all([
        Promise.resolve(new x509.BasicConstraintsExtension(true, profile.maxPathLength, true)),
        Promise.resolve(
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ),
        x509.SubjectKeyIdentifierExtension.create(key),
    ]);
}

/** A certificate authority: its certificate (PEM and parsed) and key. */
export interface TestCa {
    readonly pem: string;
    readonly cert: x509.X509Certificate;
    readonly key: KeyPair;
}

/** A self-signed root CA with the profile's curve, lifetime and path length. */
export async function rootCa(profile: CaProfile): Promise<TestCa> {
    const key = await ecKey(profile.curve);
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
            serialNumber: "01",
            name: `CN=${profile.commonName}, O=cdm-platform`,
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + profile.validityHours * 3600_000),
            keys: key.keys,
            signingAlgorithm: signing,
            extensions: await caExtensions(profile, key.keys.publicKey),
        },
        crypto,
    );
    return { pem: `${cert.toString("pem")}\n`, cert, key };
}

/** A critical NameConstraints extension permitting these DNS subtrees. */
export function nameConstraints(permittedDns: readonly string[]): x509.Extension {
    const value = new NameConstraints({
        permittedSubtrees: new GeneralSubtrees(
            permittedDns.map((dns) => new GeneralSubtree({ base: new GeneralName({ dNSName: dns }) })),
        ),
    });
    return new x509.Extension("2.5.29.30", true, AsnConvert.serialize(value));
}

/** A CA signed by `issuer`, with the profile's curve, lifetime and path length (and name constraints). */
export async function intermediateCa(
    profile: CaProfile,
    issuer: TestCa,
    permittedDns?: readonly string[],
): Promise<TestCa> {
    const key = await ecKey(profile.curve);
    const cert = await x509.X509CertificateGenerator.create(
        {
            serialNumber: "02",
            subject: `CN=${profile.commonName}, O=cdm-platform`,
            issuer: issuer.cert.subject,
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + profile.validityHours * 3600_000),
            publicKey: key.keys.publicKey,
            signingKey: issuer.key.keys.privateKey,
            signingAlgorithm: signing,
            extensions: [
                ...(await caExtensions(profile, key.keys.publicKey)),
                await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
                ...(permittedDns ? [nameConstraints(permittedDns)] : []),
            ],
        },
        crypto,
    );
    return { pem: `${cert.toString("pem")}\n`, cert, key };
}

/** A PKCS#10 request for `commonName`, optionally with DNS SANs. */
export async function csr(key: KeyPair, commonName: string, dnsNames: string[] = []): Promise<string> {
    const request = await x509.Pkcs10CertificateRequestGenerator.create(
        {
            name: `CN=${commonName}`,
            keys: key.keys,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
            extensions: dnsNames.length
                ? [
                      new x509.SubjectAlternativeNameExtension(
                          dnsNames.map((value) => ({ type: "dns" as const, value })),
                      ),
                  ]
                : [],
        },
        crypto,
    );
    return request.toString("pem");
}

/** A one-hour leaf certificate for `subject` signed by `issuer`, with its key (the attacker's or the server's). */
export async function leafCertificate(
    issuer: TestCa,
    subject: string,
    extensions: x509.Extension[],
    key?: KeyPair,
): Promise<{ pem: string; key: KeyPair }> {
    const leafKey = key ?? (await ecKey());
    const cert = await x509.X509CertificateGenerator.create(
        {
            serialNumber: randomBytes(8).toString("hex"),
            subject,
            issuer: issuer.cert.subject,
            notBefore: new Date(Date.now() - 60_000),
            notAfter: new Date(Date.now() + 3600_000),
            publicKey: leafKey.keys.publicKey,
            signingKey: issuer.key.keys.privateKey,
            signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
            extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(issuer.cert)],
        },
        crypto,
    );
    return { pem: `${cert.toString("pem")}\n`, key: leafKey };
}

/** A server certificate for `localhost` signed by `issuer`: its chain (leaf, issuer) and key, in PEM. */
export async function localhostTls(issuer: TestCa): Promise<{ certPem: string; keyPem: string }> {
    const server = await leafCertificate(issuer, "CN=localhost", [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ]);
    return { certPem: server.pem + issuer.pem, keyPem: server.key.privatePem };
}

/** A PKCS#10 request with an RSA key of `bits` for `CN=<commonName>`. */
export async function rsaCsr(bits: number, commonName: string): Promise<string> {
    const keys = (await webcrypto.subtle.generateKey(
        {
            name: "RSASSA-PKCS1-v1_5",
            modulusLength: bits,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: "SHA-256",
        },
        true,
        ["sign", "verify"],
    )) as CryptoKeyPair;
    const request = await x509.Pkcs10CertificateRequestGenerator.create(
        { name: `CN=${commonName}`, keys, signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } },
        crypto,
    );
    return request.toString("pem");
}
