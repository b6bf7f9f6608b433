/** hawkBit in the tenant stack: the StatefulSet, its settings and Secrets, its traffic, its Ingress. */
import { beforeAll, describe, expect, it } from "vitest";
import { hawkbitProperties } from "../../components/hawkbit/settings";
import { rootProfile } from "../../components/pki/profile";
import { Evaluation } from "../../tools/mock-engine";
import { rootCa } from "../support/pki";
import { evaluateTenant, find, kubeObject } from "../support/stacks";

let acme: Evaluation;

beforeAll(async () => {
    acme = await evaluateTenant();
});

const podSpec = (stack: Evaluation) => kubeObject(stack, "StatefulSet", "hawkbit").spec.template.spec;
const container = (stack: Evaluation) => podSpec(stack).containers[0];
/** A container's env as name → literal value or `valueFrom`. */
const env = (c: { env: { name: string; value?: string; valueFrom?: unknown }[] }): Record<string, unknown> =>
    Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom]));
const secretRef = (name: string, key: string) => ({ secretKeyRef: { name, key } });
const app = (name: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/name": name } } });

describe("hawkBit workload", () => {
    it("runs the pinned 1.x image on PostgreSQL with the settings as properties, passwords from Secrets", () => {
        const c = container(acme);
        expect(c.image).toBe("docker.io/hawkbit/hawkbit-update-server:1.1.0");
        const pg = (key: string) => secretRef("postgres-hawkbit", key);
        const { SPRING_APPLICATION_JSON: json, ...rest } = env(c);
        expect(rest).toEqual({
            PROFILES: "postgresql",
            SPRING_DATASOURCE_URL: pg("jdbc-url"),
            SPRING_DATASOURCE_USERNAME: pg("username"),
            SPRING_DATASOURCE_PASSWORD: pg("password"),
            HAWKBIT_SECURITY_USER_ADMIN_PASSWORD: secretRef("hawkbit-users", "admin-password"),
            HAWKBIT_SECURITY_USER_BRIDGE_PASSWORD: secretRef("hawkbit-users", "bridge-password"),
        });
        const properties = JSON.parse(json as string);
        expect(properties).toEqual(
            hawkbitProperties("1.x", {
                publicOrigin: "https://ota.acme.cdm.example.com",
                artifactPath: "/app/artifactrepo",
            }),
        );
        expect(properties).toMatchObject({
            "org.eclipse.hawkbit.artifact.fs.path": "/app/artifactrepo",
            "org.eclipse.hawkbit.repository.file.path": "/app/artifactrepo",
            "hawkbit.artifact.url.protocols.download-http.ref":
                "https://ota.acme.cdm.example.com/{tenant}/controller/v1/{controllerId}/softwaremodules/{softwareModuleId}/artifacts/{artifactFileName}",
        });
        expect(c.env.map((e: { name: string }) => e.name)).toEqual([
            "PROFILES",
            "SPRING_DATASOURCE_URL",
            "SPRING_DATASOURCE_USERNAME",
            "SPRING_DATASOURCE_PASSWORD",
            "SPRING_APPLICATION_JSON",
            "HAWKBIT_SECURITY_USER_ADMIN_PASSWORD",
            "HAWKBIT_SECURITY_USER_BRIDGE_PASSWORD",
        ]);
    });

    it("generates the users' passwords and keeps them in Secrets only", () => {
        for (const user of ["admin", "bridge"]) {
            expect(
                find(
                    acme,
                    "random:index/randomPassword:RandomPassword",
                    `tenant-acme-hawkbit-${user}-password`,
                ).inputs,
            ).toEqual({ length: 32, special: false });
        }
        const keys = (name: string) => Object.keys(kubeObject(acme, "Secret", name).stringData).sort();
        expect(keys("hawkbit-users")).toEqual(["admin-password", "bridge-password"]);
        expect(keys("hawkbit-admin")).toEqual(["password", "username"]);
        expect(keys("hawkbit-bridge-credentials")).toEqual(["password", "username"]);
        for (const name of ["hawkbit-users", "hawkbit-admin", "hawkbit-bridge-credentials"]) {
            const secret = kubeObject(acme, "Secret", name);
            expect(secret.metadata.labels["app.kubernetes.io/name"], name).toBe("hawkbit");
            expect(
                Object.values(secret.stringData).every((v) => v === "<<secret>>"),
                name,
            ).toBe(true);
        }
        const raw = (resource: string) =>
            find(acme, "kubernetes:core/v1:Secret", `tenant-acme-hawkbit-${resource}`).rawInputs.stringData;
        const generated = "<<generated at deploy>>";
        expect(raw("admin-credentials")).toEqual({ secret: { username: "admin", password: generated } });
        expect(raw("bridge-credentials")).toEqual({ secret: { username: "bridge", password: generated } });
        expect(raw("users")).toEqual({
            secret: { "admin-password": `{noop}${generated}`, "bridge-password": `{noop}${generated}` },
        });
    });

    it("keeps artifacts on a volume of its own, one replica as nobody with a read-only root", () => {
        const sts = kubeObject(acme, "StatefulSet", "hawkbit").spec;
        expect(sts.replicas).toBe(1);
        expect(sts.volumeClaimTemplates).toEqual([
            {
                metadata: {
                    name: "artifacts",
                    labels: {
                        "app.kubernetes.io/name": "hawkbit",
                        "app.kubernetes.io/instance": "cdm-tenant-acme-hawkbit",
                    },
                },
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "25Gi" } } },
            },
        ]);
        const c = container(acme);
        expect(c.volumeMounts).toEqual([
            { name: "artifacts", mountPath: "/app/artifactrepo" },
            { name: "tmp", mountPath: "/tmp" },
        ]);
        expect(podSpec(acme).volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "3Gi" } }]);
        expect(podSpec(acme).securityContext).toMatchObject({
            runAsNonRoot: true,
            runAsUser: 65534,
            runAsGroup: 65534,
            fsGroup: 65534,
        });
        expect(c.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
        });
        expect(c.resources).toEqual({
            requests: { cpu: "500m", memory: "1Gi" },
            limits: { cpu: "2", memory: "1536Mi" },
        });
    });

    it("is probed without credentials, with ten minutes for a first start's migrations", () => {
        const c = container(acme);
        const get = { path: "/swagger-ui/index.html", port: 8080, scheme: "HTTP" };
        expect(c.startupProbe).toMatchObject({ httpGet: get, periodSeconds: 10, failureThreshold: 60 });
        expect(c.readinessProbe).toMatchObject({ httpGet: get, failureThreshold: 3 });
        expect(c.livenessProbe).toMatchObject({ httpGet: get, failureThreshold: 6 });
    });

    it("mounts an external server's CA where the JDBC URL names it", async () => {
        const passwords = { thingsboard: "a", hawkbit: "b", keycloak: "c", bridge: "d" };
        const stack = await evaluateTenant(
            {
                "cdm:postgresMode": "external",
                "cdm:postgresExternalHost": "db.example.com",
                "cdm:postgresExternalCaCertificate": (await rootCa(rootProfile)).pem,
                "cdm:postgresExternalCidr": "10.20.0.0/24",
                "cdm:postgresExternalPasswords": JSON.stringify(passwords),
            },
            ["cdm:postgresExternalPasswords"],
        );
        expect(podSpec(stack).volumes).toContainEqual({
            name: "postgres-ca",
            secret: { secretName: "postgres-hawkbit", defaultMode: 0o440 },
        });
        expect(container(stack).volumeMounts).toContainEqual({
            name: "postgres-ca",
            mountPath: "/etc/cdm/postgres/ca.crt",
            subPath: "ca.crt",
            readOnly: true,
        });
        expect(kubeObject(stack, "NetworkPolicy", "hawkbit").spec.egress).toEqual([
            { to: [{ ipBlock: { cidr: "10.20.0.0/24" } }], ports: [{ port: 5432, protocol: "TCP" }] },
        ]);
    });
});

