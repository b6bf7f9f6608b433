/**
 * Runs the Pulumi program in-process under `pulumi.runtime.setMocks`: no engine, no cluster, no
 * cloud. Records every registered resource with its parent and resolved inputs, marks secret
 * values, and resolves the stack outputs. `npm run plan`, the benchmarks and the graph tests all
 * evaluate stacks through this one module.
 */
import * as pulumi from "@pulumi/pulumi";
import { generateKeyPairSync } from "node:crypto";
import { runProgram } from "../components/program";
import { StackConfigValues } from "./stack-config";

/** A resource as the program registered it. */
export interface RecordedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    /** URN of the parent resource, undefined for top-level resources. */
    readonly parent?: string;
    /** Whether the resource is protected from deletion (resource option `protect`). */
    readonly protect: boolean;
    /** URNs of the resources it waits for (`dependsOn`, expanded to a component's children). */
    readonly dependencies: readonly string[];
    readonly custom: boolean;
    /** Reference (`<urn>::<id>`) of the explicit provider, when the resource has one. */
    readonly provider?: string;
    /** Inputs with every secret value replaced by `secretMarker`. */
    readonly inputs: Record<string, any>;
    /** Inputs with secret values kept as `{ secret: value }` wrappers, for tests that check them. */
    readonly rawInputs: Record<string, any>;
    /** Dotted paths of the inputs that were secret. */
    readonly secretPaths: readonly string[];
}

/** What evaluating a stack produced. */
export interface Evaluation {
    readonly stack: string;
    readonly resources: readonly RecordedResource[];
    /** Stack outputs, secrets included in the clear (for StackReferences between evaluations). */
    readonly outputs: Record<string, unknown>;
    /** Names of the outputs that are secret. */
    readonly secretOutputs: readonly string[];
}

/** Stack outputs with every secret output replaced by the marker, for printing. */
export function printableOutputs(
    evaluation: Pick<Evaluation, "outputs" | "secretOutputs">,
): Record<string, unknown> {
    return Object.fromEntries(
        Object.entries(evaluation.outputs).map(([k, v]) => [
            k,
            evaluation.secretOutputs.includes(k) ? secretMarker : v,
        ]),
    );
}

/** Stands in for a secret value in recorded inputs, plans and logs. */
export const secretMarker = "<<secret>>";

/** Stands in for a value that only exists after deployment (keys, certificates, ids). */
export const unknownMarker = "<<known after deploy>>";

/** The mock provider's value for a generated password: marked, never a made-up secret. */
export const generatedMarker = "<<generated at deploy>>";

/** The SDK's marker for a secret value in serialized properties. */
const specialSigKey = "4dabf18193072939515e22adb298388d";
const specialSecretSig = "1b47061264138c4ac30d75fd1eb44270";

function isSecretWrapper(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as any)[specialSigKey] === specialSecretSig;
}

/** The SDK's unknown value (a computed value during preview). */
function isUnknown(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any).__pulumiUnknown === true;
}

/** Walks deserialized inputs, replacing secrets with the marker and listing their paths. */
export function redactSecrets(
    value: unknown,
    path = "",
    found: string[] = [],
): { redacted: any; raw: any; paths: string[] } {
    const walk = (v: unknown, p: string, inSecret: boolean): { redacted: any; raw: any } => {
        if (isUnknown(v)) {
            return { redacted: inSecret ? secretMarker : unknownMarker, raw: unknownMarker };
        }
        if (isSecretWrapper(v)) {
            found.push(p);
            const inner = walk(v.value, p, true);
            return { redacted: inner.redacted, raw: { secret: inner.raw } };
        }
        if (Array.isArray(v)) {
            const parts = v.map((x, i) => walk(x, `${p}[${i}]`, inSecret));
            return { redacted: parts.map((x) => x.redacted), raw: parts.map((x) => x.raw) };
        }
        if (typeof v === "object" && v !== null) {
            const entries = Object.entries(v).map(
                ([k, x]) => [k, walk(x, p ? `${p}.${k}` : k, inSecret)] as const,
            );
            return {
                redacted: Object.fromEntries(entries.map(([k, x]) => [k, x.redacted])),
                raw: Object.fromEntries(entries.map(([k, x]) => [k, x.raw])),
            };
        }
        // Inside a secret, every scalar is redacted and the structure is kept (Secret stringData).
        return { redacted: inSecret && v !== null && v !== undefined ? secretMarker : v, raw: v };
    };
    const { redacted, raw } = walk(value, path, false);
    return { redacted, raw, paths: found };
}

/**
 * What the mock provider returns for a resource. Outputs a provider computes are left out, so in
 * this preview they are unknown exactly as in `pulumi preview`, with two exceptions: a generated
 * password is a marked placeholder (opaque, never parsed), and a private key's public half is a
 * real but throwaway key, because the program derives public configuration (a JWK) from it.
 * The private half stays unknown: the plan never holds a made-up secret.
 */
export function providerState(type: string, inputs: Record<string, any>): Record<string, any> {
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: generatedMarker };
        case "tls:index/privateKey:PrivateKey":
            return { ...inputs, publicKeyPem: throwawayPublicKey(inputs.algorithm, inputs.ecdsaCurve) };
        default:
            return inputs;
    }
}

