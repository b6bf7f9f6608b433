import { describe, expect, it } from "vitest";
import {
    caJson,
    CaJsonInput,
    deviceTemplate,
    renderCaJson,
    subCaTemplate,
} from "../../components/step-ca/ca-json";
import { EcPublicJwk } from "../../components/pki/jwk";

const key: EcPublicJwk = { use: "sig", kty: "EC", kid: "kid-1", crv: "P-256", alg: "ES256", x: "x", y: "y" };
const claims = { minDuration: "5m", defaultDuration: "168h", maxDuration: "720h", allowRenewal: true };
const input: CaJsonInput = {
    dnsNames: ["step-ca", "step-ca.cdm-tenant-acme.svc.cluster.local"],
    address: ":9000",
    provisioners: [{ name: "bridge", key, claims, issues: "device" }],
};

describe("ca.json generator", () => {
    it("renders the configuration step-ca reads", () => {
        expect(caJson(input)).toEqual({
            root: "/home/step/certs/root_ca.crt",
            crt: "/home/step/certs/ca_bundle.crt",
            key: "/home/step/secrets/ca_key",
            address: ":9000",
            dnsNames: ["step-ca", "step-ca.cdm-tenant-acme.svc.cluster.local"],
            logger: { format: "json" },
            db: { type: "badger", dataSource: "/home/step/db" },
            crl: { enabled: true, generateOnRevoke: true },
            authority: {
                enableAdmin: false,
                backdate: "1m",
                provisioners: [
                    {
                        type: "JWK",
                        name: "bridge",
                        key,
                        claims: {
                            minTLSCertDuration: "5m",
                            defaultTLSCertDuration: "168h",
                            maxTLSCertDuration: "720h",
                            disableRenewal: false,
                            allowRenewalAfterExpiry: false,
                        },
                        options: { x509: { template: deviceTemplate } },
                    },
                ],
            },
            tls: { minVersion: 1.2, maxVersion: 1.3, renegotiation: false },
        });
    });

    it("gives Sub-CA provisioners the CA template and honours path overrides", () => {
        const config = caJson({
            ...input,
            provisioners: [
                { name: "tenant-sub-ca", key, claims: { ...claims, allowRenewal: false }, issues: "sub-ca" },
            ],
            paths: { root: "/tmp/root.crt", db: "/tmp/db" },
        });
        expect(config.root).toBe("/tmp/root.crt");
        expect(config.db.dataSource).toBe("/tmp/db");
        expect(config.crt).toBe("/home/step/certs/ca_bundle.crt");
        expect(config.authority.provisioners[0].options.x509.template).toBe(subCaTemplate);
        expect(config.authority.provisioners[0].claims.disableRenewal).toBe(true);
        expect(subCaTemplate).toContain('"basicConstraints": {"isCA": true, "maxPathLen": 0}');
        expect(deviceTemplate).toContain('"extKeyUsage": ["clientAuth"]');
    });

    it("refuses configurations step-ca would refuse or misuse", () => {
        expect(() => caJson({ ...input, dnsNames: [] })).toThrow("step-ca needs at least one DNS name");
        expect(() =>
            caJson({ ...input, provisioners: [input.provisioners[0], input.provisioners[0]] }),
        ).toThrow('step-ca provisioner "bridge" is declared twice');
        expect(() =>
            caJson({ ...input, provisioners: [{ ...input.provisioners[0], name: "bad name" }] }),
        ).toThrow(`step-ca provisioner name "bad name" must be letters, digits, '.', '_' or '-'`);
    });

    it("renders stable text", () => {
        expect(renderCaJson(input)).toBe(`${JSON.stringify(caJson(input), null, 2)}\n`);
        expect(renderCaJson(input)).toBe(renderCaJson(input));
    });
});
