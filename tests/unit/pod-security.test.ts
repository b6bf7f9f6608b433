import { describe, expect, it } from "vitest";
import {
    buildContainer,
    buildEnv,
    buildPodSpec,
    buildProbe,
    ContainerSpec,
    podAnnotations,
} from "../../components/k8s/pod";
import { StackContext } from "../../components/k8s/context";
import {
    admits,
    baselineViolations,
    containerSecurityContext,
    requiredPodSecurity,
} from "../../components/k8s/security";
import { renderWorkload, WorkloadArgs } from "../../components/k8s/workload";

const probe = { http: { path: "/health", port: 8080 } };
const web: ContainerSpec = {
    name: "web",
    image: "registry.example.com/web:1.2.3",
    ports: [{ name: "http", port: 8080 }],
    resources: { cpu: "100m", memory: "128Mi", cpuLimit: "1", memoryLimit: "256Mi" },
    readiness: probe,
    liveness: probe,
};

describe("pod builder", () => {
    it("applies the restricted baseline by default", () => {
        const spec = buildPodSpec({ containers: [web] });
        expect(spec.automountServiceAccountToken).toBe(false);
        expect(spec.enableServiceLinks).toBe(false);
        expect(spec.securityContext).toEqual({
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            fsGroup: 65532,
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
        });
        expect(spec.containers[0].securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
            seccompProfile: { type: "RuntimeDefault" },
        });
        expect(baselineViolations(spec)).toEqual([]);
    });

    it("renders resources, probes, ports and scratch volumes", () => {
        const spec = buildPodSpec({
            containers: [{ ...web, scratch: ["/tmp", "/var/cache/app"], sharedMemory: "128Mi" }],
        });
        const c = spec.containers[0];
        expect(c.resources).toEqual({
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "256Mi" },
        });
        expect(c.readinessProbe).toEqual({
            httpGet: { path: "/health", port: 8080, scheme: "HTTP" },
            initialDelaySeconds: 0,
            periodSeconds: 10,
            timeoutSeconds: 3,
            failureThreshold: 3,
        });
        expect(c.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
        expect(c.volumeMounts).toEqual([
            { name: "scratch-web-tmp", mountPath: "/tmp" },
            { name: "scratch-web-var-cache-app", mountPath: "/var/cache/app" },
            { name: "scratch-web-dev-shm", mountPath: "/dev/shm" },
        ]);
        expect(spec.volumes).toEqual([
            { name: "scratch-web-tmp", emptyDir: { sizeLimit: "256Mi" } },
            { name: "scratch-web-var-cache-app", emptyDir: { sizeLimit: "256Mi" } },
            { name: "scratch-web-dev-shm", emptyDir: { medium: "Memory", sizeLimit: "128Mi" } },
        ]);
    });

    it("makes an exception explicit: only what it names, with its reason annotated", () => {
        const args = {
            containers: [web],
            exceptions: [{ reason: "WireGuard configures its interface", addCapabilities: ["NET_ADMIN"] }],
        };
        const spec = buildPodSpec(args);
        expect(spec.containers[0].securityContext.capabilities).toEqual({
            drop: ["ALL"],
            add: ["NET_ADMIN"],
        });
        expect(podAnnotations(args)).toEqual({
            "cdm-platform.dev/security-exception": "WireGuard configures its interface",
        });
        expect(baselineViolations(spec, args.exceptions)).toEqual([]);
        expect(baselineViolations(spec)).toEqual(["container web adds capability NET_ADMIN"]);
        expect(() => buildPodSpec({ containers: [web], exceptions: [{ reason: " " }] })).toThrow(
            "a security exception needs a reason",
        );
    });

    it("scopes exceptions to the containers they name, root included, one per container", () => {
        const agent = { ...web, name: "agent" };
        const exceptions = [
            {
                reason: "the server sets up its interface",
                addCapabilities: ["NET_ADMIN", "MKNOD"],
                runAsRoot: true,
                containers: ["web"],
            },
            {
                reason: "the agent sets peers",
                addCapabilities: ["NET_ADMIN"],
                runAsRoot: true,
                containers: ["agent"],
            },
        ];
        const spec = buildPodSpec({ containers: [web, agent, { ...web, name: "proxy" }], exceptions });
        expect(spec.containers.map((c) => c.securityContext)).toEqual([
            {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: false,
                runAsUser: 0,
                capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "MKNOD"] },
                seccompProfile: { type: "RuntimeDefault" },
            },
            {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: false,
                runAsUser: 0,
                capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
                seccompProfile: { type: "RuntimeDefault" },
            },
            {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
            },
        ]);
        expect(podAnnotations({ containers: [web], exceptions })).toEqual({
            "cdm-platform.dev/security-exception": "the server sets up its interface; the agent sets peers",
        });
        expect(baselineViolations(spec, exceptions)).toEqual([]);
        // Swapped, each container exceeds what its exception allows.
        const swapped = exceptions.map((e, i) => ({ ...e, containers: [["agent", "web"][i]] }));
        expect(baselineViolations(spec, swapped)).toEqual(["container web adds capability MKNOD"]);
        expect(baselineViolations(spec, exceptions.slice(1))).toEqual([
            "container web may run as root (runAsNonRoot is not true)",
            "container web runs as uid 0",
            "container web adds capability NET_ADMIN",
            "container web adds capability MKNOD",
        ]);
        expect(() =>
            buildPodSpec({ containers: [web], exceptions: [{ reason: "x", containers: ["sidecar"] }] }),
        ).toThrow("the security exception names container sidecar, which the pod does not have");
        expect(() =>
            buildPodSpec({
                containers: [web],
                exceptions: [{ reason: "x" }, { reason: "y", containers: ["web"] }],
            }),
        ).toThrow("container web has more than one security exception");
    });

    it("requires probes on long-running containers but not on jobs", () => {
        const bare = { ...web, readiness: undefined, liveness: undefined };
        expect(() => buildPodSpec({ containers: [bare] })).toThrow(
            "container web needs readiness and liveness probes",
        );
        expect(buildPodSpec({ containers: [bare], restartPolicy: "OnFailure" }).restartPolicy).toBe(
            "OnFailure",
        );
    });

    it("takes credentials only from Secrets", () => {
        expect(
            buildEnv("web", { DB_PASSWORD: { secret: "db", key: "password" }, LOG_LEVEL: "info" }),
        ).toEqual([
            { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
            { name: "LOG_LEVEL", value: "info" },
        ]);
        for (const name of [
            "DB_PASSWORD",
            "API_TOKEN",
            "CLIENT_SECRET",
            "SIGNING_PRIVATE_KEY",
            "AWS_CREDENTIALS",
        ]) {
            expect(() => buildEnv("web", { [name]: "hunter2" })).toThrow(
                `env ${name} of container web holds a credential: pass it as a Secret reference`,
            );
        }
        expect(buildEnv("web", { TOKEN_TTL: "30s" })).toEqual([{ name: "TOKEN_TTL", value: "30s" }]);
    });

    it("needs exactly one probe handler", () => {
        expect(() => buildProbe({})).toThrow("a probe needs exactly one of http, tcp or exec");
        expect(() => buildProbe({ tcp: { port: 1 }, exec: ["true"] })).toThrow(
            "a probe needs exactly one of http, tcp or exec",
        );
        expect(buildProbe({ exec: ["pg_isready"], failureThreshold: 6 })).toMatchObject({
            exec: { command: ["pg_isready"] },
            failureThreshold: 6,
        });
    });

    it("allows a writable root filesystem only by exception", () => {
        expect(
            containerSecurityContext({ reason: "legacy", writableRootFilesystem: true })
                .readOnlyRootFilesystem,
        ).toBe(false);
        expect(buildContainer(web).securityContext.readOnlyRootFilesystem).toBe(true);
    });
});

