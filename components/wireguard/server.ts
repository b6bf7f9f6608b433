import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { Ipv4Cidr, vpnServerAddress } from "../../runtime/shared/ipv4";
import { bridgeApp, bridgePort, bridgeUid } from "../bridge/env";
import { keycloakApp, keycloakHttpPort } from "../keycloak/keycloak";
import { AppIdentity, labelPrefix, objectMeta, selectorLabels, StackContext } from "../k8s/context";
import { Allow } from "../k8s/network-policy";
import { ContainerSpec } from "../k8s/pod";
import { createConfigMap, createCredentialSecret } from "../k8s/secret";
import { SecurityException } from "../k8s/security";
import { createIngress, serviceSpec } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { wireguardFirewall } from "./firewall";
import {
    terminalIngressAnnotations,
    terminalProxyApp,
    terminalProxyContainer,
    terminalProxyPort,
    terminalProxyRoutes,
    TerminalProxySettings,
} from "./terminal-proxy";

export interface WireguardServerArgs {
    /** The tenant's VPN namespace (privileged: the server needs NET_ADMIN). */
    readonly context: StackContext;
    /** The VPN image (the Dockerfile's `vpn` target). */
    readonly image: pulumi.Input<string>;
    /** The VPN's address space; the server takes its first host address. */
    readonly cidr: Ipv4Cidr;
    /** UDP port devices dial. */
    readonly port: number;
    /** The Secret, in the VPN namespace, with the server's `private-key`. */
    readonly keySecret: pulumi.Input<string>;
    /** The terminal proxy beside the server. */
    readonly terminal: TerminalProxySettings & {
        /** Its service token at the bridge (a Pulumi secret). */
        readonly bridgeToken: pulumi.Input<string>;
    };
    /** The tenant bridge, whose peer list the peer-sync agent follows. */
    readonly bridge: {
        /** Its in-cluster URL (`https://bridge.<tenant ns>.svc.cluster.local:8443`). */
        readonly url: pulumi.Input<string>;
        /** The public host its certificate names, checked as the TLS server name. */
        readonly serverName: string;
        /** The tenant namespace it runs in (with Keycloak, whose keys the terminal proxy fetches). */
        readonly namespace: string;
        /** The peer agent's service token at the bridge (a Pulumi secret). */
        readonly peerAgentToken: pulumi.Input<string>;
    };
}

export const wireguardApp = "wireguard";
/** The server's interface inside the pod. */
export const wireguardInterface = "wg0";
/** ttyd's port on devices: the only port the pod may open towards them. */
export const deviceTerminalPort = 7681;
/** How long the terminal proxy lets live sessions go on after SIGTERM (its default). */
export const terminalDrainSeconds = 30;
/** The peer agent's `/healthz`. */
export const peerAgentHealthPort = 9465;

const identity: AppIdentity = { app: wireguardApp, component: "vpn" };
const paths = {
    key: "/etc/wireguard/key",
    firewall: "/etc/wireguard/firewall",
    // wireguard-go's control sockets, which `wg` in the agent's container must reach.
    sockets: "/run/wireguard",
} as const;

/**
 * What the VPN pod's containers may do beyond the baseline. Kubernetes gives added capabilities
 * to root only (it has no ambient capabilities), so both run as uid 0 with every capability
 * dropped but these. Measured: the server script needs exactly NET_ADMIN (interface, address,
 * packet filter) and MKNOD (/dev/net/tun for wireguard-go, which no pod is given); the agent
 * needs NET_ADMIN for kernel WireGuard's netlink and root for wireguard-go's root-only socket.
 * The terminal proxy beside them needs none of this.
 */
export const wireguardExceptions: readonly SecurityException[] = [
    {
        reason: "the WireGuard server creates its interface and packet filter (NET_ADMIN; MKNOD for wireguard-go's /dev/net/tun) as root",
        addCapabilities: ["NET_ADMIN", "MKNOD"],
        runAsRoot: true,
        containers: ["wireguard"],
    },
    {
        reason: "the peer-sync agent sets the interface's peers (NET_ADMIN) as root",
        addCapabilities: ["NET_ADMIN"],
        runAsRoot: true,
        containers: ["peer-agent"],
    },
];

