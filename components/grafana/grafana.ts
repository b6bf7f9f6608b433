import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { imageRef, images } from "../images";
import { influxdbApp, influxdbPort, tokenKey } from "../influxdb/settings";
import { keycloakApp, keycloakHttpPort } from "../keycloak/keycloak";
import { oidcEndpoints } from "../keycloak/model";
import { AppIdentity, labelPrefix, objectMeta, StackContext } from "../k8s/context";
import { createConfigMap, createCredentialSecret, generatedPassword } from "../k8s/secret";
import { createIngress } from "../k8s/service";
import { Workload } from "../k8s/workload";
import { Dashboard, dashboardJson } from "./dashboards";
import {
    dashboardProviderYaml,
    datasourceYaml,
    grafanaApp,
    grafanaEnv,
    grafanaPaths,
    grafanaPort,
    grafanaUid,
    RoleMapping,
} from "./provisioning";

export interface GrafanaArgs {
    /** The stack Grafana runs in. */
    readonly context: StackContext;
    /** Grafana's public origin (`https://grafana.…`); the Ingress is bound to its host. */
    readonly publicOrigin: string;
    /** The stack realm's public OIDC issuer (tenant realm = tenant id; provider realm `platform`). */
    readonly issuer: string;
    /** Keycloak's in-cluster base URL (`http://keycloak.<ns>…:8080/auth`), for token and userinfo calls. */
    readonly keycloakInternalUrl: pulumi.Input<string>;
    /** The realm's name. */
    readonly realm: string;
    /**
     * Secret of the realm's `grafana` client; a generated one when the stack does not manage
     * realms (then set it on the client in Keycloak from the `grafana-oauth` Secret).
     */
    readonly clientSecret?: pulumi.Input<string>;
    /** Realm role → Grafana role. */
    readonly roles: RoleMapping;
    /** The stack's InfluxDB: in-cluster URL, organisation, bucket, and Grafana's read token Secret. */
    readonly influx: {
        readonly url: pulumi.Input<string>;
        readonly org: string;
        readonly bucket: string;
        readonly tokenSecret: pulumi.Input<string>;
    };
    /** The dashboards to provision, in folder `folder`. */
    readonly dashboards: readonly Dashboard[];
    readonly folder: string;
    /** What must exist first (the token Job, so Grafana starts with its token). */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

const identity: AppIdentity = { app: grafanaApp, component: "dashboards", version: images.grafana.tag };

/**
 * Grafana 13 as a one-replica Deployment: Keycloak login only, datasource and dashboards
 * provisioned from ConfigMaps (the InfluxDB token from a Secret through the environment), its
 * SQLite database on an emptyDir (everything that matters is provisioned or comes from
 * Keycloak at each login), a read-only root filesystem.
 */
export class Grafana extends pulumi.ComponentResource {
    /** The Grafana URL users open. */
    public readonly url: string;

