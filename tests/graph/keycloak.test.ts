/** Keycloak in both stacks: the workload, the realms as the Keycloak provider receives them, federation. */
import { beforeAll, describe, expect, it } from "vitest";
import { Evaluation } from "../../tools/mock-engine";
import { evaluateProvider, evaluateTenant, find, kubeObject, ofType } from "../support/stacks";

let provider: Evaluation;
let acme: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
    acme = await evaluateTenant({ "cdm:onboardingToken": "automation-credential" }, ["cdm:onboardingToken"]);
});

const env = (stack: Evaluation) =>
    Object.fromEntries(
        kubeObject(stack, "Deployment", "keycloak").spec.template.spec.containers[0].env.map((e: any) => [
            e.name,
            e.value ?? e.valueFrom,
        ]),
    );

describe("Keycloak workload", () => {
    it("is replaced, never doubled, on a rollout (its caches are per instance)", () => {
        for (const stack of [provider, acme]) {
            expect(kubeObject(stack, "Deployment", "keycloak").spec.strategy).toEqual({ type: "Recreate" });
            expect(kubeObject(stack, "Deployment", "bridge").spec.strategy).toEqual({
                type: "RollingUpdate",
                rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
            });
        }
    });

    it("runs production start behind the ingress on PostgreSQL, under /auth", () => {
        const container = kubeObject(provider, "Deployment", "keycloak").spec.template.spec.containers[0];
        expect(container.image).toBe("quay.io/keycloak/keycloak:26.7.3");
        expect(container.args).toEqual(["start"]);
        expect(env(provider)).toMatchObject({
            KC_DB: "postgres",
            KC_DB_URL: { secretKeyRef: { name: "postgres-keycloak", key: "jdbc-url" } },
            KC_DB_PASSWORD: { secretKeyRef: { name: "postgres-keycloak", key: "password" } },
            KC_HOSTNAME: "https://auth.cdm.example.com/auth",
            KC_HTTP_RELATIVE_PATH: "/auth",
            KC_PROXY_HEADERS: "xforwarded",
            KC_HEALTH_ENABLED: "true",
            KC_BOOTSTRAP_ADMIN_CLIENT_SECRET: {
                secretKeyRef: { name: "keycloak-admin", key: "client-secret" },
            },
        });
        expect(container.readinessProbe.httpGet).toEqual({
            path: "/auth/health/ready",
            port: 9000,
            scheme: "HTTP",
        });
        expect(container.livenessProbe.httpGet).toEqual({
            path: "/auth/health/live",
            port: 9000,
            scheme: "HTTP",
        });
        expect(env(acme).KC_HOSTNAME).toBe("https://auth.acme.cdm.example.com/auth");
    });

    it("publishes its realms at auth.<domain>/auth, never the master realm, and is reachable in-cluster only by its clients", () => {
        const paths = (stack: Evaluation) =>
            kubeObject(stack, "Ingress", "keycloak").spec.rules.flatMap((r: any) =>
                r.http.paths.map((p: any) => [r.host, p.path, p.pathType, p.backend.service.name]),
            );
        expect(paths(provider)).toEqual(
            [
                "/auth/realms/platform",
                "/auth/admin/platform/console",
                "/auth/admin/realms/platform",
                "/auth/resources",
            ].map((path) => ["auth.cdm.example.com", path, "Prefix", "keycloak"]),
        );
        expect(kubeObject(provider, "Ingress", "keycloak").metadata.annotations).toMatchObject({
            "nginx.ingress.kubernetes.io/proxy-buffer-size": "128k",
        });
        expect(paths(acme).map((p: string[]) => p[1])).toEqual([
            "/auth/realms/acme",
            "/auth/admin/acme/console",
            "/auth/admin/realms/acme",
            "/auth/resources",
        ]);
        const from = kubeObject(acme, "NetworkPolicy", "keycloak").spec.ingress[0].from;
        expect(
            from.map(
                (p: any) =>
                    p.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] ??
                    p.podSelector.matchLabels["app.kubernetes.io/name"],
            ),
            // Only apps that call Keycloak in the cluster (hawkBit does not: its OAuth mode is off,
            // docs/ota.md), and the VPN pod, where the terminal proxy fetches the realm's keys.
        ).toEqual(["ingress-nginx", "bridge", "grafana", "thingsboard", "cdm-tenant-acme-vpn"]);
        expect(from[4].podSelector).toEqual({ matchLabels: { "app.kubernetes.io/name": "wireguard" } });
    });

    it("manages realms through a provider authenticated by the bootstrap admin client, whose secret stays secret", () => {
        const kc = find(provider, "pulumi:providers:keycloak", "provider-keycloak-provider");
        // The master realm is not published: Pulumi reaches it inside the cluster (or cdm:keycloakAdminUrl).
        expect(kc.inputs).toMatchObject({
            url: "http://keycloak.cdm-provider.svc.cluster.local:8080",
            basePath: "/auth",
            realm: "master",
            clientId: "cdm-bootstrap-admin",
            clientSecret: "<<secret>>",
            initialLogin: "false",
        });
        expect(
            ofType(provider, "keycloak:index/realm:Realm").every((r) => r.provider?.startsWith(kc.urn)),
        ).toBe(true);
    });
});