/** The containers of the VPN pod, as pure data: the server and the peer-sync agent. */
export function wireguardContainers(
    args: Pick<WireguardServerArgs, "image" | "cidr" | "port"> & {
        bridgeUrl: pulumi.Input<string>;
        bridgeServerName: string;
        tokenSecret: pulumi.Input<string>;
    },
): ContainerSpec[] {
    const sockets = { volume: "sockets", path: paths.sockets };
    const wg = ["wg", "show", wireguardInterface, "listen-port"];
    return [
        {
            name: "wireguard",
            image: args.image,
            env: {
                WG_INTERFACE: wireguardInterface,
                WG_ADDRESS: `${vpnServerAddress(args.cidr)}/${args.cidr.prefixLength}`,
                WG_LISTEN_PORT: String(args.port),
                // The tunnel stays up while the terminal proxy drains its sessions.
                WG_STOP_DELAY_SECONDS: String(terminalDrainSeconds + 3),
                WG_PRIVATE_KEY_FILE: `${paths.key}/private-key`,
                WG_FIREWALL_FILE: `${paths.firewall}/rules`,
            },
            ports: [{ name: "wireguard", port: args.port, protocol: "UDP" }],
            resources: { cpu: "100m", memory: "64Mi", cpuLimit: "2", memoryLimit: "256Mi" },
            readiness: { exec: wg },
            liveness: { exec: wg, failureThreshold: 6 },
            mounts: [
                { volume: "key", path: paths.key, readOnly: true },
                { volume: "firewall", path: paths.firewall, readOnly: true },
                sockets,
            ],
        },
        {
            name: "peer-agent",
            image: args.image,
            command: ["node", "dist/runtime/peer-agent/main.js"],
            env: {
                BRIDGE_URL: args.bridgeUrl,
                BRIDGE_TLS_SERVER_NAME: args.bridgeServerName,
                PEER_AGENT_TOKEN: { secret: args.tokenSecret, key: "peer-agent-token" },
                WG_INTERFACE: wireguardInterface,
                PEER_AGENT_HEALTH_PORT: String(peerAgentHealthPort),
            },
            ports: [{ name: "health", port: peerAgentHealthPort }],
            resources: { cpu: "50m", memory: "96Mi", cpuLimit: "1", memoryLimit: "256Mi" },
            // The pod takes devices' traffic only once the peers are loaded; after that, a bridge
            // outage must not take the VPN down with it, so later checks ask only that it runs.
            startup: {
                http: { path: "/healthz", port: peerAgentHealthPort },
                periodSeconds: 2,
                failureThreshold: 90,
            },
            readiness: { tcp: { port: peerAgentHealthPort } },
            liveness: { tcp: { port: peerAgentHealthPort } },
            mounts: [sockets],
        },
    ];
}

/**
 * Who reaches the pod (devices, anywhere, on the UDP port; the ingress controller, on the
 * terminal proxy's port) and whom it reaches (the tenant's bridge and Keycloak).
 */
export function wireguardNetwork(
    port: number,
    tenantNamespace: string,
    ingressNamespace: string,
): { ingress: Allow[]; egress: Allow[] } {
    const inTenant = (app: string) => ({
        namespace: tenantNamespace,
        podLabels: { "app.kubernetes.io/name": app },
    });
    return {
        ingress: [
            { peers: [{ cidr: "0.0.0.0/0" }], ports: [{ port, protocol: "UDP" }] },
            { peers: [{ namespace: ingressNamespace }], ports: [{ port: terminalProxyPort }] },
        ],
        egress: [
            { peers: [inTenant(bridgeApp)], ports: [{ port: bridgePort }] },
            { peers: [inTenant(keycloakApp)], ports: [{ port: keycloakHttpPort }] },
        ],
    };
}

