import * as k8s from "@pulumi/kubernetes";
import { PodSecurityLevel } from "./context";

type PodSpec = k8s.types.input.core.v1.PodSpec;

/**
 * A departure from the restricted baseline. Every exception carries the reason, which is written
 * onto the pod template as an annotation so a reviewer sees it next to the workload.
 */
export interface SecurityException {
    /** Why the workload cannot run under the baseline (required, shown in the annotation). */
    readonly reason: string;
    /** Linux capabilities to add on top of the dropped set, for example NET_ADMIN. */
    readonly addCapabilities?: readonly string[];
    /** Allow writes to the container's root filesystem. */
    readonly writableRootFilesystem?: boolean;
    /**
     * Run as uid 0. Added capabilities are effective for root only (Kubernetes grants no ambient
     * capabilities), so a process that must use one runs as root, with every other one dropped.
     */
    readonly runAsRoot?: boolean;
    /** The containers the exception is for; every container of the pod when undefined. */
    readonly containers?: readonly string[];
}

/** The exception that applies to container `name`, if any (at most one may: see buildPodSpec). */
export function exceptionFor(
    name: string,
    exceptions: readonly SecurityException[] = [],
): SecurityException | undefined {
    return exceptions.find((e) => !e.containers || e.containers.includes(name));
}

/** Capabilities the baseline Pod Security level allows a container to add. */
const baselineCapabilities = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const levels: readonly PodSecurityLevel[] = ["restricted", "baseline", "privileged"];

/**
 * The Pod Security level a namespace must enforce for a workload with this exception: restricted
 * allows adding NET_BIND_SERVICE only and no root, baseline a fixed list of capabilities and
 * root, anything else (NET_ADMIN for WireGuard) needs privileged. A read-only root filesystem is
 * the platform's rule, not a level's.
 */
export function requiredPodSecurity(exceptions: readonly SecurityException[] = []): PodSecurityLevel {
    const added = exceptions.flatMap((e) => e.addCapabilities ?? []);
    if (added.some((c) => !baselineCapabilities.includes(c))) return "privileged";
    if (exceptions.some((e) => e.runAsRoot) || added.some((c) => c !== "NET_BIND_SERVICE")) return "baseline";
    return "restricted";
}

/** True when a namespace enforcing `enforced` admits pods that need `needed`. */
export function admits(enforced: PodSecurityLevel, needed: PodSecurityLevel): boolean {
    return levels.indexOf(enforced) >= levels.indexOf(needed);
}

/** The uid/gid the platform's own images and most upstream images run as when not told otherwise. */
export const defaultRunAsUser = 65532;

/** Pod-level security context of the baseline: non-root, RuntimeDefault seccomp. */
export function podSecurityContext(runAsUser: number, fsGroup: number) {
    return {
        runAsNonRoot: true,
        runAsUser,
        runAsGroup: fsGroup,
        fsGroup,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/**
 * Container-level security context of the baseline, widened only by an explicit exception (the
 * exception as it applies to this container: see `exceptionFor`).
 */
export function containerSecurityContext(exception?: SecurityException) {
    const add = exception?.addCapabilities ?? [];
    return {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: !(exception?.writableRootFilesystem ?? false),
        ...(exception?.runAsRoot ? { runAsNonRoot: false, runAsUser: 0 } : { runAsNonRoot: true }),
        capabilities: { drop: ["ALL"], ...(add.length > 0 ? { add: [...add] } : {}) },
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/** Volume types the restricted Pod Security Standard allows. */
const restrictedVolumeTypes = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

type PlainPodSpec = Record<string, any>;

/**
 * Checks a resolved pod spec against the restricted Pod Security Standard and the platform's
 * additions (read-only root filesystem, resources, probes). Returns one line per violation;
 * an empty list means the pod meets the baseline. Exceptions declared on the workload are
 * passed in so that only what they name, for the containers they name, is tolerated.
 */
export function baselineViolations(
    spec: PlainPodSpec | PodSpec,
    exceptions: readonly SecurityException[] = [],
): string[] {
    const pod = spec as PlainPodSpec;
    const out: string[] = [];
    for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (pod[field] === true) out.push(`pod sets ${field}`);
    }
    if (pod.automountServiceAccountToken !== false) out.push("pod mounts a service account token");
    const podCtx = pod.securityContext ?? {};
    if (podCtx.seccompProfile?.type !== "RuntimeDefault" && podCtx.seccompProfile?.type !== "Localhost") {
        out.push("pod has no RuntimeDefault seccomp profile");
    }
    for (const volume of pod.volumes ?? []) {
        const type = Object.keys(volume).find((k) => k !== "name");
        if (!type || !restrictedVolumeTypes.includes(type))
            out.push(`volume ${volume.name} is of type ${type}`);
    }
    const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
    for (const c of containers) {
        const allowed = exceptionFor(c.name, exceptions);
        const allowedAdds = new Set(["NET_BIND_SERVICE", ...(allowed?.addCapabilities ?? [])]);
        const ctx = c.securityContext ?? {};
        const who = `container ${c.name}`;
        const nonRoot = ctx.runAsNonRoot ?? podCtx.runAsNonRoot;
        const uid = ctx.runAsUser ?? podCtx.runAsUser;
        if (!allowed?.runAsRoot) {
            if (nonRoot !== true) out.push(`${who} may run as root (runAsNonRoot is not true)`);
            if (uid === 0) out.push(`${who} runs as uid 0`);
        }
        if (ctx.privileged === true) out.push(`${who} is privileged`);
        if (ctx.allowPrivilegeEscalation !== false) out.push(`${who} allows privilege escalation`);
        if (!(ctx.capabilities?.drop ?? []).includes("ALL"))
            out.push(`${who} does not drop ALL capabilities`);
        for (const cap of ctx.capabilities?.add ?? []) {
            if (!allowedAdds.has(cap)) out.push(`${who} adds capability ${cap}`);
        }
        if (ctx.readOnlyRootFilesystem !== true && !allowed?.writableRootFilesystem) {
            out.push(`${who} has a writable root filesystem`);
        }
        for (const port of c.ports ?? []) {
            if (port.hostPort !== undefined) out.push(`${who} binds host port ${port.hostPort}`);
        }
        const res = c.resources ?? {};
        if (!res.requests?.cpu || !res.requests?.memory) out.push(`${who} has no cpu and memory requests`);
        if (!res.limits?.memory) out.push(`${who} has no memory limit`);
        if (!res.limits?.cpu) out.push(`${who} has no cpu limit`);
    }
    for (const c of pod.containers ?? []) {
        if (!c.readinessProbe) out.push(`container ${c.name} has no readiness probe`);
        if (!c.livenessProbe) out.push(`container ${c.name} has no liveness probe`);
    }
    return out;
}
