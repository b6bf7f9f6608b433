import * as pulumi from "@pulumi/pulumi";

interface EncryptedKeyInputs {
    /** The key to protect (PEM). */
    readonly privateKeyPem: string;
    /** The passphrase step-ca reads from its password file. */
    readonly password: string;
}

interface EncryptedKeyOutputs extends EncryptedKeyInputs {
    /** PKCS#8 PEM encrypted with AES-256-CBC under `password`. */
    readonly encryptedPem: string;
}

/** Encrypts a PEM private key as step-ca expects it; pure, for the provider and its tests. */
export function encryptPrivateKey(privateKeyPem: string, password: string): string {
    const { createPrivateKey } = require("node:crypto") as typeof import("node:crypto");
    return createPrivateKey(privateKeyPem)
        .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: password })
        .toString();
}

/**
 * Encryption happens once, at create: a fresh salt and IV every run would rewrite the Secret on
 * every `pulumi up`, so the result lives in state and changes only with the key or password.
 */
const encryptedKeyProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: EncryptedKeyInputs) {
        const outs: EncryptedKeyOutputs = {
            ...inputs,
            encryptedPem: encryptPrivateKey(inputs.privateKeyPem, inputs.password),
        };
        return { id: "encrypted-key", outs };
    },
    async diff(_id: string, olds: EncryptedKeyOutputs, news: EncryptedKeyInputs) {
        const replaces = (["privateKeyPem", "password"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces };
    },
};

/** A private key encrypted under a password, kept (secret) in state so it never churns. */
export class EncryptedKey extends pulumi.dynamic.Resource {
    // `declare`: a class field would overwrite the value the dynamic resource constructor set.
    declare public readonly encryptedPem: pulumi.Output<string>;

    constructor(
        name: string,
        args: { privateKeyPem: pulumi.Input<string>; password: pulumi.Input<string> },
        opts?: pulumi.CustomResourceOptions,
    ) {
        super(
            encryptedKeyProvider,
            name,
            {
                privateKeyPem: pulumi.secret(args.privateKeyPem),
                password: pulumi.secret(args.password),
                encryptedPem: undefined,
            },
            { ...opts, additionalSecretOutputs: ["privateKeyPem", "password", "encryptedPem"] },
        );
    }
}