/**
 * The tenant's WireGuard server: one replica (a device's session lives in one process, so a
 * second replica would split the fleet), replaced by Recreate, behind a UDP LoadBalancer that
 * keeps client addresses; its packet filter from components/wireguard/firewall.ts; the
 * peer-sync agent beside it, applying the bridge's peer list live, and the terminal proxy,
 * behind the ingress at the tenant's terminal host.
 */
export class WireguardServer extends pulumi.ComponentResource {
    /** The LoadBalancer Service devices dial. */
    public readonly serviceName: pulumi.Output<string>;

    constructor(name: string, args: WireguardServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:wireguard:Server", name, {}, opts);
        const { context: ctx } = args;
        const child = { parent: this };
        const rules = wireguardFirewall(wireguardInterface, deviceTerminalPort, bridgeUid);
        const firewall = createConfigMap(
            `${name}-firewall`,
            objectMeta(ctx, identity, "wireguard-firewall"),
            { rules },
            child,
        );
        const token = createCredentialSecret(
            `${name}-bridge-token`,
            objectMeta(ctx, identity, "wireguard-bridge-token"),
            {
                "peer-agent-token": args.bridge.peerAgentToken,
                "terminal-proxy-token": args.terminal.bridgeToken,
            },
            child,
        );
        const network = wireguardNetwork(args.port, args.bridge.namespace, ctx.ingress.controllerNamespace);
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                updateStrategy: "Recreate",
                // The filter is applied at start only: a changed one restarts the pod.
                podAnnotations: {
                    [`${labelPrefix}/firewall-sha256`]: createHash("sha256").update(rules).digest("hex"),
                },
                pod: {
                    // The runtime image's user, for the terminal proxy (the packet filter lets only
                    // this uid reach devices' ttyd); the others run as root.
                    runAsUser: bridgeUid,
                    exceptions: wireguardExceptions,
                    containers: [
                        ...wireguardContainers({
                            image: args.image,
                            cidr: args.cidr,
                            port: args.port,
                            bridgeUrl: args.bridge.url,
                            bridgeServerName: args.bridge.serverName,
                            tokenSecret: token.secret.metadata.name,
                        }),
                        terminalProxyContainer(
                            args.terminal,
                            args.image,
                            { url: args.bridge.url, serverName: args.bridge.serverName },
                            token.secret.metadata.name,
                        ),
                    ],
                    volumes: [
                        { name: "key", secret: args.keySecret, mode: 0o400 },
                        { name: "firewall", configMap: firewall.metadata.name },
                        { name: "sockets", shared: { sizeLimit: "1Mi", memory: true } },
                    ],
                    // The proxy's drain, its last sessions' close, then the interface.
                    terminationGracePeriodSeconds: terminalDrainSeconds + 15,
                },
                servicePorts: [{ name: "wireguard", port: args.port, protocol: "UDP" }],
                serviceType: "LoadBalancer",
                ingress: network.ingress,
                egress: network.egress,
            },
            child,
        );
        this.serviceName = workload.serviceName!;
        // The terminal proxy's own Service (the workload's is the UDP LoadBalancer) and Ingress.
        const terminalIdentity = { ...identity, component: "terminal" };
        new k8s.core.v1.Service(
            `${name}-terminal-service`,
            {
                metadata: objectMeta(ctx, terminalIdentity, terminalProxyApp),
                spec: serviceSpec(selectorLabels(ctx, identity), [
                    { name: "terminal", port: terminalProxyPort },
                ]),
            },
            child,
        );
        createIngress(
            `${name}-terminal-ingress`,
            ctx,
            objectMeta(ctx, terminalIdentity, terminalProxyApp, terminalIngressAnnotations),
            terminalProxyRoutes(args.terminal.host),
            { ...child, dependsOn: [workload] },
        );
        this.registerOutputs({ serviceName: this.serviceName });
    }
}