describe("hawkBit traffic", () => {
    it("admits the ingress controller and the bridge on 8080 only, and reaches PostgreSQL only", () => {
        const { ingress, egress } = kubeObject(acme, "NetworkPolicy", "hawkbit").spec;
        expect({ ingress, egress }).toEqual({
            ingress: [
                {
                    from: [
                        {
                            namespaceSelector: {
                                matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" },
                            },
                        },
                        app("bridge"),
                    ],
                    ports: [{ port: 8080, protocol: "TCP" }],
                },
            ],
            egress: [{ to: [app("postgres")], ports: [{ port: 5432, protocol: "TCP" }] }],
        });
        expect(kubeObject(acme, "Service", "hawkbit").spec).toMatchObject({
            type: "ClusterIP",
            ports: [{ name: "http", port: 8080, targetPort: 8080, protocol: "TCP" }],
        });
    });

    it("publishes DDI of tenant DEFAULT and the management API at the OTA host, nothing else", () => {
        const ingress = kubeObject(acme, "Ingress", "hawkbit");
        // No cert-manager issuer: the TLS Secret is the tenant Sub-CA's certificate (below).
        expect(ingress.metadata.annotations).toEqual({
            "nginx.ingress.kubernetes.io/proxy-body-size": "1025m",
        });
        expect(ingress.spec.tls).toEqual([
            { hosts: ["ota.acme.cdm.example.com"], secretName: "hawkbit-tls" },
        ]);
        expect(
            ingress.spec.rules.flatMap((r: any) =>
                r.http.paths.map((p: any) => [r.host, p.path, p.pathType, p.backend.service]),
            ),
        ).toEqual(
            ["/DEFAULT/controller", "/rest"].map((path) => [
                "ota.acme.cdm.example.com",
                path,
                "Prefix",
                { name: "hawkbit", port: { number: 8080 } },
            ]),
        );
    });

    it("serves DDI with a certificate from the tenant Sub-CA, which chains to the platform root", () => {
        expect(
            find(acme, "tls:index/certRequest:CertRequest", "tenant-acme-hawkbit-tls-request").inputs,
        ).toMatchObject({
            subject: { commonName: "ota.acme.cdm.example.com" },
            dnsNames: ["ota.acme.cdm.example.com"],
        });
        expect(
            find(acme, "tls:index/locallySignedCert:LocallySignedCert", "tenant-acme-hawkbit-tls-certificate")
                .inputs,
        ).toMatchObject({
            validityPeriodHours: 2160,
            earlyRenewalHours: 720,
            allowedUses: ["digital_signature", "server_auth"],
            caPrivateKeyPem: "<<secret>>",
        });
        const secret = find(acme, "kubernetes:core/v1:Secret", "tenant-acme-hawkbit-tls-secret");
        expect(secret.inputs.type).toBe("kubernetes.io/tls");
        expect(secret.inputs.metadata.name).toBe("hawkbit-tls");
        expect(secret.secretPaths).toEqual(["stringData"]);
    });

    it("gives the bridge the credentials Secret it reads and the Service it calls", () => {
        const bridge = env(kubeObject(acme, "Deployment", "bridge").spec.template.spec.containers[0]);
        const refs = [bridge.HAWKBIT_USERNAME, bridge.HAWKBIT_PASSWORD] as {
            secretKeyRef: { name: string; key: string };
        }[];
        for (const { secretKeyRef } of refs) {
            expect(Object.keys(kubeObject(acme, "Secret", secretKeyRef.name).stringData)).toContain(
                secretKeyRef.key,
            );
        }
        expect(refs.map((r) => r.secretKeyRef.name)).toEqual([
            "hawkbit-bridge-credentials",
            "hawkbit-bridge-credentials",
        ]);
        const service = kubeObject(acme, "Service", "hawkbit");
        expect(bridge.HAWKBIT_MGMT_URL).toBe(
            `http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`,
        );
    });
});
