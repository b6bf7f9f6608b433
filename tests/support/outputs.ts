import * as pulumi from "@pulumi/pulumi";

/** The value of a known Pulumi input or output, secrets unwrapped (for unit tests outside the engine). */
export function resolve<T>(input: pulumi.Input<T>): Promise<T> {
    return new Promise((done) => pulumi.output(input).apply((v) => done(v as T)));
}
