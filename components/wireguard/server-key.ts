import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { AppIdentity, objectMeta, StackContext } from "../k8s/context";
import { createCredentialSecret } from "../k8s/secret";
import { wireguardPublicKey } from "./keys";

export interface WireguardServerKeyArgs {
    /** The VPN namespace's context: only the server's pod there reads the private half. */
    readonly context: StackContext;
}

/** The Secret with the server's key pair (`private-key`, `public-key`). */
export const wireguardServerKeySecret = "wireguard-server-key";

const identity: AppIdentity = { app: "wireguard", component: "vpn" };

/**
 * The tenant WireGuard server's key pair, generated once and kept as a Pulumi secret: the
 * private half only in the Secret `wireguard-server-key` (`private-key`) of the VPN namespace,
 * with the public half (`public-key`), which the bridge hands to devices as a plain value. Replacing this resource changes every
 * device's configuration, so it is made once and never derived from anything that changes.
 */
export class WireguardServerKey extends pulumi.ComponentResource {
    /** The server's public key (base64), as devices put it in their configuration. */
    public readonly publicKey: pulumi.Output<string>;
    /** The Secret holding both halves. */
    public readonly secretName: pulumi.Output<string>;

    constructor(name: string, args: WireguardServerKeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:wireguard:ServerKey", name, {}, opts);
        const child = { parent: this };
        const bytes = new random.RandomBytes(`${name}-private-key`, { length: 32 }, child);
        const privateKey = pulumi.secret(bytes.base64);
        // The public half is public: derived, then unmarked so it can be exported and shown.
        this.publicKey = pulumi.unsecret(bytes.base64.apply(wireguardPublicKey));
        this.secretName = createCredentialSecret(
            `${name}-secret`,
            objectMeta(args.context, identity, wireguardServerKeySecret),
            { "private-key": privateKey, "public-key": this.publicKey },
            child,
        ).secret.metadata.name;
        this.registerOutputs({ publicKey: this.publicKey, secretName: this.secretName });
    }
}
