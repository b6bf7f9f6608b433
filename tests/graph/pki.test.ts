/** The certificate hierarchy and the step-ca deployments in both stacks. */
import { beforeAll, describe, expect, it } from "vitest";
import { deviceTemplate, subCaTemplate } from "../../components/step-ca/ca-json";
import { Evaluation } from "../../tools/mock-engine";
import { evaluateProvider, evaluateTenant, find, kubeObject, ofType } from "../support/stacks";
import { intermediateCa, rootCa } from "../support/pki";
import { intermediateProfile, rootProfile } from "../../components/pki/profile";

let provider: Evaluation;
let acme: Evaluation;

beforeAll(async () => {
    provider = await evaluateProvider();
    acme = await evaluateTenant({ "cdm:onboardingToken": "automation-credential" }, ["cdm:onboardingToken"]);
});

describe("platform root and intermediate", () => {
    it("makes an ECDSA root that allows two CA levels below it, CA usages only, protected", () => {
        expect(find(provider, "tls:index/privateKey:PrivateKey", "provider-pki-root-key")).toMatchObject({
            inputs: { algorithm: "ECDSA", ecdsaCurve: "P384" },
            protect: true,
        });
        const root = find(
            provider,
            "tls:index/selfSignedCert:SelfSignedCert",
            "provider-pki-root-certificate",
        );
        expect(root.protect).toBe(true);
        expect(root.inputs).toMatchObject({
            isCaCertificate: true,
            maxPathLength: 2,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: 175200,
            setSubjectKeyId: true,
            subject: { commonName: "cdm-platform Root CA", organization: "cdm-platform" },
        });
    });

    it("signs the intermediate with path length 1, so Sub-CAs can sit below it", () => {
        const intermediate = find(
            provider,
            "tls:index/locallySignedCert:LocallySignedCert",
            "provider-pki-intermediate-certificate",
        );
        expect(intermediate.protect).toBe(true);
        expect(intermediate.inputs).toMatchObject({
            isCaCertificate: true,
            maxPathLength: 1,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: 87600,
        });
        expect(
            find(provider, "tls:index/privateKey:PrivateKey", "provider-pki-intermediate-key").protect,
        ).toBe(true);
    });

    it("passes CA keys only as secrets, and only to what signs with them and the step-ca Secret", () => {
        const holders = Object.fromEntries(
            provider.resources
                .filter((r) => r.secretPaths.length > 0 && !r.name.startsWith("provider-keycloak"))
                .map((r) => [r.name, r.secretPaths]),
        );
        expect(holders).toEqual({
            "provider-pki-root-certificate": ["privateKeyPem"],
            "provider-pki-intermediate-request": ["privateKeyPem"],
            "provider-pki-intermediate-certificate": ["caPrivateKeyPem"],
            "provider-postgres-superuser": ["stringData"],
            "provider-postgres-keycloak-connection": ["stringData"],
            "provider-postgres-bridge-connection": ["stringData"],
            "provider-step-ca-encrypted-key": ["password", "privateKeyPem"],
            "provider-step-ca-keys": ["stringData"],
            "provider-step-ca-tenant-sub-ca-provisioner": ["stringData"],
            "provider-bridge-keycloak-client": ["stringData"],
            // RabbitMQ's server certificate, issued by the intermediate, and its Secrets.
            "provider-rabbitmq-tls-request": ["privateKeyPem"],
            "provider-rabbitmq-tls-certificate": ["caPrivateKeyPem"],
            "provider-rabbitmq-tls": ["stringData"],
            "provider-rabbitmq-bridge-credentials": ["stringData"],
            "provider-rabbitmq-telegraf-credentials": ["stringData"],
            "provider-rabbitmq-definitions": ["stringData"],
            "provider-rabbitmq-gate-credentials": ["stringData"],
            "provider-influxdb-admin": ["stringData"],
            "provider-influxdb-telegraf-token": ["stringData"],
            "provider-influxdb-grafana-token": ["stringData"],
            "provider-grafana-admin": ["stringData"],
            "provider-grafana-oauth": ["stringData"],
        });
    });
});

