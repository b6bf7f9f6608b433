import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { isCredentialName } from "./credentials";
import { SecretKeyRef } from "./pod";

/**
 * A generated credential. `RandomPassword` (not `RandomString`) keeps the value out of the
 * resource id; the result is wrapped in `pulumi.secret` so its secretness does not depend on the
 * provider's additionalSecretOutputs.
 */
export function generatedPassword(
    name: string,
    opts: pulumi.CustomResourceOptions,
    length = 32,
): pulumi.Output<string> {
    // No special characters: the value goes into URIs, SQL literals and env files unescaped.
    const password = new random.RandomPassword(name, { length, special: false }, opts);
    return pulumi.secret(password.result);
}

/** A Kubernetes Secret whose every value is a Pulumi secret; returns the object and key references. */
export function createCredentialSecret(
    name: string,
    metadata: { name: string; namespace: pulumi.Input<string>; labels?: Record<string, string> },
    data: Readonly<Record<string, pulumi.Input<string>>>,
    opts: pulumi.CustomResourceOptions,
    type: "Opaque" | "kubernetes.io/tls" = "Opaque",
): { secret: k8s.core.v1.Secret; ref: (key: string) => SecretKeyRef } {
    const keys = Object.keys(data);
    // Each value is its own secret, so one value known only after deployment (a generated
    // password) leaves the others visible as keys in a preview.
    const stringData = Object.fromEntries(
        Object.entries(data).map(([key, value]) => [key, pulumi.secret(value)]),
    );
    const secret = new k8s.core.v1.Secret(name, { metadata, type, stringData }, opts);
    const ref = (key: string): SecretKeyRef => {
        if (!keys.includes(key)) {
            throw new Error(`Secret ${metadata.name} has no key ${key} (it has ${keys.join(", ")})`);
        }
        return { secret: secret.metadata.name, key };
    };
    return { secret, ref };
}

/**
 * A ConfigMap for non-secret configuration. Credential-named keys are refused here, so a
 * credential cannot slip into a ConfigMap by accident; secret values are caught by the graph tests.
 */
export function createConfigMap(
    name: string,
    metadata: { name: string; namespace: pulumi.Input<string>; labels?: Record<string, string> },
    data: Readonly<Record<string, pulumi.Input<string>>>,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.ConfigMap {
    const bad = Object.keys(data).filter(isCredentialName);
    if (bad.length > 0) {
        throw new Error(
            `ConfigMap ${metadata.name} would hold credentials (${bad.join(", ")}): use a Secret`,
        );
    }
    return new k8s.core.v1.ConfigMap(name, { metadata, data: { ...data } }, opts);
}