function throwawayPublicKey(algorithm: string, curve?: string): string {
    const { publicKey } =
        algorithm === "ECDSA"
            ? generateKeyPairSync("ec", {
                  namedCurve: { P256: "P-256", P384: "P-384", P521: "P-521" }[curve ?? "P224"] ?? "P-256",
              })
            : algorithm === "ED25519"
              ? generateKeyPairSync("ed25519")
              : generateKeyPairSync("rsa", { modulusLength: 2048 });
    return publicKey.export({ format: "pem", type: "spki" }).toString();
}

/** Options for evaluating one stack. */
export interface EvaluateOptions {
    /** Stack name, as in Pulumi.<stack>.yaml. */
    readonly stack: string;
    readonly config: StackConfigValues;
    /** Other stacks' evaluations, by fully qualified name, for StackReferences. */
    readonly stackOutputs?: Readonly<Record<string, Pick<Evaluation, "outputs" | "secretOutputs">>>;
    /** The program; defaults to the real one (components/program.ts). */
    readonly program?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** Evaluates a stack under mocks and returns what it registered and exported. */
export async function evaluateStack(options: EvaluateOptions): Promise<Evaluation> {
    const records = new Map<string, Omit<RecordedResource, "urn" | "parent" | "protect" | "dependencies">>();
    const parents = new Map<
        string,
        { urn: string; parent?: string; protect: boolean; dependencies: readonly string[] }
    >();
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                const { redacted, raw, paths } = redactSecrets(args.inputs);
                records.set(`${args.type}::${args.name}`, {
                    type: args.type,
                    name: args.name,
                    custom: args.custom ?? true,
                    provider: args.provider || undefined,
                    inputs: redacted,
                    rawInputs: raw,
                    secretPaths: paths,
                });
                if (args.type === "pulumi:pulumi:StackReference") {
                    const referenced = options.stackOutputs?.[args.inputs.name];
                    if (!referenced) {
                        throw new Error(`stack reference ${args.inputs.name}: no such stack was evaluated`);
                    }
                    const state = {
                        name: args.inputs.name,
                        outputs: referenced.outputs,
                        secretOutputNames: [...referenced.secretOutputs],
                    };
                    return { id: args.inputs.name, state };
                }
                return {
                    id: args.custom ? `${args.name}-id` : undefined,
                    state: providerState(args.type, args.inputs),
                };
            },
            call(args) {
                // Keycloak's built-in clients exist in every realm; their ids are known only to Keycloak.
                if (
                    args.token === "keycloak:openid/getClient:getClient" ||
                    args.token === "keycloak:index/getRole:getRole"
                ) {
                    return { ...args.inputs, id: unknownMarker };
                }
                throw new Error(`unexpected provider function call ${args.token} under the mock engine`);
            },
        },
        "cdm",
        options.stack,
        // A preview, as `pulumi preview` runs it: values only a deployment knows stay unknown.
        true,
        "organization",
    );
    // The mock monitor does not tell newResource the parent or options; capture them at registration.
    // StackReferences are reads, not registrations, so both calls are wrapped.
    const monitor = pulumi.runtime.getMonitor() as any;
    for (const method of ["registerResource", "readResource"]) {
        const original = monitor[method].bind(monitor);
        monitor[method] = (req: any, callback: any) => {
            const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
            const protect = typeof req.getProtect === "function" && req.getProtect() === true;
            const dependencies: string[] =
                typeof req.getDependenciesList === "function" ? req.getDependenciesList() : [];
            parents.set(`${req.getType()}::${req.getName()}`, {
                urn,
                parent: req.getParent() || undefined,
                protect,
                dependencies,
            });
            return original(req, callback);
        };
    }
    pulumi.runtime.setAllConfig(options.config.values, options.config.secretKeys);
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    try {
        const exported = await (options.program ?? runProgram)();
        for (const [key, value] of Object.entries(exported)) {
            const output = pulumi.output(value);
            outputs[key] = await resolve(output);
            if (await pulumi.isSecret(output)) secretOutputs.push(key);
        }
    } finally {
        // Also on failure: let registrations already in flight finish against this monitor.
        await settle();
    }
    const resources = [...records.entries()].map(([key, r]) => ({ ...r, ...parents.get(key)! }));
    return { stack: options.stack, resources, outputs, secretOutputs };
}

/**
 * Resolves an Output to its value, secrets unwrapped and unknown parts replaced by the marker
 * (`apply` would never run for an unknown value; the SDK's own `promise(withUnknowns)` does).
 */
async function resolve<T>(output: pulumi.Output<T>): Promise<unknown> {
    const value = await (output as unknown as { promise(withUnknowns: boolean): Promise<unknown> }).promise(
        true,
    );
    const replace = (v: unknown): unknown => {
        if (isUnknown(v)) return unknownMarker;
        if (Array.isArray(v)) return v.map(replace);
        if (typeof v === "object" && v !== null)
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replace(x)]));
        return v;
    };
    return replace(value);
}

/** Waits until the runtime has no registration in flight (the SDK's own shutdown barrier). */
async function settle(): Promise<void> {
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
    await settings.waitForRPCs();
}
