import * as pulumi from "@pulumi/pulumi";
import { labelPrefix } from "./context";
import { isCredentialName } from "./credentials";
import {
    containerSecurityContext,
    defaultRunAsUser,
    exceptionFor,
    podSecurityContext,
    SecurityException,
} from "./security";

/** A value taken from a key of a Kubernetes Secret; the only way a credential reaches a container. */
export interface SecretKeyRef {
    readonly secret: pulumi.Input<string>;
    readonly key: string;
}

/** An environment value: a plain (non-credential) string, or a Secret reference. */
export type EnvValue = pulumi.Input<string> | SecretKeyRef;

/** How Kubernetes checks a container: an HTTP(S) GET, a TCP connect or a command. */
export interface ProbeSpec {
    readonly http?: {
        readonly path: string;
        readonly port: number | string;
        readonly scheme?: "HTTP" | "HTTPS";
    };
    readonly tcp?: { readonly port: number | string };
    readonly exec?: readonly string[];
    readonly initialDelaySeconds?: number;
    readonly periodSeconds?: number;
    readonly timeoutSeconds?: number;
    readonly failureThreshold?: number;
}

/** Requests and limits; every container has both. */
export interface ResourceSpec {
    readonly cpu: string;
    readonly memory: string;
    readonly cpuLimit: string;
    readonly memoryLimit: string;
}

/** A volume mounted into a container. */
export interface MountSpec {
    readonly volume: string;
    readonly path: string;
    readonly readOnly?: boolean;
    readonly subPath?: string;
}

/** One container in the friendly shape service components use. */
export interface ContainerSpec {
    readonly name: string;
    /** A pinned reference; an Output when the image is built by the stack (its digest). */
    readonly image: pulumi.Input<string>;
    readonly command?: readonly pulumi.Input<string>[];
    readonly args?: readonly pulumi.Input<string>[];
    readonly ports?: readonly {
        readonly name: string;
        readonly port: number;
        readonly protocol?: "TCP" | "UDP";
    }[];
    readonly env?: Readonly<Record<string, EnvValue>>;
    readonly resources: ResourceSpec;
    /** Probes for long-running containers; init and job containers leave them out. */
    readonly readiness?: ProbeSpec;
    readonly liveness?: ProbeSpec;
    readonly startup?: ProbeSpec;
    readonly mounts?: readonly MountSpec[];
    /** Writable scratch directories (emptyDir) for images that write outside their volumes. */
    readonly scratch?: readonly string[];
    /** Size of a memory-backed /dev/shm, for programs that need more than the runtime's 64 MiB. */
    readonly sharedMemory?: string;
}

/** A pod volume: a Secret, a ConfigMap, or a directory the pod's containers share. */
export type VolumeSpec =
    | { readonly name: string; readonly secret: pulumi.Input<string>; readonly mode?: number }
    | { readonly name: string; readonly configMap: pulumi.Input<string>; readonly mode?: number }
    | { readonly name: string; readonly shared: { readonly sizeLimit: string; readonly memory?: boolean } };

/** Everything that defines a pod template. */
export interface PodSpecArgs {
    readonly containers: readonly ContainerSpec[];
    readonly initContainers?: readonly ContainerSpec[];
    readonly volumes?: readonly VolumeSpec[];
    /** uid (and gid, which owns mounted volumes) the pod runs as; the image's own non-root user. */
    readonly runAsUser?: number;
    readonly serviceAccountName?: pulumi.Input<string>;
    /** Departures from the baseline, each for the containers it names (all when it names none). */
    readonly exceptions?: readonly SecurityException[];
    readonly restartPolicy?: "Always" | "OnFailure" | "Never";
    readonly terminationGracePeriodSeconds?: number;
}

function isSecretKeyRef(v: EnvValue): v is SecretKeyRef {
    return typeof v === "object" && v !== null && "secret" in v && "key" in v;
}

