/**
 * Generates step-ca's `ca.json` from typed inputs. Pure: the program renders it into a ConfigMap
 * (it holds only public keys and paths), and the integration tests start a real step-ca with the
 * same output.
 */
import { EcPublicJwk } from "../pki/jwk";

/** Where the StatefulSet mounts each file; ca.json refers to these paths. */
export const caPaths = {
    config: "/home/step/config/ca.json",
    root: "/home/step/certs/root_ca.crt",
    /** The signing CA certificate followed by its issuing intermediates. */
    bundle: "/home/step/certs/ca_bundle.crt",
    /** The signing key, encrypted with the password in `password`. */
    key: "/home/step/secrets/ca_key",
    password: "/home/step/secrets/password",
    db: "/home/step/db",
} as const;

/** Certificate lifetimes a provisioner allows (Go durations such as `168h`). */
export interface CertificateClaims {
    readonly minDuration: string;
    readonly defaultDuration: string;
    readonly maxDuration: string;
    /** Renewal over mTLS (`/1.0/renew`) with the current certificate. */
    readonly allowRenewal: boolean;
}

/** A JWK provisioner: who may ask for certificates, with which token key, under which template. */
export interface ProvisionerSpec {
    /** Provisioner name, the `iss` of its one-time tokens. */
    readonly name: string;
    /** Public key that verifies the tokens; the private half is held by the bridge only. */
    readonly key: EcPublicJwk;
    readonly claims: CertificateClaims;
    /** What the provisioner issues: device (leaf, clientAuth) or Sub-CA certificates. */
    readonly issues: "device" | "sub-ca";
}

/** Inputs of a step-ca configuration. */
export interface CaJsonInput {
    /** Names the CA serves TLS for and accepts as token audience (in-cluster Service names included). */
    readonly dnsNames: readonly string[];
    /** Listen address, `:9000`. */
    readonly address: string;
    readonly provisioners: readonly ProvisionerSpec[];
    /** Files; defaults to the StatefulSet's mount paths (tests point them at a temp dir). */
    readonly paths?: Partial<Record<keyof typeof caPaths, string>>;
}

/** Leaf template for devices: the token's subject and SANs, client authentication only. */
export const deviceTemplate = [
    "{",
    '  "subject": {{ toJson .Subject }},',
    '  "sans": {{ toJson .SANs }},',
    '  "keyUsage": ["digitalSignature"],',
    '  "extKeyUsage": ["clientAuth"]',
    "}",
].join("\n");

/**
 * Sub-CA template: a CA that may sign leaves only (path length 0), constrained (critically) to
 * the DNS names of its request. The provisioner's token authorizes exactly those names (step-ca
 * refuses a request whose names differ from the token's), so the provider bridge decides them.
 */
export const subCaTemplate = [
    "{",
    '  "subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": ["cdm-platform"]},',
    '  "keyUsage": ["certSign", "crlSign"],',
    '  "basicConstraints": {"isCA": true, "maxPathLen": 0},',
    '  "nameConstraints": {"critical": true, "permittedDNSDomains": {{ toJson .Insecure.CR.DNSNames }}}',
    "}",
].join("\n");

function provisioner(spec: ProvisionerSpec) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.name)) {
        throw new Error(`step-ca provisioner name "${spec.name}" must be letters, digits, '.', '_' or '-'`);
    }
    return {
        type: "JWK",
        name: spec.name,
        key: spec.key,
        claims: {
            minTLSCertDuration: spec.claims.minDuration,
            defaultTLSCertDuration: spec.claims.defaultDuration,
            maxTLSCertDuration: spec.claims.maxDuration,
            disableRenewal: !spec.claims.allowRenewal,
            allowRenewalAfterExpiry: false,
        },
        options: { x509: { template: spec.issues === "device" ? deviceTemplate : subCaTemplate } },
    };
}

/** The ca.json document. Throws on inputs step-ca would refuse or misuse. */
export function caJson(input: CaJsonInput) {
    if (input.dnsNames.length === 0) {
        throw new Error("step-ca needs at least one DNS name");
    }
    const names = input.provisioners.map((p) => p.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) {
        throw new Error(`step-ca provisioner "${duplicate}" is declared twice`);
    }
    const paths = { ...caPaths, ...input.paths };
    return {
        root: paths.root,
        crt: paths.bundle,
        key: paths.key,
        address: input.address,
        dnsNames: [...input.dnsNames],
        logger: { format: "json" },
        db: { type: "badger", dataSource: paths.db },
        crl: { enabled: true, generateOnRevoke: true },
        authority: {
            // Every certificate is issued through a provisioner with its own claims; nothing else.
            enableAdmin: false,
            backdate: "1m",
            provisioners: input.provisioners.map(provisioner),
        },
        tls: {
            minVersion: 1.2,
            maxVersion: 1.3,
            renegotiation: false,
        },
    };
}

/** ca.json as text, keys in a stable order so the ConfigMap never shows a spurious diff. */
export function renderCaJson(input: CaJsonInput): string {
    return `${JSON.stringify(caJson(input), null, 2)}\n`;
}
