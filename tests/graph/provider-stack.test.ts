import { beforeAll, describe, expect, it } from "vitest";
import { Evaluation } from "../../tools/mock-engine";
import { countByType } from "../../tools/tree";
import { evaluateProvider, find, kubeObject, ofType } from "../support/stacks";

let stack: Evaluation;

beforeAll(async () => {
    stack = await evaluateProvider();
});

describe("provider stack graph", () => {
    it("has exactly the expected resources", () => {
        expect(Object.fromEntries(countByType(stack.resources))).toEqual({
            "cdm:stack:ProviderStack": 1,
            "cdm:k8s:StackNamespace": 1,
            "cdm:postgres:Postgres": 1,
            "cdm:pki:PlatformPki": 1,
            "cdm:step-ca:StepCa": 1,
            "cdm:keycloak:Keycloak": 1,
            "cdm:bridge:Bridge": 1,
            "cdm:rabbitmq:RabbitMq": 1,
            "cdm:rabbitmq:TelemetryGate": 1,
            "cdm:keycloak:Realm": 1,
            "keycloak:index/realm:Realm": 1,
            "keycloak:index/realmEvents:RealmEvents": 1,
            "kubernetes:apps/v1:Deployment": 5,
            "kubernetes:networking.k8s.io/v1:Ingress": 3,
            "pulumi:providers:keycloak": 1,
            "keycloak:index/genericProtocolMapper:GenericProtocolMapper": 1,
            "keycloak:index/role:Role": 3,
            "keycloak:openid/client:Client": 2,
            "keycloak:openid/clientServiceAccountRole:ClientServiceAccountRole": 2,
            "cdm:k8s:Workload": 9,
            "pulumi:providers:kubernetes": 1,
            "pulumi-nodejs:dynamic:Resource": 1,
            "kubernetes:core/v1:Namespace": 1,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy": 13,
            "kubernetes:core/v1:Secret": 17,
            "kubernetes:core/v1:ConfigMap": 10,
            "kubernetes:core/v1:ServiceAccount": 10,
            "kubernetes:core/v1:Service": 8,
            "kubernetes:apps/v1:StatefulSet": 4,
            "kubernetes:batch/v1:Job": 2,
            "random:index/randomPassword:RandomPassword": 11,
            "tls:index/privateKey:PrivateKey": 4,
            "tls:index/selfSignedCert:SelfSignedCert": 1,
            "tls:index/certRequest:CertRequest": 2,
            "tls:index/locallySignedCert:LocallySignedCert": 2,
            "cdm:grafana:Grafana": 1,
            "cdm:influxdb:InfluxDb": 1,
            "cdm:telegraf:Telegraf": 1,
            "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
        });
    });

    it("exports the namespace and endpoints", () => {
        expect(stack.outputs).toEqual({
            role: "provider",
            namespace: "cdm-provider",
            endpoints: {
                identity: "https://auth.cdm.example.com/auth/realms/platform",
                bridge: "https://api.cdm.example.com",
                amqp: "amqps://amqp.cdm.example.com:5671",
                grafana: "https://grafana.cdm.example.com",
            },
            caCertificates: { root: "<<known after deploy>>", intermediate: "<<known after deploy>>" },
        });
    });

    it("puts every namespaced object in cdm-provider", () => {
        const objects = stack.resources.filter(
            (r) => r.type.startsWith("kubernetes:") && r.inputs.kind !== "Namespace",
        );
        expect(objects.map((r) => r.inputs.metadata.namespace)).toEqual(objects.map(() => "cdm-provider"));
    });

    it("has no quota on the provider namespace", () => {
        expect(ofType(stack, "kubernetes:core/v1:ResourceQuota")).toEqual([]);
        expect(
            kubeObject(stack, "Namespace", "cdm-provider").metadata.labels[
                "pod-security.kubernetes.io/enforce"
            ],
        ).toBe("restricted");
    });

    it("gives Keycloak and the provider bridge their own databases", () => {
        const keycloak = kubeObject(stack, "Secret", "postgres-keycloak");
        expect(keycloak.stringData).toEqual({
            host: "<<secret>>",
            port: "<<secret>>",
            database: "<<secret>>",
            username: "<<secret>>",
            password: "<<secret>>",
            sslmode: "<<secret>>",
            "jdbc-url": "<<secret>>",
        });
        const raw = find(stack, "kubernetes:core/v1:Secret", "provider-postgres-keycloak-connection")
            .rawInputs.stringData;
        expect(raw).toEqual({
            secret: {
                host: "postgres.cdm-provider.svc.cluster.local",
                port: "5432",
                database: "keycloak",
                username: "keycloak",
                password: "<<generated at deploy>>",
                sslmode: "disable",
                "jdbc-url":
                    "jdbc:postgresql://postgres.cdm-provider.svc.cluster.local:5432/keycloak?sslmode=disable",
            },
        });
    });
});
