import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import { imageRef, images } from "../images";
import { AppIdentity, objectMeta, StackContext } from "../k8s/context";
import { Allow, Peer } from "../k8s/network-policy";
import { createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { PostgresConnection } from "../postgres/postgres";
import { keycloakBasePath } from "./model";

export interface KeycloakArgs {
    /** The stack Keycloak runs in. */
    readonly context: StackContext;
    /** Public origin (`https://auth.<domain>`); Keycloak serves under `/auth` there. */
    readonly publicOrigin: string;
    /** Its PostgreSQL database. */
    readonly database: PostgresConnection;
    /** In-cluster apps that call Keycloak directly (token validation, service accounts). */
    readonly clients: readonly string[];
    /** Callers in other namespaces (the terminal proxy in the VPN namespace fetches the realm's keys). */
    readonly remoteClients?: readonly Peer[];
    /** Extra egress, for example to the platform realm a tenant realm federates with. */
    readonly egress?: readonly Allow[];
    /**
     * URL at which Pulumi reaches the admin API of the `master` realm, which the ingress never
     * publishes (a port-forward, for example); the in-cluster Service when undefined.
     */
    readonly adminUrl?: string;
    /** The realms the ingress publishes (login, tokens, their own admin console and API). */
    readonly publicRealms: readonly string[];
}

/**
 * The paths the ingress publishes: each public realm's endpoints, its own admin console and
 * admin API (tenant admins manage their users there), and static resources; never the master
 * realm, whose administrators reach Keycloak inside the cluster only.
 */
export function publicKeycloakPaths(realms: readonly string[]): string[] {
    return [
        ...realms.flatMap((realm) => [
            `${keycloakBasePath}/realms/${realm}`,
            `${keycloakBasePath}/admin/${realm}/console`,
            `${keycloakBasePath}/admin/realms/${realm}`,
        ]),
        `${keycloakBasePath}/resources`,
    ];
}

export const keycloakApp = "keycloak";
/** Keycloak's HTTP port, behind the ingress and for in-cluster clients. */
export const keycloakHttpPort = 8080;
const managementPort = 9000;
/** uid of the `keycloak` user in the image. */
const keycloakUid = 1000;
const identity: AppIdentity = { app: keycloakApp, component: "identity", version: images.keycloak.tag };
const health = (path: string) => ({
    http: { path: `${keycloakBasePath}/health/${path}`, port: managementPort },
});

/**
 * Keycloak 26 in production mode (`start`) behind the ingress: PostgreSQL from the stack, the
 * hostname and proxy headers of the public URL, health on the management port, events on, a
 * bootstrap admin *client* from a Secret, which the Pulumi Keycloak provider (`this.provider`)
 * uses to manage the realms.
 */
export class Keycloak extends pulumi.ComponentResource {
    /** The Keycloak provider, authenticated with the bootstrap admin client. */
    public readonly provider: keycloak.Provider;
    /** In-cluster base URL (`http://keycloak.<ns>.svc.cluster.local:8080/auth`). */
    public readonly internalUrl: pulumi.Output<string>;

    constructor(name: string, args: KeycloakArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:keycloak:Keycloak", name, {}, opts);
        const { context: ctx, database: db } = args;
        const child = { parent: this };
        const adminSecret = generatedPassword(`${name}-admin-secret`, child);
        const admin = createCredentialSecret(
            `${name}-admin`,
            objectMeta(ctx, identity, "keycloak-admin"),
            { "client-id": "cdm-bootstrap-admin", "client-secret": adminSecret },
            child,
        );
        const workload = new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                // One Keycloak with its local caches: two at once during a rollout would serve
                // stale sessions and realm data from each other's database writes.
                updateStrategy: "Recreate",
                pod: {
                    runAsUser: keycloakUid,
                    // `start` re-augments the server for the build options below at first start,
                    // writing under /opt/keycloak/lib; an image built with `kc.sh build` removes this.
                    exceptions: [
                        {
                            reason: "Keycloak's start re-augments the server into /opt/keycloak/lib",
                            writableRootFilesystem: true,
                        },
                    ],
                    containers: [
                        {
                            name: "keycloak",
                            image: imageRef(images.keycloak, ctx.imageRegistryMirror),
                            command: ["/opt/keycloak/bin/kc.sh"],
                            args: ["start"],
                            env: {
                                KC_DB: "postgres",
                                KC_DB_URL: db.ref("jdbc-url"),
                                KC_DB_USERNAME: db.ref("username"),
                                KC_DB_PASSWORD: db.ref("password"),
                                KC_HOSTNAME: `${args.publicOrigin}${keycloakBasePath}`,
                                KC_HOSTNAME_BACKCHANNEL_DYNAMIC: "true",
                                KC_HTTP_ENABLED: "true",
                                KC_HTTP_PORT: String(keycloakHttpPort),
                                KC_HTTP_RELATIVE_PATH: keycloakBasePath,
                                KC_HTTP_MANAGEMENT_PORT: String(managementPort),
                                KC_PROXY_HEADERS: "xforwarded",
                                KC_HEALTH_ENABLED: "true",
                                KC_METRICS_ENABLED: "true",
                                KC_CACHE: "local",
                                KC_LOG_CONSOLE_OUTPUT: "json",
                                KC_BOOTSTRAP_ADMIN_CLIENT_ID: admin.ref("client-id"),
                                KC_BOOTSTRAP_ADMIN_CLIENT_SECRET: admin.ref("client-secret"),
                            },
                            ports: [
                                { name: "http", port: keycloakHttpPort },
                                { name: "management", port: managementPort },
                            ],
                            resources: { cpu: "500m", memory: "2Gi", cpuLimit: "2", memoryLimit: "2Gi" },
                            startup: { ...health("started"), periodSeconds: 5, failureThreshold: 60 },
                            readiness: health("ready"),
                            liveness: { ...health("live"), failureThreshold: 6 },
                            scratch: ["/tmp"],
                        },
                    ],
                },
                servicePorts: [{ name: "http", port: keycloakHttpPort }],
                ingress: [
                    {
                        peers: [
                            { namespace: ctx.ingress.controllerNamespace },
                            ...args.clients.map((app) => ({ app })),
                            ...(args.remoteClients ?? []),
                        ],
                        ports: [{ port: keycloakHttpPort }],
                    },
                ],
                egress: [db.egress, ...(args.egress ?? [])],
            },
            child,
        );
        createIngress(
            `${name}-ingress`,
            ctx,
            // Keycloak's login responses carry large cookie headers; nginx's default 4k buffer
            // answers them with 502.
            objectMeta(ctx, identity, keycloakApp, {
                "nginx.ingress.kubernetes.io/proxy-buffer-size": "128k",
            }),
            publicKeycloakPaths(args.publicRealms).map((path) => ({
                host: new URL(args.publicOrigin).host,
                path,
                service: keycloakApp,
                port: keycloakHttpPort,
            })),
            child,
        );
        this.internalUrl = pulumi.interpolate`http://${workload.host!}:${keycloakHttpPort}${keycloakBasePath}`;
        this.provider = new keycloak.Provider(
            `${name}-provider`,
            {
                url: args.adminUrl ?? pulumi.interpolate`http://${workload.host!}:${keycloakHttpPort}`,
                basePath: keycloakBasePath,
                realm: "master",
                clientId: "cdm-bootstrap-admin",
                clientSecret: adminSecret,
                initialLogin: false,
            },
            { ...child, dependsOn: [workload] },
        );
        this.registerOutputs({ internalUrl: this.internalUrl });
    }
}