describe("platform realm", () => {
    it("has the platform roles, events kept 90 days, and the Grafana client", () => {
        expect(find(provider, "keycloak:index/realm:Realm", "provider-realm-realm").inputs).toMatchObject({
            realm: "platform",
            sslRequired: "external",
            passwordPolicy: "length(12) and notUsername and notEmail",
        });
        expect(
            find(provider, "keycloak:index/realmEvents:RealmEvents", "provider-realm-events").inputs,
        ).toMatchObject({
            eventsEnabled: true,
            eventsExpiration: 7776000,
            adminEventsEnabled: true,
            adminEventsDetailsEnabled: true,
        });
        expect(ofType(provider, "keycloak:index/role:Role").map((r) => r.inputs.name)).toEqual([
            "platform-admin",
            "platform-operator",
            "platform-viewer",
        ]);
        expect(
            find(provider, "keycloak:openid/client:Client", "provider-realm-client-grafana").inputs,
        ).toMatchObject({
            clientId: "grafana",
            accessType: "CONFIDENTIAL",
            directAccessGrantsEnabled: false,
            validRedirectUris: ["https://grafana.cdm.example.com/login/generic_oauth"],
        });
    });
});

describe("tenant realm", () => {
    it("has the tenant roles and a client per application, none with direct password grants", () => {
        const roles = ofType(acme, "keycloak:index/role:Role").map((r) => r.inputs);
        expect(roles.map((r) => r.name).sort()).toEqual([
            "device-terminal",
            "operator",
            "platform-staff",
            "tenant-admin",
            "viewer",
        ]);
        // Tenant admins manage their realm's users through Keycloak's admin API, nothing else.
        expect(roles.filter((r) => r.compositeRoles).map((r) => [r.name, r.compositeRoles.length])).toEqual([
            ["tenant-admin", 5],
        ]);
        const clients = ofType(acme, "keycloak:openid/client:Client").map((r) => r.inputs);
        expect(clients.map((c) => [c.clientId, c.accessType, c.serviceAccountsEnabled]).sort()).toEqual([
            ["bridge", "CONFIDENTIAL", true],
            ["grafana", "CONFIDENTIAL", false],
            ["hawkbit", "CONFIDENTIAL", false],
            ["terminal-proxy", "PUBLIC", false],
            ["thingsboard", "CONFIDENTIAL", false],
        ]);
        expect(
            clients.every((c) => c.directAccessGrantsEnabled === false && c.implicitFlowEnabled === false),
        ).toBe(true);
        const terminal = clients.find((c) => c.clientId === "terminal-proxy")!;
        expect(terminal.pkceCodeChallengeMethod).toBe("S256");
        expect(terminal.validRedirectUris).toEqual(["https://terminal.acme.cdm.example.com/callback"]);
        expect(find(acme, "keycloak:index/realm:Realm", "tenant-acme-realm-realm").inputs.attributes).toEqual(
            {
                adminEventsExpiration: "7776000",
            },
        );
    });

    it("puts the tenant claim on every client's tokens, and the audience the terminal proxy checks", () => {
        const mappers = ofType(acme, "keycloak:index/genericProtocolMapper:GenericProtocolMapper");
        const tenantClaims = mappers.filter((m) => m.inputs.name === "tenant");
        expect(tenantClaims).toHaveLength(5);
        expect(
            tenantClaims.every(
                (m) =>
                    m.inputs.config["claim.value"] === "acme" &&
                    m.inputs.config["access.token.claim"] === "true",
            ),
        ).toBe(true);
        expect(
            find(
                acme,
                "keycloak:index/genericProtocolMapper:GenericProtocolMapper",
                "tenant-acme-realm-client-terminal-proxy-audience",
            ).inputs,
        ).toMatchObject({
            protocolMapper: "oidc-audience-mapper",
            config: {
                "included.custom.audience": "terminal-proxy",
                "access.token.claim": "true",
                "id.token.claim": "false",
            },
        });
        expect(
            find(
                acme,
                "keycloak:index/genericProtocolMapper:GenericProtocolMapper",
                "tenant-acme-realm-client-grafana-roles",
            ).inputs.config,
        ).toMatchObject({
            "claim.name": "roles",
            multivalued: "true",
        });
    });

    it("federates to the platform realm read from the provider stack, with the secret from the onboarding API", () => {
        const idp = find(
            acme,
            "keycloak:oidc/identityProvider:IdentityProvider",
            "tenant-acme-realm-federation",
        );
        expect(idp.inputs).toMatchObject({
            alias: "provider",
            providerId: "keycloak-oidc",
            issuer: "https://auth.cdm.example.com/auth/realms/platform",
            tokenUrl: "https://auth.cdm.example.com/auth/realms/platform/protocol/openid-connect/token",
            jwksUrl: "https://auth.cdm.example.com/auth/realms/platform/protocol/openid-connect/certs",
            clientId: "tenant-acme",
            clientSecret: "<<secret>>",
            validateSignature: true,
            syncMode: "FORCE",
            trustEmail: true,
            storeToken: false,
            backchannelSupported: false,
        });
        // Exactly these: PKCE, the client's authentication, and the claim filter that refuses platform
        // users without a mapped role before the tenant realm makes a user for them.
        expect(idp.inputs.extraConfig).toEqual({
            pkceEnabled: "true",
            pkceMethod: "S256",
            clientAuthMethod: "client_secret_post",
            filteredByClaim: "true",
            claimFilterName: "roles",
            claimFilterValue: "^(platform-admin|platform-operator|platform-viewer)$",
        });
        expect(
            find(acme, "pulumi-nodejs:dynamic:Resource", "tenant-acme-federation-client").inputs,
        ).toMatchObject({
            bridgeUrl: "https://api.cdm.example.com",
            tenantId: "acme",
            redirectUri: "https://auth.acme.cdm.example.com/auth/realms/acme/broker/provider/endpoint",
            token: "<<secret>>",
        });
        expect(
            ofType(acme, "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping").map(
                (m) => m.inputs.extraConfig,
            ),
        ).toEqual([
            { "external.role": "platform-admin", role: "tenant-admin", syncMode: "FORCE" },
            { "external.role": "platform-operator", role: "operator", syncMode: "FORCE" },
            { "external.role": "platform-viewer", role: "viewer", syncMode: "FORCE" },
            { "external.role": "platform-admin", role: "platform-staff", syncMode: "FORCE" },
            { "external.role": "platform-operator", role: "platform-staff", syncMode: "FORCE" },
            { "external.role": "platform-viewer", role: "platform-staff", syncMode: "FORCE" },
        ]);
        expect(
            find(acme, "keycloak:oidc/identityProvider:IdentityProvider", "tenant-acme-realm-federation")
                .inputs.postBrokerLoginFlowAlias,
        ).toBe("federation-gate");
        const executions = ofType(acme, "keycloak:authentication/execution:Execution")
            .sort((a, b) => a.name.localeCompare(b.name))
            .map((e) => [
                e.inputs.parentFlowAlias,
                e.inputs.authenticator,
                e.inputs.requirement,
                e.inputs.priority,
            ]);
        expect(executions).toEqual([
            ["federation-gate", "allow-access-authenticator", "REQUIRED", 20],
            ["federation-gate-staff-only", "conditional-user-role", "REQUIRED", 10],
            ["federation-gate-staff-only", "deny-access-authenticator", "REQUIRED", 20],
        ]);
        expect(
            find(
                acme,
                "keycloak:authentication/subflow:Subflow",
                "tenant-acme-realm-federation-gate-staff-only",
            ).inputs,
        ).toMatchObject({
            parentFlowAlias: "federation-gate",
            requirement: "CONDITIONAL",
            priority: 10,
        });
        expect(
            ofType(acme, "keycloak:authentication/executionConfig:ExecutionConfig").map(
                (c) => c.inputs.config,
            ),
        ).toEqual([{ condUserRole: "platform-staff", negate: "true" }]);
    });

    it("deploys Keycloak without realms when told to", async () => {
        const stack = await evaluateTenant({ "cdm:keycloakRealms": false });
        expect(stack.resources.filter((r) => r.type.startsWith("keycloak:"))).toEqual([]);
        expect(stack.resources.some((r) => r.name === "tenant-acme-federation-client")).toBe(false);
        expect(kubeObject(stack, "Deployment", "keycloak")).toBeDefined();
    });
});
