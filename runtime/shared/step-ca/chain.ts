import { AsnConvert } from "@peculiar/asn1-schema";
import { NameConstraints } from "@peculiar/asn1-x509";
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
    /** Extended key usage the leaf (and every CA that restricts usages) must allow. */
    readonly usage: "clientAuth" | "serverAuth";
    /** When set, the leaf must have been issued by exactly this CA (PEM): pins a tenant's Sub-CA. */
    readonly issuer?: string;
    /** Verification time; defaults to now. */
    readonly at?: Date;
}

const usageOids = { clientAuth: "1.3.6.1.5.5.7.3.2", serverAuth: "1.3.6.1.5.5.7.3.1" };
const oids = {
    basicConstraints: "2.5.29.19",
    keyUsage: "2.5.29.15",
    extKeyUsage: "2.5.29.37",
    nameConstraints: "2.5.29.30",
    subjectAltName: "2.5.29.17",
    subjectKeyId: "2.5.29.14",
    authorityKeyId: "2.5.29.35",
};
/** Extensions this verifier processes; any other critical extension makes a certificate unusable. */
const understood = new Set(Object.values(oids));

/*
 * The CA certificates recur in every chain (a tenant's Sub-CA, the intermediate, the root), so
 * their parsed form is kept by PEM text, and every signature found valid is kept per certificate
 * object: a device's chain then costs one parse and one signature check of its own. Parsing and
 * checking were most of an enrollment's CPU time in the bridge. The PEM cache is bounded (an
 * attacker could send new intermediates); the signature memo dies with its certificates.
 */
const parsedCacheLimit = 256;
const parsedCas = new Map<string, x509.X509Certificate>();
const validSignatures = new WeakMap<x509.X509Certificate, WeakSet<x509.X509Certificate>>();
type VerifyKey = Awaited<ReturnType<x509.PublicKey["export"]>>;
/** Each CA's public key imported for verification, per signature algorithm (importing was a third of a check). */
const verifyKeys = new WeakMap<x509.X509Certificate, Map<string, Promise<VerifyKey>>>();

/** Signature algorithms a chain may use; their hashes, where they take one. */
const signatureAlgorithms = new Set(["ECDSA", "Ed25519", "RSASSA-PKCS1-v1_5", "RSA-PSS"]);
const signatureHashes = new Set(["SHA-256", "SHA-384", "SHA-512"]);

/**
 * `parent`'s public key as a WebCrypto key for checking `child`'s signature. Keyed by algorithm
 * and hash only (of an allow-list), so certificates cannot grow a CA's entry.
 */
function verifyKey(child: x509.X509Certificate, parent: x509.X509Certificate): Promise<VerifyKey> {
    const { name, hash } = child.signatureAlgorithm as { name: string; hash?: string | { name?: string } };
    const hashName = typeof hash === "string" ? hash : hash?.name;
    if (!signatureAlgorithms.has(name) || (hashName !== undefined && !signatureHashes.has(hashName))) {
        return Promise.reject(new Error(`signature algorithm ${name} ${hashName ?? ""} is not accepted`));
    }
    const id = `${name}/${hashName ?? ""}`;
    let keys = verifyKeys.get(parent);
    if (!keys) verifyKeys.set(parent, (keys = new Map()));
    let key = keys.get(id);
    if (!key) {
        const algorithm = { ...parent.publicKey.algorithm, ...child.signatureAlgorithm };
        key = parent.publicKey.export(algorithm, ["verify"]);
        keys.set(id, key);
    }
    return key;
}

/** `parse` of a CA candidate (an intermediate or a root), from the cache when seen before. */
function parseCa(pem: string, what: string): x509.X509Certificate {
    const cached = parsedCas.get(pem);
    if (cached) return cached;
    const cert = parse(pem, what);
    if (parsedCas.size >= parsedCacheLimit) parsedCas.clear();
    parsedCas.set(pem, cert);
    return cert;
}

function parse(pem: string, what: string): x509.X509Certificate {
    try {
        return new x509.X509Certificate(pem);
    } catch (error) {
        throw new ChainError(`${what} is not a PEM certificate: ${(error as Error).message}`);
    }
}

function hex(buffer: ArrayBuffer | undefined): string | undefined {
    return buffer ? Buffer.from(buffer).toString("hex") : undefined;
}

async function issuedBy(child: x509.X509Certificate, parent: x509.X509Certificate): Promise<boolean> {
    if (child.issuer !== parent.subject) return false;
    const aki = child.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    const ski = parent.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    if (aki && ski && aki !== ski) return false;
    if (validSignatures.get(child)?.has(parent)) return true;
    let key: VerifyKey;
    try {
        key = await verifyKey(child, parent);
    } catch {
        return false; // a key this platform's crypto cannot use verifies nothing
    }
    if (!(await child.verify({ publicKey: key, signatureOnly: true }))) return false;
    const parents = validSignatures.get(child) ?? new WeakSet();
    validSignatures.set(child, parents.add(parent));
    return true;
}

async function findIssuer(cert: x509.X509Certificate, candidates: readonly x509.X509Certificate[]) {
    for (const candidate of candidates) {
        if (await issuedBy(cert, candidate)) return candidate;
    }
    return undefined;
}