describe("provider step-ca", () => {
    it("runs one CA-capable provisioner that signs tenant Sub-CAs only", () => {
        const caJson = JSON.parse(kubeObject(provider, "ConfigMap", "step-ca-config").data["ca.json"]);
        expect(caJson.dnsNames).toEqual([
            "step-ca.cdm-provider",
            "step-ca.cdm-provider.svc",
            "step-ca.cdm-provider.svc.cluster.local",
        ]);
        expect(caJson.authority.provisioners).toHaveLength(1);
        const [p] = caJson.authority.provisioners;
        expect(p).toMatchObject({
            type: "JWK",
            name: "tenant-sub-ca",
            key: { kty: "EC", crv: "P-256", alg: "ES256", use: "sig" },
            claims: {
                minTLSCertDuration: "5m",
                defaultTLSCertDuration: "43800h",
                maxTLSCertDuration: "43800h",
                disableRenewal: true,
            },
            options: { x509: { template: subCaTemplate } },
        });
        expect(caJson.crt).toBe("/home/step/certs/ca_bundle.crt");
        expect(caJson.key).toBe("/home/step/secrets/ca_key");
    });

    it("runs as a non-root StatefulSet with HTTPS probes, a database volume and its password from a Secret", () => {
        const sts = kubeObject(provider, "StatefulSet", "step-ca");
        const container = sts.spec.template.spec.containers[0];
        expect(container.image).toBe("docker.io/smallstep/step-ca:0.30.2");
        expect(container.command).toEqual(["/usr/local/bin/step-ca"]);
        expect(container.args).toEqual([
            "--password-file",
            "/home/step/secrets/password",
            "/home/step/config/ca.json",
        ]);
        expect(container.readinessProbe.httpGet).toEqual({ path: "/health", port: 9000, scheme: "HTTPS" });
        expect(container.livenessProbe.httpGet).toEqual({ path: "/health", port: 9000, scheme: "HTTPS" });
        expect(sts.spec.template.spec.securityContext.runAsUser).toBe(1000);
        // The binary's file capability must stay in the bounding set, or exec fails.
        expect(container.securityContext).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
            seccompProfile: { type: "RuntimeDefault" },
        });
        expect(container.startupProbe.httpGet).toEqual({ path: "/health", port: 9000, scheme: "HTTPS" });
        expect(sts.spec.replicas).toBe(1);
        expect(sts.spec.volumeClaimTemplates.map((c: any) => c.metadata.name)).toEqual(["db"]);
        expect(sts.spec.template.spec.volumes).toContainEqual({
            name: "secrets",
            secret: { secretName: "step-ca-keys", defaultMode: 0o440 },
        });
    });

    it("is reachable only by the bridge", () => {
        expect(kubeObject(provider, "NetworkPolicy", "step-ca").spec.ingress).toEqual([
            {
                from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "bridge" } } }],
                ports: [{ port: 9000, protocol: "TCP" }],
            },
        ]);
    });
});