/** Renders env, refusing a literal value for a credential-named variable. */
export function buildEnv(container: string, env: Readonly<Record<string, EnvValue>> = {}) {
    return Object.entries(env).map(([name, value]) => {
        if (isSecretKeyRef(value)) {
            return { name, valueFrom: { secretKeyRef: { name: value.secret, key: value.key } } };
        }
        if (isCredentialName(name)) {
            throw new Error(
                `env ${name} of container ${container} holds a credential: pass it as a Secret reference`,
            );
        }
        return { name, value };
    });
}

/** Renders a probe with the platform's timing defaults. */
export function buildProbe(probe: ProbeSpec) {
    const handlers = [probe.http, probe.tcp, probe.exec].filter((h) => h !== undefined);
    if (handlers.length !== 1) {
        throw new Error("a probe needs exactly one of http, tcp or exec");
    }
    return {
        ...(probe.http
            ? {
                  httpGet: {
                      path: probe.http.path,
                      port: probe.http.port,
                      scheme: probe.http.scheme ?? "HTTP",
                  },
              }
            : {}),
        ...(probe.tcp ? { tcpSocket: { port: probe.tcp.port } } : {}),
        ...(probe.exec ? { exec: { command: [...probe.exec] } } : {}),
        initialDelaySeconds: probe.initialDelaySeconds ?? 0,
        periodSeconds: probe.periodSeconds ?? 10,
        timeoutSeconds: probe.timeoutSeconds ?? 3,
        failureThreshold: probe.failureThreshold ?? 3,
    };
}

/** Name of the emptyDir volume that backs scratch directory `path`. */
export function scratchVolumeName(container: string, path: string): string {
    const slug = path
        .replace(/[^a-z0-9]+/gi, "-")
        .replace(/^-|-$/g, "")
        .toLowerCase();
    return `scratch-${container}-${slug}`.slice(0, 63).replace(/-$/, "");
}

/** Renders one container with the security baseline applied. */
export function buildContainer(spec: ContainerSpec, exceptions?: readonly SecurityException[]) {
    const mounts = [
        ...(spec.mounts ?? []).map((m) => ({
            name: m.volume,
            mountPath: m.path,
            ...(m.readOnly !== undefined ? { readOnly: m.readOnly } : {}),
            ...(m.subPath ? { subPath: m.subPath } : {}),
        })),
        ...(spec.scratch ?? []).map((path) => ({
            name: scratchVolumeName(spec.name, path),
            mountPath: path,
        })),
        ...(spec.sharedMemory
            ? [{ name: scratchVolumeName(spec.name, "/dev/shm"), mountPath: "/dev/shm" }]
            : []),
    ];
    return {
        name: spec.name,
        image: spec.image,
        imagePullPolicy: "IfNotPresent",
        ...(spec.command ? { command: [...spec.command] } : {}),
        ...(spec.args ? { args: [...spec.args] } : {}),
        ...(spec.ports?.length
            ? {
                  ports: spec.ports.map((p) => ({
                      name: p.name,
                      containerPort: p.port,
                      protocol: p.protocol ?? "TCP",
                  })),
              }
            : {}),
        ...(spec.env ? { env: buildEnv(spec.name, spec.env) } : {}),
        resources: {
            requests: { cpu: spec.resources.cpu, memory: spec.resources.memory },
            limits: { cpu: spec.resources.cpuLimit, memory: spec.resources.memoryLimit },
        },
        ...(spec.readiness ? { readinessProbe: buildProbe(spec.readiness) } : {}),
        ...(spec.liveness ? { livenessProbe: buildProbe(spec.liveness) } : {}),
        ...(spec.startup ? { startupProbe: buildProbe(spec.startup) } : {}),
        ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
        securityContext: containerSecurityContext(exceptionFor(spec.name, exceptions)),
        terminationMessagePolicy: "FallbackToLogsOnError",
    };
}

