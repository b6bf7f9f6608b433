import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { AppIdentity, objectMeta, StackContext } from "../k8s/context";
import { createCredentialSecret } from "../k8s/secret";

export interface TenantServerCertificateArgs {
    /** The namespace and labels of the TLS Secret. */
    readonly context: StackContext;
    readonly identity: AppIdentity;
    /** The `kubernetes.io/tls` Secret to write (an Ingress's TLS Secret, for example). */
    readonly secretName: string;
    /** The names it serves: public endpoints of the tenant, inside its Sub-CA's constraints. */
    readonly dnsNames: readonly string[];
    /** The tenant Sub-CA that signs it, and the chain above it (the provider intermediate). */
    readonly subCa: {
        readonly certificate: pulumi.Input<string>;
        readonly chain: pulumi.Input<string[]>;
        readonly key: pulumi.Input<string>;
    };
}

/** How long a server certificate lives, and how long before its end `pulumi up` replaces it. */
export const serverCertificateHours = { validity: 90 * 24, earlyRenewal: 30 * 24 };

/**
 * A server certificate of one of the tenant's public endpoints, signed by the tenant's own
 * Sub-CA, so that it chains to the platform root devices already trust (rauc-hawkbit-updater
 * has no CA option: the device's trust store holds that root). The Secret carries the leaf,
 * the Sub-CA and the intermediate, in that order; a `pulumi up` within 30 days of the end
 * renews it.
 */
export class TenantServerCertificate extends pulumi.ComponentResource {
    public readonly secretName: pulumi.Output<string>;
    /** The certificate chain in the Secret (PEM), for a checksum that restarts servers reading it at start. */
    public readonly certificate: pulumi.Output<string>;

    constructor(name: string, args: TenantServerCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:pki:TenantServerCertificate", name, {}, opts);
        const child = { parent: this };
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
        const request = new tls.CertRequest(
            `${name}-request`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: args.dnsNames[0] },
                dnsNames: [...args.dnsNames],
            },
            child,
        );
        const certificate = new tls.LocallySignedCert(
            `${name}-certificate`,
            {
                certRequestPem: request.certRequestPem,
                caCertPem: args.subCa.certificate,
                caPrivateKeyPem: args.subCa.key,
                validityPeriodHours: serverCertificateHours.validity,
                earlyRenewalHours: serverCertificateHours.earlyRenewal,
                allowedUses: ["digital_signature", "server_auth"],
            },
            child,
        );
        const fullChain = pulumi
            .all([certificate.certPem, args.subCa.certificate, args.subCa.chain])
            .apply(([leaf, subCa, chain]) =>
                [leaf, subCa, ...chain].map((pem) => `${pem.trim()}\n`).join(""),
            );
        this.certificate = fullChain;
        this.secretName = createCredentialSecret(
            `${name}-secret`,
            objectMeta(args.context, args.identity, args.secretName),
            { "tls.crt": fullChain, "tls.key": key.privateKeyPem },
            child,
            "kubernetes.io/tls",
        ).secret.metadata.name;
        this.registerOutputs({ secretName: this.secretName, certificate: this.certificate });
    }
}
