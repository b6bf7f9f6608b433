import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { PkiSource } from "../config/provider-config";
import { CaProfile, caAllowedUses, intermediateProfile, organization, rootProfile } from "./profile";

export interface PlatformPkiArgs {
    /** Generate the root and intermediate, or use the user's own. */
    readonly source: PkiSource;
}

/** Subject of a CA certificate of `profile`. */
export function caSubject(profile: CaProfile) {
    return { commonName: profile.commonName, organization };
}

/** The certificate arguments of a CA of `profile`: CA usages only, its path length, its lifetime. */
export function caCertificateArgs(profile: CaProfile) {
    return {
        validityPeriodHours: profile.validityHours,
        isCaCertificate: true,
        maxPathLength: profile.maxPathLength,
        allowedUses: [...caAllowedUses],
        setSubjectKeyId: true,
    };
}

/**
 * The platform's root and provider intermediate CAs. Generated: ECDSA keys and certificates made
 * with @pulumi/tls, protected against deletion and replacement, keys kept as Pulumi secrets.
 * Brought: the user's certificates and intermediate key from (secret) config, already checked.
 * The root key is never needed again once the intermediate exists (offline by intent).
 */
export class PlatformPki extends pulumi.ComponentResource {
    /** Root CA certificate (PEM), the trust anchor of every chain. */
    public readonly rootCertificate: pulumi.Output<string>;
    /** Provider intermediate CA certificate (PEM). */
    public readonly intermediateCertificate: pulumi.Output<string>;
    /** Provider intermediate private key (PEM), a Pulumi secret. */
    public readonly intermediateKey: pulumi.Output<string>;

    constructor(name: string, args: PlatformPkiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:pki:PlatformPki", name, {}, opts);
        if (args.source.mode === "byo") {
            this.rootCertificate = pulumi.output(args.source.rootCertificate);
            this.intermediateCertificate = pulumi.output(args.source.intermediateCertificate);
            this.intermediateKey = pulumi.secret(args.source.intermediateKey);
        } else {
            // CA material is protected: replacing it would invalidate every certificate issued.
            const keep = { parent: this, protect: true };
            const rootKey = new tls.PrivateKey(
                `${name}-root-key`,
                { algorithm: "ECDSA", ecdsaCurve: rootProfile.curve },
                keep,
            );
            const root = new tls.SelfSignedCert(
                `${name}-root-certificate`,
                {
                    privateKeyPem: rootKey.privateKeyPem,
                    subject: caSubject(rootProfile),
                    ...caCertificateArgs(rootProfile),
                },
                keep,
            );
            const intermediateKey = new tls.PrivateKey(
                `${name}-intermediate-key`,
                { algorithm: "ECDSA", ecdsaCurve: intermediateProfile.curve },
                keep,
            );
            // Protected too: a new request (ECDSA signatures differ) would replace the intermediate.
            const request = new tls.CertRequest(
                `${name}-intermediate-request`,
                { privateKeyPem: intermediateKey.privateKeyPem, subject: caSubject(intermediateProfile) },
                keep,
            );
            const intermediate = new tls.LocallySignedCert(
                `${name}-intermediate-certificate`,
                {
                    certRequestPem: request.certRequestPem,
                    caCertPem: root.certPem,
                    caPrivateKeyPem: rootKey.privateKeyPem,
                    ...caCertificateArgs(intermediateProfile),
                },
                keep,
            );
            this.rootCertificate = root.certPem;
            this.intermediateCertificate = intermediate.certPem;
            this.intermediateKey = pulumi.secret(intermediateKey.privateKeyPem);
        }
        this.registerOutputs({
            rootCertificate: this.rootCertificate,
            intermediateCertificate: this.intermediateCertificate,
        });
    }
}
