import { createPrivateKey, X509Certificate } from "node:crypto";
import { x509 } from "../../runtime/shared/x509";
import { intermediateProfile, rootProfile } from "./profile";

/** Path length a CA allows (undefined: unlimited), or null when it is not a CA at all. */
function pathLength(pem: string): number | undefined | null {
    const bc = new x509.X509Certificate(pem).getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) return null;
    return bc.pathLength;
}

function canSign(pem: string): boolean {
    const ku = new x509.X509Certificate(pem).getExtension(x509.KeyUsagesExtension);
    return ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

/**
 * Checks a brought-your-own hierarchy before anything is deployed: a self-signed root CA that
 * allows two CA levels below it, an intermediate CA it issued that allows one, both currently
 * valid and allowed to sign certificates, and the intermediate's key matching its certificate.
 * Returns problems naming the config key; an empty list means the hierarchy fits the platform.
 * No message contains key material.
 */
export function checkBringYourOwnPki(
    rootPem: string,
    intermediatePem: string,
    keyPem: string,
    now = new Date(),
): string[] {
    const problems: string[] = [];
    let root: X509Certificate | undefined;
    let intermediate: X509Certificate | undefined;
    try {
        root = new X509Certificate(rootPem);
    } catch {
        problems.push("cdm:pkiRootCertificate: is not a PEM certificate");
    }
    try {
        intermediate = new X509Certificate(intermediatePem);
    } catch {
        problems.push("cdm:pkiIntermediateCertificate: is not a PEM certificate");
    }
    try {
        const key = createPrivateKey(keyPem);
        if (intermediate && !intermediate.checkPrivateKey(key)) {
            problems.push("cdm:pkiIntermediateKey: does not match cdm:pkiIntermediateCertificate");
        }
    } catch {
        problems.push("cdm:pkiIntermediateKey: is not an unencrypted PEM private key");
    }
    if (!root || !intermediate) return problems;
    const checks: [string, X509Certificate, string, number][] = [
        ["cdm:pkiRootCertificate", root, rootPem, rootProfile.maxPathLength],
        ["cdm:pkiIntermediateCertificate", intermediate, intermediatePem, intermediateProfile.maxPathLength],
    ];
    for (const [key, cert, pem, needed] of checks) {
        const length = pathLength(pem);
        if (length === null) problems.push(`${key}: is not a CA certificate`);
        else if (length !== undefined && length < needed) {
            problems.push(`${key}: allows ${length} CA level(s) below it; the platform needs ${needed}`);
        }
        if (!canSign(pem)) problems.push(`${key}: may not sign certificates (keyUsage keyCertSign)`);
        if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) {
            problems.push(`${key}: is not valid now (${cert.validFrom} to ${cert.validTo})`);
        }
    }
    if (!root.verify(root.publicKey) || root.subject !== root.issuer) {
        problems.push("cdm:pkiRootCertificate: is not self-signed");
    }
    if (!intermediate.checkIssued(root) || !intermediate.verify(root.publicKey)) {
        problems.push("cdm:pkiIntermediateCertificate: was not issued by cdm:pkiRootCertificate");
    }
    return problems;
}