/** DNS names of a certificate's subjectAltName. */
function dnsNames(cert: x509.X509Certificate): string[] {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    return (san?.names.items ?? []).filter((n) => n.type === "dns").map((n) => n.value.toLowerCase());
}

const permittedMemo = new WeakMap<x509.X509Certificate, readonly string[] | undefined>();

/** Permitted DNS subtrees of a CA's name constraints, or undefined when it has none. */
function permittedDns(cert: x509.X509Certificate): readonly string[] | undefined {
    if (permittedMemo.has(cert)) return permittedMemo.get(cert);
    const extension = cert.extensions.find((e) => e.type === oids.nameConstraints);
    const permitted = extension
        ? (AsnConvert.parse(extension.value, NameConstraints).permittedSubtrees ?? [])
              .map((s) => s.base.dNSName)
              .filter((n): n is string => typeof n === "string")
              .map((n) => n.toLowerCase().replace(/^\./, ""))
        : undefined;
    permittedMemo.set(cert, permitted);
    return permitted;
}

function within(name: string, subtree: string): boolean {
    return name === subtree || name.endsWith(`.${subtree}`);
}

/**
 * Builds and verifies the path leaf → intermediates → root as strict verifiers do: every
 * signature, matching key identifiers (and an authority key identifier on every issued
 * certificate), every validity period, CA basic constraints and keyCertSign on every issuer,
 * path lengths, DNS name constraints, extended key usage on the leaf and on every CA that
 * restricts it, no unprocessed critical extension, and a non-CA leaf. With `issuer`, the leaf
 * must come from exactly that CA. Returns the path's subjects, leaf first; throws ChainError
 * naming the first problem.
 */
export async function verifyChain(input: ChainInput): Promise<string[]> {
    const at = input.at ?? new Date();
    const leaf = parse(input.leaf, "leaf");
    const pool = input.intermediates.map((p, i) => parseCa(p, `intermediate ${i}`));
    const roots = input.roots.map((p, i) => parseCa(p, `root ${i}`));
    if (leaf.getExtension(x509.BasicConstraintsExtension)?.ca) {
        throw new ChainError(`leaf ${leaf.subject} is a CA certificate`);
    }
    const path = [leaf];
    for (let depth = 0; ; depth++) {
        if (depth >= 8) throw new ChainError("chain is longer than 8 certificates");
        const current = path[path.length - 1];
        const root = await findIssuer(current, roots);
        const issuer =
            root ??
            (await findIssuer(
                current,
                pool.filter((c) => !path.includes(c)),
            ));
        if (!issuer) throw new ChainError(`no trusted issuer for ${current.subject}`);
        path.push(issuer);
        if (root) break;
    }
    if (input.issuer && hex(path[1].rawData) !== hex(parseCa(input.issuer, "issuer").rawData)) {
        throw new ChainError(`leaf ${leaf.subject} was not issued by the required CA`);
    }
    checkPath(path, at, input.usage);
    return path.map((c) => c.subject);
}

function checkPath(path: readonly x509.X509Certificate[], at: Date, usage: ChainInput["usage"]): void {
    for (const [i, cert] of path.entries()) {
        if (at < cert.notBefore || at > cert.notAfter) {
            throw new ChainError(`${cert.subject} is not valid at ${at.toISOString()}`);
        }
        const unknown = cert.extensions.find((e) => e.critical && !understood.has(e.type));
        if (unknown)
            throw new ChainError(`${cert.subject} has an unprocessed critical extension ${unknown.type}`);
        const root = i === path.length - 1;
        if (!root && !cert.getExtension(x509.AuthorityKeyIdentifierExtension)) {
            throw new ChainError(`${cert.subject} has no authority key identifier`);
        }
        const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
        if ((i === 0 || eku) && !(eku?.usages ?? []).map(String).includes(usageOids[usage])) {
            throw new ChainError(`${cert.subject} is not valid for ${usage}`);
        }
    }
    const leafUsage = path[0].getExtension(x509.KeyUsagesExtension);
    if (leafUsage && (leafUsage.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
        throw new ChainError(`leaf ${path[0].subject} may not sign (keyUsage digitalSignature)`);
    }
    // path[i] for i ≥ 1 are CAs; i - 1 CA certificates lie below path[i], excluding the leaf.
    for (let i = 1; i < path.length; i++) {
        const ca = path[i];
        const bc = ca.getExtension(x509.BasicConstraintsExtension);
        if (!bc?.ca) throw new ChainError(`${ca.subject} is not a CA certificate`);
        const ku = ca.getExtension(x509.KeyUsagesExtension);
        if (!ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
            throw new ChainError(`${ca.subject} may not sign certificates (keyUsage)`);
        }
        if (bc.pathLength !== undefined && i - 1 > bc.pathLength) {
            throw new ChainError(
                `${ca.subject} allows ${bc.pathLength} CA level(s) below it, the chain has ${i - 1}`,
            );
        }
        const permitted = permittedDns(ca);
        if (permitted) {
            for (const below of path.slice(0, i)) {
                const outside = dnsNames(below).find(
                    (name) => !permitted.some((subtree) => within(name, subtree)),
                );
                if (outside)
                    throw new ChainError(
                        `${below.subject} names ${outside}, outside the constraints of ${ca.subject}`,
                    );
            }
        }
    }
}