describe("Pod Security levels", () => {
    it("computes the level an exception needs", () => {
        expect(requiredPodSecurity()).toBe("restricted");
        expect(
            requiredPodSecurity([{ reason: "binds port 443", addCapabilities: ["NET_BIND_SERVICE"] }]),
        ).toBe("restricted");
        expect(requiredPodSecurity([{ reason: "changes file owners", addCapabilities: ["CHOWN"] }])).toBe(
            "baseline",
        );
        expect(requiredPodSecurity([{ reason: "needs uid 0", runAsRoot: true }])).toBe("baseline");
        expect(
            requiredPodSecurity([
                { reason: "binds", addCapabilities: ["NET_BIND_SERVICE"], containers: ["a"] },
                { reason: "WireGuard", addCapabilities: ["NET_ADMIN"], containers: ["b"] },
            ]),
        ).toBe("privileged");
        expect(requiredPodSecurity([{ reason: "legacy image", writableRootFilesystem: true }])).toBe(
            "restricted",
        );
        expect(admits("privileged", "restricted")).toBe(true);
        expect(admits("restricted", "baseline")).toBe(false);
    });

    const ctx: StackContext = {
        namespace: "cdm-tenant-acme",
        podSecurity: "restricted",
        partOf: "cdm-tenant-acme",
        skipAwait: false,
        ingress: { className: "nginx", controllerNamespace: "ingress-nginx" },
    };
    const workload = (pod: WorkloadArgs["pod"], podSecurity = ctx.podSecurity): WorkloadArgs => ({
        context: { ...ctx, podSecurity },
        identity: { app: "wireguard", component: "vpn" },
        kind: "Deployment",
        pod,
        ingress: [],
        egress: [],
    });

    it("refuses a workload whose exception the namespace would not admit", () => {
        const pod = {
            containers: [web],
            exceptions: [{ reason: "WireGuard", addCapabilities: ["NET_ADMIN"] }],
        };
        expect(() => renderWorkload(workload(pod), "wireguard")).toThrow(
            'wireguard: its security exception needs Pod Security "privileged", but the namespace enforces "restricted"; run it in a namespace of its own',
        );
        expect(
            renderWorkload(workload(pod, "privileged"), "wireguard").spec.template.metadata.annotations,
        ).toEqual({
            "cdm-platform.dev/security-exception": "WireGuard",
        });
    });

    it("refuses a restart policy other than Always for long-running workloads", () => {
        expect(() =>
            renderWorkload(workload({ containers: [web], restartPolicy: "OnFailure" }), "web"),
        ).toThrow("wireguard: a Deployment restarts its pods always; restartPolicy is for Jobs");
    });
});

