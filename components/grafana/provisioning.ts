/**
 * Grafana's settings as pure functions: the environment (server, Keycloak login, role mapping),
 * the datasource and dashboard-provider provisioning files. The Grafana component
 * (./grafana.ts) mounts them; the unit tests check them exactly.
 */
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { EnvValue, SecretKeyRef } from "../k8s/pod";
import { oidcEndpoints } from "../keycloak/model";

export const grafanaApp = "grafana";
export const grafanaPort = 3000;
/** uid and gid of the image's `grafana` user. */
export const grafanaUid = 472;
/** The InfluxDB datasource's uid, which every dashboard panel names. */
export const datasourceUid = "influxdb";
/** The variable the datasource file reads the InfluxDB token from (Grafana expands `${VAR}`). */
export const influxTokenEnv = "INFLUXDB_TOKEN";

export const grafanaPaths = {
    /** SQLite database, sessions, plugins: an emptyDir (see docs/telemetry.md). */
    data: "/var/lib/grafana",
    provisioning: "/etc/grafana/provisioning",
    dashboards: "/etc/grafana/dashboards",
} as const;

/** A Grafana organisation role. */
export type GrafanaRole = "Admin" | "Editor" | "Viewer";

/** Realm role → Grafana role, first match wins; users with none of them are refused. */
export type RoleMapping = readonly { readonly realmRole: string; readonly grafanaRole: GrafanaRole }[];

export const tenantRoleMapping: RoleMapping = [
    { realmRole: "tenant-admin", grafanaRole: "Admin" },
    { realmRole: "operator", grafanaRole: "Editor" },
    { realmRole: "viewer", grafanaRole: "Viewer" },
];

export const platformRoleMapping: RoleMapping = [
    { realmRole: "platform-admin", grafanaRole: "Admin" },
    { realmRole: "platform-operator", grafanaRole: "Admin" },
    { realmRole: "platform-viewer", grafanaRole: "Viewer" },
];

/** The JMESPath Grafana evaluates on the token's `roles` claim. */
export function roleAttributePath(mapping: RoleMapping): string {
    return mapping.map((m) => `contains(roles[*], '${m.realmRole}') && '${m.grafanaRole}'`).join(" || ");
}

/** What Grafana's environment is made of. */
export interface GrafanaEnvInputs {
    /** Grafana's public origin (`https://grafana.…`). */
    readonly rootUrl: string;
    /** The realm's public issuer (browsers are sent there to log in). */
    readonly issuer: string;
    /** The realm's token and userinfo endpoints on Keycloak's in-cluster URL (Grafana's own calls). */
    readonly internal: {
        readonly tokenUrl: pulumi.Input<string>;
        readonly userInfoUrl: pulumi.Input<string>;
    };
    readonly clientId: string;
    readonly clientSecret: SecretKeyRef;
    readonly adminPassword: SecretKeyRef;
    readonly influxToken: SecretKeyRef;
    readonly roles: RoleMapping;
}

/**
 * The container's environment: Keycloak generic OAuth as the only login (no form, no basic
 * auth, no anonymous access, no sign-up except through Keycloak), roles from the `roles` claim
 * on every login (strict: no role, no access), no outgoing calls (analytics, update checks).
 */
export function grafanaEnv(i: GrafanaEnvInputs): Record<string, EnvValue> {
    const publicOidc = oidcEndpoints(i.issuer);
    const logout =
        `${publicOidc.logoutUrl}?client_id=${encodeURIComponent(i.clientId)}` +
        `&post_logout_redirect_uri=${encodeURIComponent(`${i.rootUrl}/login`)}`;
    return {
        GF_SERVER_HTTP_PORT: String(grafanaPort),
        GF_SERVER_ROOT_URL: i.rootUrl,
        GF_PATHS_DATA: grafanaPaths.data,
        GF_PATHS_PROVISIONING: grafanaPaths.provisioning,
        GF_LOG_MODE: "console",
        GF_SECURITY_ADMIN_USER: "admin",
        GF_SECURITY_ADMIN_PASSWORD: i.adminPassword,
        GF_SECURITY_COOKIE_SECURE: "true",
        GF_SECURITY_DISABLE_GRAVATAR: "true",
        GF_USERS_ALLOW_SIGN_UP: "false",
        GF_AUTH_DISABLE_LOGIN_FORM: "true",
        GF_AUTH_BASIC_ENABLED: "false",
        GF_AUTH_ANONYMOUS_ENABLED: "false",
        GF_AUTH_OAUTH_AUTO_LOGIN: "true",
        GF_AUTH_SIGNOUT_REDIRECT_URL: logout,
        GF_AUTH_GENERIC_OAUTH_ENABLED: "true",
        GF_AUTH_GENERIC_OAUTH_NAME: "Keycloak",
        GF_AUTH_GENERIC_OAUTH_ALLOW_SIGN_UP: "true",
        GF_AUTH_GENERIC_OAUTH_CLIENT_ID: i.clientId,
        GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET: i.clientSecret,
        GF_AUTH_GENERIC_OAUTH_SCOPES: "openid email profile",
        GF_AUTH_GENERIC_OAUTH_USE_PKCE: "true",
        GF_AUTH_GENERIC_OAUTH_AUTH_URL: publicOidc.authorizationUrl,
        GF_AUTH_GENERIC_OAUTH_TOKEN_URL: i.internal.tokenUrl,
        GF_AUTH_GENERIC_OAUTH_API_URL: i.internal.userInfoUrl,
        GF_AUTH_GENERIC_OAUTH_LOGIN_ATTRIBUTE_PATH: "preferred_username",
        GF_AUTH_GENERIC_OAUTH_EMAIL_ATTRIBUTE_PATH: "email",
        GF_AUTH_GENERIC_OAUTH_NAME_ATTRIBUTE_PATH: "name",
        GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH: roleAttributePath(i.roles),
        GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: "true",
        GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN: "false",
        GF_ANALYTICS_REPORTING_ENABLED: "false",
        GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
        GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: "false",
        GF_NEWS_NEWS_FEED_ENABLED: "false",
        [influxTokenEnv]: i.influxToken,
    };
}

/** The InfluxDB a Grafana reads. */
export interface InfluxSource {
    readonly url: string;
    readonly org: string;
    readonly bucket: string;
}

/**
 * The datasource file: InfluxDB over Flux, read-only in the UI. The token is `${INFLUXDB_TOKEN}`,
 * which Grafana expands from its environment (a Secret reference): the file holds no credential.
 */
export function datasourceYaml(source: InfluxSource): string {
    return stringify({
        apiVersion: 1,
        datasources: [
            {
                name: "InfluxDB",
                uid: datasourceUid,
                type: "influxdb",
                access: "proxy",
                url: source.url,
                isDefault: true,
                editable: false,
                jsonData: { version: "Flux", organization: source.org, defaultBucket: source.bucket },
                secureJsonData: { token: `\${${influxTokenEnv}}` },
            },
        ],
    });
}

/** The dashboard provider: the mounted JSON files, in one folder, not editable in the UI. */
export function dashboardProviderYaml(folder: string): string {
    return stringify({
        apiVersion: 1,
        providers: [
            {
                name: "cdm",
                orgId: 1,
                folder,
                type: "file",
                disableDeletion: true,
                allowUiUpdates: false,
                updateIntervalSeconds: 60,
                options: { path: grafanaPaths.dashboards, foldersFromFilesStructure: false },
            },
        ],
    });
}