describe("tenant Sub-CA and step-ca", () => {
    it("makes the Sub-CA key and CSR in the tenant stack and asks the provider bridge to sign it", () => {
        expect(find(acme, "tls:index/privateKey:PrivateKey", "tenant-acme-sub-ca-key")).toMatchObject({
            inputs: { algorithm: "ECDSA", ecdsaCurve: "P256" },
            protect: true,
        });
        expect(
            find(acme, "tls:index/certRequest:CertRequest", "tenant-acme-sub-ca-request").inputs.subject,
        ).toEqual({
            commonName: "acme.sub-ca.cdm-platform",
            organization: "cdm-platform",
        });
        const request = find(acme, "tls:index/certRequest:CertRequest", "tenant-acme-sub-ca-request");
        expect(request.protect).toBe(true);
        expect(request.inputs.dnsNames).toEqual([
            "acme.devices.cdm-platform",
            "step-ca.cdm-tenant-acme",
            "step-ca.cdm-tenant-acme.svc",
            "step-ca.cdm-tenant-acme.svc.cluster.local",
            // Its public endpoints: hawkBit's DDI (and later MQTTS) is served with its certificates.
            "acme.cdm.example.com",
        ]);
        const signed = find(acme, "pulumi-nodejs:dynamic:Resource", "tenant-acme-sub-ca-certificate");
        expect(signed.inputs.permittedNames).toEqual(request.inputs.dnsNames);
        expect(signed.protect).toBe(true);
        expect(signed.inputs).toMatchObject({
            bridgeUrl: "https://api.cdm.example.com",
            tenantId: "acme",
            token: "<<secret>>",
        });
        expect(signed.rawInputs.token).toEqual({ secret: "automation-credential" });
    });

    it("runs a device provisioner with short, renewable certificates and a client-only template", () => {
        const caJson = JSON.parse(kubeObject(acme, "ConfigMap", "step-ca-config").data["ca.json"]);
        expect(caJson.dnsNames).toContain("step-ca.cdm-tenant-acme.svc.cluster.local");
        expect(caJson.authority.provisioners.map((p: any) => [p.name, p.claims])).toEqual([
            [
                "bridge-acme",
                {
                    minTLSCertDuration: "5m",
                    defaultTLSCertDuration: "168h",
                    maxTLSCertDuration: "720h",
                    disableRenewal: false,
                    allowRenewalAfterExpiry: false,
                },
            ],
        ]);
        expect(caJson.authority.provisioners[0].options.x509.template).toBe(deviceTemplate);
    });

    it("hands the bridge its provisioner key in a Secret of its own", () => {
        const secret = kubeObject(acme, "Secret", "step-ca-provisioner-bridge-acme");
        expect(secret.metadata.namespace).toBe("cdm-tenant-acme");
        expect(
            find(acme, "kubernetes:core/v1:Secret", "tenant-acme-step-ca-bridge-acme-provisioner")
                .secretPaths,
        ).toEqual(["stringData"]);
    });

    it("serves the platform root and the tenant chain from a ConfigMap (public certificates only)", () => {
        expect(Object.keys(kubeObject(acme, "ConfigMap", "step-ca-certificates").data).sort()).toEqual([
            "ca_bundle.crt",
            "root_ca.crt",
        ]);
        expect(ofType(acme, "tls:index/selfSignedCert:SelfSignedCert")).toEqual([]);
    });
});

describe("bring your own root", () => {
    it("uses the user's certificates and key and generates no CA", async () => {
        const root = await rootCa(rootProfile);
        const intermediate = await intermediateCa(intermediateProfile, root);
        const stack = await evaluateProvider(
            {
                "cdm:pkiMode": "byo",
                "cdm:pkiRootCertificate": root.pem,
                "cdm:pkiIntermediateCertificate": intermediate.pem,
                "cdm:pkiIntermediateKey": intermediate.key.privatePem,
            },
            ["cdm:pkiIntermediateKey"],
        );
        expect(stack.resources.filter((r) => r.type.startsWith("tls:") && r.name.includes("pki"))).toEqual(
            [],
        );
        expect(stack.outputs.caCertificates).toEqual({ root: root.pem, intermediate: intermediate.pem });
        expect(kubeObject(stack, "ConfigMap", "step-ca-certificates").data).toEqual({
            "root_ca.crt": root.pem,
            "ca_bundle.crt": intermediate.pem,
        });
        const encrypted = find(stack, "pulumi-nodejs:dynamic:Resource", "provider-step-ca-encrypted-key");
        expect(encrypted.rawInputs.privateKeyPem).toEqual({ secret: intermediate.key.privatePem });
    });
});
