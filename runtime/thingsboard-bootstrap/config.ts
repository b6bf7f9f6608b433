/**
 * The bootstrap Job's settings from its environment. The ThingsBoard component sets exactly these
 * variables (components/thingsboard/thingsboard.ts), credentials from Secrets.
 */
import { metricNameProblem, RuleChainSettings } from "../../components/thingsboard/rule-chain";
import { KeycloakLogin } from "../../components/thingsboard/oauth2";
import { EnvReader } from "../shared/env";

/** The password the installer gives it; the bootstrap replaces it at once. */
export const installerSysadminPassword = "sysadmin";

/** What the bootstrap makes ThingsBoard hold. */
export interface BootstrapConfig {
    /** tb-node's in-cluster base URL. */
    readonly url: string;
    readonly sysadminPassword: string;
    /** The ThingsBoard tenant of the platform tenant, and its administrator. */
    readonly tenantTitle: string;
    readonly tenantAdmin: { readonly email: string; readonly password: string };
    /** The tenant Sub-CA certificate (PEM) devices chain to. */
    readonly subCaPem: string;
    readonly ruleChain: RuleChainSettings;
    /** Keycloak login; undefined when the stack manages no realms (no client secret exists). */
    readonly oauth2?: KeycloakLogin & { readonly thingsOrigin: string };
    /** How long to wait for tb-node to answer at all. */
    readonly waitSeconds: number;
}

/** Reads and checks the environment; throws an EnvError naming every bad variable. */
export function readBootstrapConfig(env: Readonly<Record<string, string | undefined>>): BootstrapConfig {
    const r = new EnvReader(env);
    const metrics = (r.required("FORWARDED_METRICS", "the metrics the chain forwards, comma-separated") ?? "")
        .split(",")
        .map((m) => m.trim())
        .filter((m) => m !== "");
    for (const m of metrics) r.check("FORWARDED_METRICS", m, metricNameProblem);
    const subCaPem = r.required("SUB_CA_PEM", "the tenant Sub-CA certificate (PEM)");
    r.check("SUB_CA_PEM", subCaPem, (v) =>
        v.startsWith("-----BEGIN CERTIFICATE-----") ? undefined : "is not a PEM certificate",
    );
    const clientSecret = r.optional("OAUTH2_CLIENT_SECRET");
    const bridgeToken = r.required("THINGSBOARD_WEBHOOK_TOKEN", "ThingsBoard's token at the bridge");
    const config: BootstrapConfig = {
        url: r.url("TB_URL", ["http", "https"], "tb-node's base URL")!,
        sysadminPassword: r.required("TB_SYSADMIN_PASSWORD", "the system administrator's password"),
        tenantTitle: r.required("TB_TENANT_TITLE", "the ThingsBoard tenant's title"),
        tenantAdmin: {
            email: r.required("TB_TENANT_ADMIN_EMAIL", "the tenant administrator's e-mail"),
            password: r.required("TB_TENANT_ADMIN_PASSWORD", "the tenant administrator's password"),
        },
        subCaPem,
        ruleChain: {
            tenantId: r.required("TENANT_ID", "the platform tenant id"),
            forwardedMetrics: metrics,
            amqp: {
                host: r.required("AMQP_HOST", "where the rule node connects (the TLS proxy)"),
                port: r.integer("AMQP_PORT", 5672, 1, 65535),
                virtualHost: r.required("AMQP_VHOST", "the provider's metrics vhost"),
                exchange: r.required("AMQP_EXCHANGE", "the provider's telemetry exchange"),
                username: r.required("AMQP_USERNAME", "the tenant's publisher"),
                password: r.required("AMQP_PASSWORD", "the tenant's publisher's password"),
            },
            connectWebhook: {
                url: r.url("CONNECT_WEBHOOK_URL", ["http", "https"], "the bridge's connect webhook")!,
                token: bridgeToken,
            },
        },
        oauth2: clientSecret
            ? {
                  issuer: r.url("OAUTH2_ISSUER", ["https"], "the tenant realm's public issuer")!,
                  internalIssuer: r.url("OAUTH2_INTERNAL_ISSUER", ["http", "https"], "the realm in-cluster")!,
                  clientId: r.required("OAUTH2_CLIENT_ID", "the realm's ThingsBoard client"),
                  clientSecret,
                  mapper: {
                      url: r.url("OAUTH2_MAPPER_URL", ["http", "https"], "the bridge's login mapper")!,
                      token: bridgeToken,
                  },
                  thingsOrigin: r.url("THINGS_ORIGIN", ["https"], "ThingsBoard's public origin")!,
              }
            : undefined,
        waitSeconds: r.integer("TB_WAIT_SECONDS", 900, 0, 3600),
    };
    r.done();
    return config;
}