describe("baseline checker", () => {
    const good = () => structuredClone(buildPodSpec({ containers: [web] })) as Record<string, any>;

    it.each<[string, (pod: Record<string, any>) => void, string]>([
        ["host network", (p) => (p.hostNetwork = true), "pod sets hostNetwork"],
        [
            "service account token",
            (p) => delete p.automountServiceAccountToken,
            "pod mounts a service account token",
        ],
        [
            "no seccomp",
            (p) => delete p.securityContext.seccompProfile,
            "pod has no RuntimeDefault seccomp profile",
        ],
        [
            "hostPath volume",
            (p) => p.volumes.push({ name: "host", hostPath: { path: "/" } }),
            "volume host is of type hostPath",
        ],
        ["root", (p) => (p.containers[0].securityContext.runAsUser = 0), "container web runs as uid 0"],
        [
            "runAsNonRoot missing",
            (p) => {
                delete p.securityContext.runAsNonRoot;
                delete p.containers[0].securityContext.runAsNonRoot;
            },
            "container web may run as root (runAsNonRoot is not true)",
        ],
        [
            "privileged",
            (p) => (p.containers[0].securityContext.privileged = true),
            "container web is privileged",
        ],
        [
            "escalation",
            (p) => delete p.containers[0].securityContext.allowPrivilegeEscalation,
            "container web allows privilege escalation",
        ],
        [
            "capabilities kept",
            (p) => (p.containers[0].securityContext.capabilities.drop = []),
            "container web does not drop ALL capabilities",
        ],
        [
            "writable root",
            (p) => (p.containers[0].securityContext.readOnlyRootFilesystem = false),
            "container web has a writable root filesystem",
        ],
        ["host port", (p) => (p.containers[0].ports[0].hostPort = 80), "container web binds host port 80"],
        [
            "no requests",
            (p) => delete p.containers[0].resources.requests,
            "container web has no cpu and memory requests",
        ],
        [
            "no memory limit",
            (p) => delete p.containers[0].resources.limits.memory,
            "container web has no memory limit",
        ],
        [
            "no cpu limit",
            (p) => delete p.containers[0].resources.limits.cpu,
            "container web has no cpu limit",
        ],
        [
            "no readiness",
            (p) => delete p.containers[0].readinessProbe,
            "container web has no readiness probe",
        ],
        ["no liveness", (p) => delete p.containers[0].livenessProbe, "container web has no liveness probe"],
    ])("reports %s", (_, mutate, message) => {
        const pod = good();
        mutate(pod);
        expect(baselineViolations(pod)).toEqual([message]);
    });
});