    constructor(name: string, args: GrafanaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cdm:grafana:Grafana", name, {}, opts);
        const { context: ctx } = args;
        const child = { parent: this };
        const admin = createCredentialSecret(
            `${name}-admin`,
            objectMeta(ctx, identity, "grafana-admin"),
            { password: generatedPassword(`${name}-admin-password`, child) },
            child,
        );
        const oauth = createCredentialSecret(
            `${name}-oauth`,
            objectMeta(ctx, identity, "grafana-oauth"),
            { "client-secret": args.clientSecret ?? generatedPassword(`${name}-client-secret`, child) },
            child,
        );
        const datasources = pulumi
            .output(args.influx.url)
            .apply((url) => datasourceYaml({ url, org: args.influx.org, bucket: args.influx.bucket }));
        const datasourceMap = createConfigMap(
            `${name}-datasources`,
            objectMeta(ctx, identity, "grafana-datasources"),
            { "influxdb.yaml": datasources },
            child,
        );
        const providerText = dashboardProviderYaml(args.folder);
        const providerMap = createConfigMap(
            `${name}-dashboard-provider`,
            objectMeta(ctx, identity, "grafana-dashboard-provider"),
            { "cdm.yaml": providerText },
            child,
        );
        const dashboards = Object.fromEntries(
            args.dashboards.map((d) => [`${d.uid}.json`, dashboardJson(d)]),
        );
        const dashboardMap = createConfigMap(
            `${name}-dashboards`,
            objectMeta(ctx, identity, "grafana-dashboards"),
            dashboards,
            child,
        );
        // Grafana reads provisioning at start: a changed file restarts it.
        const checksum = datasources.apply((ds) =>
            sha256([ds, providerText, ...Object.values(dashboards)].join("\n")),
        );
        const internal = pulumi
            .output(args.keycloakInternalUrl)
            .apply((base) => oidcEndpoints(`${base}/realms/${args.realm}`));
        const env = grafanaEnv({
            rootUrl: args.publicOrigin,
            issuer: args.issuer,
            internal: { tokenUrl: internal.tokenUrl, userInfoUrl: internal.userInfoUrl },
            clientId: "grafana",
            clientSecret: oauth.ref("client-secret"),
            adminPassword: admin.ref("password"),
            influxToken: { secret: args.influx.tokenSecret, key: tokenKey },
            roles: args.roles,
        });
        const health = { http: { path: "/api/health", port: grafanaPort } };
        new Workload(
            `${name}-server`,
            {
                context: ctx,
                identity,
                kind: "Deployment",
                podAnnotations: { [`${labelPrefix}/config-sha256`]: checksum },
                pod: {
                    runAsUser: grafanaUid,
                    volumes: [
                        { name: "datasources", configMap: datasourceMap.metadata.name },
                        { name: "dashboard-provider", configMap: providerMap.metadata.name },
                        { name: "dashboards", configMap: dashboardMap.metadata.name },
                        { name: "data", shared: { sizeLimit: "1Gi" } },
                    ],
                    containers: [
                        {
                            name: "grafana",
                            image: imageRef(images.grafana, ctx.imageRegistryMirror),
                            env,
                            ports: [{ name: "http", port: grafanaPort }],
                            resources: { cpu: "100m", memory: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" },
                            // The first start migrates the SQLite database.
                            startup: { ...health, periodSeconds: 5, failureThreshold: 60 },
                            readiness: health,
                            liveness: {
                                ...health,
                                periodSeconds: 20,
                                timeoutSeconds: 10,
                                failureThreshold: 6,
                            },
                            mounts: [
                                { volume: "data", path: grafanaPaths.data },
                                {
                                    volume: "datasources",
                                    path: `${grafanaPaths.provisioning}/datasources`,
                                    readOnly: true,
                                },
                                {
                                    volume: "dashboard-provider",
                                    path: `${grafanaPaths.provisioning}/dashboards`,
                                    readOnly: true,
                                },
                                { volume: "dashboards", path: grafanaPaths.dashboards, readOnly: true },
                            ],
                            // Logs go to the console; the image still creates its log directory.
                            scratch: ["/tmp", "/var/log/grafana"],
                        },
                    ],
                },
                servicePorts: [{ name: "http", port: grafanaPort }],
                ingress: [
                    {
                        peers: [{ namespace: ctx.ingress.controllerNamespace }],
                        ports: [{ port: grafanaPort }],
                    },
                ],
                egress: [
                    { peers: [{ app: influxdbApp }], ports: [{ port: influxdbPort }] },
                    { peers: [{ app: keycloakApp }], ports: [{ port: keycloakHttpPort }] },
                ],
            },
            { ...child, dependsOn: args.dependsOn },
        );
        const host = new URL(args.publicOrigin).host;
        createIngress(
            `${name}-ingress`,
            ctx,
            objectMeta(ctx, identity, grafanaApp),
            [{ host, path: "/", service: grafanaApp, port: grafanaPort }],
            child,
        );
        this.url = args.publicOrigin;
        this.registerOutputs({ url: this.url });
    }
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}
