import { beforeAll, describe, expect, it } from "vitest";
import { Evaluation } from "../../tools/mock-engine";
import { countByType } from "../../tools/tree";
import { scriptChecksum } from "../../components/postgres/render";
import { evaluateTenant, find, kubeObject } from "../support/stacks";

let acme: Evaluation;

beforeAll(async () => {
    acme = await evaluateTenant();
});

describe("tenant stack graph", () => {
    it("has exactly the expected resources", () => {
        expect(Object.fromEntries(countByType(acme.resources))).toEqual({
            "cdm:stack:TenantStack": 1,
            "cdm:k8s:StackNamespace": 2,
            "cdm:postgres:Postgres": 1,
            "cdm:pki:TenantSubCa": 1,
            "cdm:pki:TenantServerCertificate": 3,
            "cdm:step-ca:StepCa": 1,
            "cdm:wireguard:ServerKey": 1,
            "cdm:wireguard:Server": 1,
            "cdm:keycloak:Keycloak": 1,
            "cdm:hawkbit:Hawkbit": 1,
            "cdm:bridge:Bridge": 1,
            "cdm:keycloak:Realm": 1,
            "keycloak:index/realm:Realm": 1,
            "keycloak:index/realmEvents:RealmEvents": 1,
            "kubernetes:apps/v1:Deployment": 5,
            "kubernetes:networking.k8s.io/v1:Ingress": 7,
            "pulumi:providers:keycloak": 1,
            "keycloak:authentication/execution:Execution": 3,
            "keycloak:authentication/executionConfig:ExecutionConfig": 1,
            "keycloak:authentication/flow:Flow": 1,
            "keycloak:authentication/subflow:Subflow": 1,
            "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping": 6,
            "keycloak:index/genericProtocolMapper:GenericProtocolMapper": 10,
            "keycloak:index/role:Role": 5,
            "keycloak:oidc/identityProvider:IdentityProvider": 1,
            "keycloak:openid/client:Client": 5,
            "cdm:k8s:Workload": 9,
            "pulumi:providers:kubernetes": 1,
            "pulumi:pulumi:StackReference": 1,
            "pulumi-nodejs:dynamic:Resource": 4,
            "kubernetes:core/v1:Namespace": 2,
            "kubernetes:core/v1:ResourceQuota": 2,
            "kubernetes:core/v1:LimitRange": 2,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy": 17,
            "kubernetes:core/v1:Secret": 26,
            "kubernetes:core/v1:ConfigMap": 11,
            "kubernetes:core/v1:ServiceAccount": 10,
            "kubernetes:core/v1:Service": 11,
            "kubernetes:apps/v1:StatefulSet": 4,
            "kubernetes:batch/v1:Job": 4,
            "random:index/randomBytes:RandomBytes": 1,
            "random:index/randomPassword:RandomPassword": 18,
            "tls:index/privateKey:PrivateKey": 5,
            "tls:index/certRequest:CertRequest": 4,
            "tls:index/locallySignedCert:LocallySignedCert": 3,
            "cdm:grafana:Grafana": 1,
            "cdm:influxdb:InfluxDb": 1,
            "cdm:thingsboard:ThingsBoard": 1,
            "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
        });
    });

    it("reads the provider stack named in config and re-exports its endpoints", () => {
        expect(find(acme, "pulumi:pulumi:StackReference", "tenant-acme-provider").inputs).toEqual({
            name: "organization/cdm/provider",
        });
        expect(acme.outputs).toEqual({
            role: "tenant",
            tenantId: "acme",
            namespace: "cdm-tenant-acme",
            endpoints: {
                things: "https://things.acme.cdm.example.com",
                mqtt: "mqtts://mqtt.acme.cdm.example.com:8883",
                ota: "https://ota.acme.cdm.example.com",
                identity: "https://auth.acme.cdm.example.com/auth/realms/acme",
                grafana: "https://grafana.acme.cdm.example.com",
                metrics: "https://metrics.acme.cdm.example.com",
                terminal: "wss://terminal.acme.cdm.example.com/terminal",
                bridge: "https://api.acme.cdm.example.com",
                vpn: "vpn.acme.cdm.example.com:51820",
            },
            providerEndpoints: {
                identity: "https://auth.cdm.example.com/auth/realms/platform",
                bridge: "https://api.cdm.example.com",
                amqp: "amqps://amqp.cdm.example.com:5671",
                grafana: "https://grafana.cdm.example.com",
            },
            caCertificates: {
                root: "<<known after deploy>>",
                intermediate: "<<known after deploy>>",
                subCa: "<<known after deploy>>",
            },
        });
    });

    it("limits the tenant namespace with a quota and default container limits", () => {
        expect(kubeObject(acme, "ResourceQuota", "quota").spec.hard).toMatchObject({
            "limits.cpu": "16",
            "limits.memory": "32Gi",
            "requests.storage": "200Gi",
        });
        expect(kubeObject(acme, "LimitRange", "limits").metadata.namespace).toBe("cdm-tenant-acme");
        expect(kubeObject(acme, "Namespace", "cdm-tenant-acme").metadata.labels).toMatchObject({
            "pod-security.kubernetes.io/enforce": "restricted",
            "cdm-platform.dev/tenant": "acme",
        });
    });

    it("provisions one role and database per tenant service, reachable only by that service", () => {
        const job = kubeObject(acme, "Job", "postgres-provision");
        const env = job.spec.template.spec.containers[0].env;
        expect(env).toEqual([
            { name: "PGHOST", value: "postgres" },
            { name: "PGPORT", value: "5432" },
            { name: "PGUSER", value: "postgres" },
            {
                name: "PGPASSWORD",
                valueFrom: { secretKeyRef: { name: "postgres-superuser", key: "password" } },
            },
            {
                name: "CDM_DB_PASSWORD_0",
                valueFrom: { secretKeyRef: { name: "postgres-thingsboard", key: "password" } },
            },
            {
                name: "CDM_DB_PASSWORD_1",
                valueFrom: { secretKeyRef: { name: "postgres-hawkbit", key: "password" } },
            },
            {
                name: "CDM_DB_PASSWORD_2",
                valueFrom: { secretKeyRef: { name: "postgres-keycloak", key: "password" } },
            },
            {
                name: "CDM_DB_PASSWORD_3",
                valueFrom: { secretKeyRef: { name: "postgres-bridge", key: "password" } },
            },
        ]);
        const policy = kubeObject(acme, "NetworkPolicy", "postgres").spec;
        expect(policy.ingress).toEqual([
            {
                from: ["thingsboard", "hawkbit", "keycloak", "bridge", "postgres-provision"].map((app) => ({
                    podSelector: { matchLabels: { "app.kubernetes.io/name": app } },
                })),
                ports: [{ port: 5432, protocol: "TCP" }],
            },
        ]);
        // Nothing allowed out: the Egress policy type with no rule list.
        expect(policy.egress).toBeUndefined();
        const script = kubeObject(acme, "ConfigMap", "postgres-provision").data["provision.sql"];
        expect(script.match(/^\\set role .*$/gm)).toEqual([
            "\\set role thingsboard",
            "\\set role hawkbit",
            "\\set role keycloak",
            "\\set role bridge",
        ]);
    });

    it("re-runs the provisioning Job when its script changes", () => {
        const job = kubeObject(acme, "Job", "postgres-provision");
        const script = kubeObject(acme, "ConfigMap", "postgres-provision").data["provision.sql"];
        expect(job.spec.template.metadata.annotations).toEqual({
            "cdm-platform.dev/script-sha256": scriptChecksum(script),
        });
    });

    it("reads the superuser password from a mounted Secret file, not from env", () => {
        const spec = kubeObject(acme, "StatefulSet", "postgres").spec.template.spec;
        expect(spec.containers[0].env.map((e: any) => e.name)).toEqual([
            "POSTGRES_PASSWORD_FILE",
            "PGDATA",
            "POSTGRES_INITDB_ARGS",
        ]);
        expect(spec.volumes).toContainEqual({
            name: "superuser",
            secret: { secretName: "postgres-superuser", defaultMode: 0o440 },
        });
        expect(spec.volumes).toContainEqual({
            name: "scratch-postgres-dev-shm",
            emptyDir: { medium: "Memory", sizeLimit: "256Mi" },
        });
    });

    it("keeps the data volume's claim template free of the version label", () => {
        const claim = kubeObject(acme, "StatefulSet", "postgres").spec.volumeClaimTemplates[0];
        expect(claim.metadata.labels).toEqual({
            "app.kubernetes.io/name": "postgres",
            "app.kubernetes.io/instance": "cdm-tenant-acme-postgres",
        });
        expect(claim.spec.resources.requests.storage).toBe("50Gi");
    });
});

describe("tenant AMQP publisher", () => {
    it("is made through the provider bridge with the tenant's credential, its password kept in a Secret", () => {
        expect(
            find(acme, "pulumi-nodejs:dynamic:Resource", "tenant-acme-amqp-publisher").inputs,
        ).toMatchObject({
            bridgeUrl: "https://api.cdm.example.com",
            tenantId: "acme",
            token: "<<secret>>",
        });
        const secret = kubeObject(acme, "Secret", "thingsboard-amqp-publisher");
        expect(secret.metadata.labels["app.kubernetes.io/name"]).toBe("thingsboard");
        expect(secret.type).toBe("Opaque");
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-amqp-publisher-credentials").secretPaths,
        ).toEqual(["stringData"]);
    });
});
