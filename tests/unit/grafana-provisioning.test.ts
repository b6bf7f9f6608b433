/** Grafana's environment, role mapping and provisioning files, exactly. */
import { describe, expect, it } from "vitest";
import {
    dashboardProviderYaml,
    datasourceYaml,
    grafanaEnv,
    platformRoleMapping,
    roleAttributePath,
    tenantRoleMapping,
} from "../../components/grafana/provisioning";

const ref = (secret: string, key: string) => ({ secret, key });

describe("Grafana role mapping", () => {
    it("maps tenant-admin to Admin, operator to Editor, viewer to Viewer, first match first", () => {
        expect(roleAttributePath(tenantRoleMapping)).toBe(
            "contains(roles[*], 'tenant-admin') && 'Admin' || contains(roles[*], 'operator') && 'Editor' || " +
                "contains(roles[*], 'viewer') && 'Viewer'",
        );
    });

    it("maps the platform's admins and operators to Admin and its viewers to Viewer", () => {
        expect(roleAttributePath(platformRoleMapping)).toBe(
            "contains(roles[*], 'platform-admin') && 'Admin' || contains(roles[*], 'platform-operator') && 'Admin' || " +
                "contains(roles[*], 'platform-viewer') && 'Viewer'",
        );
    });
});

describe("Grafana environment", () => {
    it("logs in through the realm only, with roles from the token and secrets from Secrets", () => {
        const issuer = "https://auth.acme.cdm.example.com/auth/realms/acme";
        const internal = "http://keycloak.cdm-tenant-acme.svc.cluster.local:8080/auth/realms/acme";
        expect(
            grafanaEnv({
                rootUrl: "https://grafana.acme.cdm.example.com",
                issuer,
                internal: {
                    tokenUrl: `${internal}/protocol/openid-connect/token`,
                    userInfoUrl: `${internal}/protocol/openid-connect/userinfo`,
                },
                clientId: "grafana",
                clientSecret: ref("grafana-oauth", "client-secret"),
                adminPassword: ref("grafana-admin", "password"),
                influxToken: ref("influxdb-grafana-token", "token"),
                roles: tenantRoleMapping,
            }),
        ).toEqual({
            GF_SERVER_HTTP_PORT: "3000",
            GF_SERVER_ROOT_URL: "https://grafana.acme.cdm.example.com",
            GF_PATHS_DATA: "/var/lib/grafana",
            GF_PATHS_PROVISIONING: "/etc/grafana/provisioning",
            GF_LOG_MODE: "console",
            GF_SECURITY_ADMIN_USER: "admin",
            GF_SECURITY_ADMIN_PASSWORD: ref("grafana-admin", "password"),
            GF_SECURITY_COOKIE_SECURE: "true",
            GF_SECURITY_DISABLE_GRAVATAR: "true",
            GF_USERS_ALLOW_SIGN_UP: "false",
            GF_AUTH_DISABLE_LOGIN_FORM: "true",
            GF_AUTH_BASIC_ENABLED: "false",
            GF_AUTH_ANONYMOUS_ENABLED: "false",
            GF_AUTH_OAUTH_AUTO_LOGIN: "true",
            GF_AUTH_SIGNOUT_REDIRECT_URL:
                `${issuer}/protocol/openid-connect/logout?client_id=grafana` +
                "&post_logout_redirect_uri=https%3A%2F%2Fgrafana.acme.cdm.example.com%2Flogin",
            GF_AUTH_GENERIC_OAUTH_ENABLED: "true",
            GF_AUTH_GENERIC_OAUTH_NAME: "Keycloak",
            GF_AUTH_GENERIC_OAUTH_ALLOW_SIGN_UP: "true",
            GF_AUTH_GENERIC_OAUTH_CLIENT_ID: "grafana",
            GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET: ref("grafana-oauth", "client-secret"),
            GF_AUTH_GENERIC_OAUTH_SCOPES: "openid email profile",
            GF_AUTH_GENERIC_OAUTH_USE_PKCE: "true",
            GF_AUTH_GENERIC_OAUTH_AUTH_URL: `${issuer}/protocol/openid-connect/auth`,
            GF_AUTH_GENERIC_OAUTH_TOKEN_URL: `${internal}/protocol/openid-connect/token`,
            GF_AUTH_GENERIC_OAUTH_API_URL: `${internal}/protocol/openid-connect/userinfo`,
            GF_AUTH_GENERIC_OAUTH_LOGIN_ATTRIBUTE_PATH: "preferred_username",
            GF_AUTH_GENERIC_OAUTH_EMAIL_ATTRIBUTE_PATH: "email",
            GF_AUTH_GENERIC_OAUTH_NAME_ATTRIBUTE_PATH: "name",
            GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH: roleAttributePath(tenantRoleMapping),
            GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_STRICT: "true",
            GF_AUTH_GENERIC_OAUTH_ALLOW_ASSIGN_GRAFANA_ADMIN: "false",
            GF_ANALYTICS_REPORTING_ENABLED: "false",
            GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
            GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: "false",
            GF_NEWS_NEWS_FEED_ENABLED: "false",
            INFLUXDB_TOKEN: ref("influxdb-grafana-token", "token"),
        });
    });
});

describe("Grafana provisioning files", () => {
    it("provisions InfluxDB over Flux with the token taken from the environment", () => {
        expect(
            datasourceYaml({
                url: "http://influxdb.cdm-provider.svc.cluster.local:8086",
                org: "cdm",
                bucket: "telemetry",
            }),
        ).toBe(
            [
                "apiVersion: 1",
                "datasources:",
                "  - name: InfluxDB",
                "    uid: influxdb",
                "    type: influxdb",
                "    access: proxy",
                "    url: http://influxdb.cdm-provider.svc.cluster.local:8086",
                "    isDefault: true",
                "    editable: false",
                "    jsonData:",
                "      version: Flux",
                "      organization: cdm",
                "      defaultBucket: telemetry",
                "    secureJsonData:",
                "      token: ${INFLUXDB_TOKEN}",
                "",
            ].join("\n"),
        );
    });

    it("loads the mounted dashboards into one folder, read-only", () => {
        expect(dashboardProviderYaml("Devices")).toBe(
            [
                "apiVersion: 1",
                "providers:",
                "  - name: cdm",
                "    orgId: 1",
                "    folder: Devices",
                "    type: file",
                "    disableDeletion: true",
                "    allowUiUpdates: false",
                "    updateIntervalSeconds: 60",
                "    options:",
                "      path: /etc/grafana/dashboards",
                "      foldersFromFilesStructure: false",
                "",
            ].join("\n"),
        );
    });
});
