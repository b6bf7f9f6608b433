import { x509 } from "../x509";

/** Why a chain was refused. */
export class ChainError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ChainError";
    }
}

/** What to verify. */
export interface ChainInput {
    /** The end-entity certificate (PEM). */
    readonly leaf: string;
    /** Candidate intermediates (PEMs), in any order. */
    readonly intermediates: readonly string[];
    /** Trust anchors (PEMs). */
    readonly roots: readonly string[];
    /** Verification time; defaults to now. */
    readonly at?: Date;
    /** Extended key usage the leaf must carry, for example clientAuth. */
    readonly usage?: "clientAuth" | "serverAuth";
}

const usageOids = { clientAuth: "1.3.6.1.5.5.7.3.2", serverAuth: "1.3.6.1.5.5.7.3.1" };

function parse(pem: string, what: string): x509.X509Certificate {
    try {
        return new x509.X509Certificate(pem);
    } catch (error) {
        throw new ChainError(`${what} is not a PEM certificate: ${(error as Error).message}`);
    }
}

function basicConstraints(cert: x509.X509Certificate) {
    return cert.getExtension(x509.BasicConstraintsExtension);
}

function canSignCertificates(cert: x509.X509Certificate): boolean {
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    return ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

async function issuedBy(child: x509.X509Certificate, parent: x509.X509Certificate): Promise<boolean> {
    return (
        child.issuer === parent.subject && (await child.verify({ publicKey: parent, signatureOnly: true }))
    );
}

/**
 * Builds and verifies the path leaf → intermediates → root as strict verifiers do: every
 * signature, every validity period, CA basic constraints and keyCertSign on every issuer, path
 * length limits, a non-CA leaf, and the leaf's extended key usage when asked. Returns the path's
 * subjects, leaf first; throws ChainError naming the first problem.
 */
export async function verifyChain(input: ChainInput): Promise<string[]> {
    const at = input.at ?? new Date();
    const leaf = parse(input.leaf, "leaf");
    const pool = input.intermediates.map((p, i) => parse(p, `intermediate ${i}`));
    const roots = input.roots.map((p, i) => parse(p, `root ${i}`));
    if (basicConstraints(leaf)?.ca) {
        throw new ChainError(`leaf ${leaf.subject} is a CA certificate`);
    }
    if (input.usage) {
        const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
        if (!eku || !eku.usages.map(String).includes(usageOids[input.usage])) {
            throw new ChainError(`leaf ${leaf.subject} is not valid for ${input.usage}`);
        }
    }
    const path = [leaf];
    for (let depth = 0; depth < 8; depth++) {
        const current = path[path.length - 1];
        const root = await findIssuer(current, roots);
        const issuer =
            root ??
            (await findIssuer(
                current,
                pool.filter((c) => !path.includes(c)),
            ));
        if (!issuer) {
            throw new ChainError(`no trusted issuer for ${current.subject}`);
        }
        path.push(issuer);
        if (root) {
            checkPath(path, at);
            return path.map((c) => c.subject);
        }
    }
    throw new ChainError("chain is longer than 8 certificates");
}

async function findIssuer(cert: x509.X509Certificate, candidates: readonly x509.X509Certificate[]) {
    for (const candidate of candidates) {
        if (await issuedBy(cert, candidate)) return candidate;
    }
    return undefined;
}

function checkPath(path: readonly x509.X509Certificate[], at: Date): void {
    for (const cert of path) {
        if (at < cert.notBefore || at > cert.notAfter) {
            throw new ChainError(`${cert.subject} is not valid at ${at.toISOString()}`);
        }
    }
    // path[i] for i ≥ 1 are CAs; the number of CA certificates below path[i] (excluding the leaf)
    // is i - 1, which must not exceed its path length constraint.
    for (let i = 1; i < path.length; i++) {
        const ca = path[i];
        const bc = basicConstraints(ca);
        if (!bc?.ca) throw new ChainError(`${ca.subject} is not a CA certificate`);
        if (!canSignCertificates(ca))
            throw new ChainError(`${ca.subject} may not sign certificates (keyUsage)`);
        if (bc.pathLength !== undefined && i - 1 > bc.pathLength) {
            throw new ChainError(
                `${ca.subject} allows ${bc.pathLength} CA level(s) below it, the chain has ${i - 1}`,
            );
        }
    }
}
