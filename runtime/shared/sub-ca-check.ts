/**
 * The check both sides of the onboarding API make of a signed tenant Sub-CA: the provider bridge
 * before it answers, the tenant stack's dynamic resource before it trusts the answer. It has no
 * project imports and requires its packages inside the function, because the dynamic provider
 * that calls it is serialized with its closure.
 */
import { SubCaResponse } from "./onboarding";

/** What a Sub-CA certificate from the onboarding API must be. */
export interface SubCaExpectation {
    readonly tenantId: string;
    readonly publicKeyPem: string;
    readonly permittedNames: readonly string[];
    readonly issuerPem: string;
    readonly rootPem: string;
    readonly now?: Date;
}

/**
 * Checks an answer of the onboarding API before the tenant trusts it: the certificate carries
 * the tenant's own key and its Sub-CA name, is a CA that may sign leaves only (path length 0,
 * keyCertSign), is constrained (critically) to exactly the tenant's names, is valid now and not
 * beyond its issuer, and was issued by the provider intermediate, which chains to the root.
 * Returns the problem, or undefined when the answer is good.
 */
export function checkSignedSubCa(answer: SubCaResponse, expected: SubCaExpectation): string | undefined {
    // Required here rather than imported: dynamic providers are serialized with their closure.
    require("reflect-metadata");
    const { webcrypto, createPublicKey, X509Certificate } =
        require("node:crypto") as typeof import("node:crypto");
    const peculiar = require("@peculiar/x509") as typeof import("@peculiar/x509");
    peculiar.cryptoProvider.set(webcrypto as never);
    if (
        typeof answer?.certificate_pem !== "string" ||
        !Array.isArray(answer.chain_pem) ||
        answer.chain_pem.length === 0
    ) {
        return "the answer has no certificate_pem and chain_pem";
    }
    let cert: InstanceType<typeof X509Certificate>;
    try {
        cert = new X509Certificate(answer.certificate_pem);
    } catch {
        return "the answer's certificates are not PEM certificates";
    }
    const issuer = new X509Certificate(expected.issuerPem);
    const root = new X509Certificate(expected.rootPem);
    const der = (k: import("node:crypto").KeyObject) =>
        k.export({ type: "spki", format: "der" }).toString("hex");
    if (der(cert.publicKey) !== der(createPublicKey(expected.publicKeyPem))) {
        return "the certificate is not for this tenant's Sub-CA key";
    }
    const parsed = new peculiar.X509Certificate(answer.certificate_pem);
    if (!parsed.subject.split(", ").includes(`CN=${expected.tenantId}.sub-ca.cdm-platform`)) {
        return `the certificate's subject ${parsed.subject} is not the Sub-CA of ${expected.tenantId}`;
    }
    const bc = parsed.getExtension(peculiar.BasicConstraintsExtension);
    const ku = parsed.getExtension(peculiar.KeyUsagesExtension);
    if (!bc?.ca || bc.pathLength !== 0 || !ku || (ku.usages & peculiar.KeyUsageFlags.keyCertSign) === 0) {
        return "the certificate is not a CA limited to path length 0";
    }
    const constraints = parsed.extensions.find((e) => e.type === "2.5.29.30");
    const permitted = constraints ? permittedDnsNames(constraints.value) : [];
    if (
        !constraints?.critical ||
        [...permitted].sort().join() !== [...expected.permittedNames].sort().join()
    ) {
        return `the certificate is not constrained to exactly ${expected.permittedNames.join(", ")}`;
    }
    const now = expected.now ?? new Date();
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
        return "the certificate is not valid now";
    }
    if (new Date(cert.validTo) > new Date(issuer.validTo)) {
        return "the certificate outlives its issuer";
    }
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        return "the certificate was not issued by the provider intermediate";
    }
    if (!issuer.checkIssued(root) || !issuer.verify(root.publicKey)) {
        return "the provider intermediate does not chain to the platform root";
    }
    return undefined;
}

/**
 * The permitted DNS subtrees of a NameConstraints extension value (DER). runtime/shared/step-ca
 * parses them too, but a serialized dynamic provider cannot require a project module by relative
 * path, so this copy uses packages only.
 */
function permittedDnsNames(value: ArrayBuffer): string[] {
    const { AsnConvert } = require("@peculiar/asn1-schema") as typeof import("@peculiar/asn1-schema");
    const { NameConstraints } = require("@peculiar/asn1-x509") as typeof import("@peculiar/asn1-x509");
    const parsed = AsnConvert.parse(value, NameConstraints);
    return (parsed.permittedSubtrees ?? [])
        .map((s) => s.base.dNSName)
        .filter((n): n is string => typeof n === "string");
}
