/**
 * The terminal proxy's container in the VPN pod (it reaches devices' ttyd over the pod's
 * WireGuard interface), as pure data: its environment for runtime/terminal-proxy/config.ts, its
 * probes, and what the ingress publishes of it. It needs no privilege: non-root, no capability.
 */
import * as pulumi from "@pulumi/pulumi";
import { ContainerSpec } from "../k8s/pod";
import { IngressRoute } from "../k8s/service";

export const terminalProxyApp = "terminal-proxy";
/** The proxy's port (plain HTTP: TLS ends at the ingress, which is the only caller). */
export const terminalProxyPort = 8080;
/** Health, readiness and metrics; never published. */
export const terminalProxyManagementPort = 9466;

/** What the proxy needs to know about its tenant. */
export interface TerminalProxySettings {
    readonly tenantId: string;
    /** The tenant realm's public issuer (what tokens carry in `iss`). */
    readonly issuer: pulumi.Input<string>;
    /** The realm's keys through Keycloak's in-cluster Service. */
    readonly jwksUrl: pulumi.Input<string>;
    /** Browser origins that may open terminals (ThingsBoard's terminal widget, the terminal page). */
    readonly allowedOrigins: readonly string[];
    /** The public host the ingress serves the proxy at. */
    readonly host: string;
}

/** The proxy's container; `tokenSecret` holds its `terminal-proxy-token` for the bridge. */
export function terminalProxyContainer(
    settings: TerminalProxySettings,
    image: pulumi.Input<string>,
    bridge: { url: pulumi.Input<string>; serverName: string },
    tokenSecret: pulumi.Input<string>,
): ContainerSpec {
    const management = (path: string) => ({ http: { path, port: terminalProxyManagementPort } });
    return {
        name: terminalProxyApp,
        image,
        command: ["node", "dist/runtime/terminal-proxy/main.js"],
        env: {
            TERMINAL_PORT: String(terminalProxyPort),
            TERMINAL_MANAGEMENT_PORT: String(terminalProxyManagementPort),
            TERMINAL_TENANT_ID: settings.tenantId,
            OIDC_ISSUER: settings.issuer,
            OIDC_JWKS_URL: settings.jwksUrl,
            BRIDGE_URL: bridge.url,
            BRIDGE_TLS_SERVER_NAME: bridge.serverName,
            TERMINAL_PROXY_TOKEN: { secret: tokenSecret, key: "terminal-proxy-token" },
            TERMINAL_ALLOWED_ORIGINS: settings.allowedOrigins.join(","),
        },
        ports: [
            { name: "terminal", port: terminalProxyPort },
            { name: "terminal-mgmt", port: terminalProxyManagementPort },
        ],
        resources: { cpu: "100m", memory: "128Mi", cpuLimit: "1", memoryLimit: "512Mi" },
        readiness: management("/readyz"),
        liveness: management("/healthz"),
    };
}

/** The paths the ingress publishes: the WebSocket and the administrators' session list. */
export function terminalProxyRoutes(host: string): IngressRoute[] {
    return ["/terminal", "/sessions"].map((path) => ({
        host,
        path,
        service: terminalProxyApp,
        port: terminalProxyPort,
    }));
}

/**
 * ingress-nginx closes a proxied connection after 60 s without a byte either way; the proxy
 * pings every 30 s, and these make a quiet terminal's limit the proxy's own idle timeout.
 */
export const terminalIngressAnnotations = {
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    // The ThingsBoard widget puts the user's token in the query string, which nginx's access log
    // would keep; the proxy writes its own audit events, without tokens.
    "nginx.ingress.kubernetes.io/enable-access-log": "false",
};