function buildVolume(v: VolumeSpec) {
    // Secrets are readable by the pod's group only (fsGroup), never by others.
    if ("secret" in v)
        return { name: v.name, secret: { secretName: v.secret, defaultMode: v.mode ?? 0o440 } };
    if ("shared" in v) {
        const { sizeLimit, memory } = v.shared;
        return { name: v.name, emptyDir: { ...(memory ? { medium: "Memory" } : {}), sizeLimit } };
    }
    return { name: v.name, configMap: { name: v.configMap, defaultMode: v.mode ?? 0o444 } };
}

/**
 * Renders a pod spec with the security baseline: non-root, read-only root filesystem, all
 * capabilities dropped, RuntimeDefault seccomp, no service account token, no service links.
 * Long-running containers must have readiness and liveness probes.
 */
export function buildPodSpec(args: PodSpecArgs) {
    const all = [...(args.initContainers ?? []), ...args.containers];
    checkExceptions(
        args.exceptions ?? [],
        all.map((c) => c.name),
    );
    if ((args.restartPolicy ?? "Always") === "Always") {
        for (const c of args.containers) {
            if (!c.readiness || !c.liveness) {
                throw new Error(`container ${c.name} needs readiness and liveness probes`);
            }
        }
    }
    const scratch = all.flatMap((c) => (c.scratch ?? []).map((path) => scratchVolumeName(c.name, path)));
    const shm = all
        .filter((c) => c.sharedMemory)
        .map((c) => ({
            name: scratchVolumeName(c.name, "/dev/shm"),
            emptyDir: { medium: "Memory", sizeLimit: c.sharedMemory },
        }));
    const runAsUser = args.runAsUser ?? defaultRunAsUser;
    return {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        ...(args.serviceAccountName ? { serviceAccountName: args.serviceAccountName } : {}),
        securityContext: podSecurityContext(runAsUser, runAsUser),
        ...(args.initContainers?.length
            ? { initContainers: args.initContainers.map((c) => buildContainer(c, args.exceptions)) }
            : {}),
        containers: args.containers.map((c) => buildContainer(c, args.exceptions)),
        volumes: [
            ...(args.volumes ?? []).map(buildVolume),
            ...scratch.map((name) => ({ name, emptyDir: { sizeLimit: "256Mi" } })),
            ...shm,
        ],
        ...(args.restartPolicy ? { restartPolicy: args.restartPolicy } : {}),
        ...(args.terminationGracePeriodSeconds !== undefined
            ? { terminationGracePeriodSeconds: args.terminationGracePeriodSeconds }
            : {}),
    };
}

/** Each exception has a reason and names only containers of the pod; no container has two. */
function checkExceptions(exceptions: readonly SecurityException[], containers: readonly string[]): void {
    for (const e of exceptions) {
        if (e.reason.trim() === "") throw new Error("a security exception needs a reason");
        for (const name of e.containers ?? []) {
            if (!containers.includes(name)) {
                throw new Error(
                    `the security exception names container ${name}, which the pod does not have`,
                );
            }
        }
    }
    for (const name of containers) {
        if (exceptions.filter((e) => !e.containers || e.containers.includes(name)).length > 1) {
            throw new Error(`container ${name} has more than one security exception`);
        }
    }
}

/** Annotation that carries the reasons for a workload's security exceptions. */
export const securityExceptionAnnotation = `${labelPrefix}/security-exception`;

/** The annotation's value: each exception's reason, in order. */
export function exceptionReasons(exceptions: readonly SecurityException[]): string {
    return exceptions.map((e) => e.reason).join("; ");
}

/** Pod template annotations: the reasons for the security exceptions, when there are any. */
export function podAnnotations(args: PodSpecArgs): Record<string, string> | undefined {
    return args.exceptions?.length
        ? { [securityExceptionAnnotation]: exceptionReasons(args.exceptions) }
        : undefined;
}
