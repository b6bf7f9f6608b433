import { describe, expect, it } from "vitest";
import {
    encryptedPlaceholder,
    loadStackConfig,
    mergeStackConfig,
    readProjectSchema,
} from "../../tools/stack-config";

describe("stack configuration loader", () => {
    it("applies Pulumi.yaml defaults under the stack's values, as the CLI does", () => {
        const { values, secretKeys } = mergeStackConfig("x", {
            "cdm:role": "provider",
            "cdm:domain": "a.example.com",
        });
        expect(values["cdm:role"]).toBe("provider");
        expect(values["cdm:ingressClassName"]).toBe("nginx");
        expect(values["cdm:wireguardPort"]).toBe("51820");
        expect(values["cdm:skipAwait"]).toBe("false");
        expect(secretKeys).toEqual([]);
    });

    it("declares every key with a type and description", () => {
        const { project, keys } = readProjectSchema();
        expect(project).toBe("cdm");
        for (const [key, schema] of Object.entries(keys)) {
            expect(["string", "integer", "boolean", "array"], key).toContain(schema.type);
            expect(schema.description.length, key).toBeGreaterThan(20);
        }
    });

    it("refuses unknown keys with a suggestion, wrong types and missing required keys", () => {
        expect(() =>
            mergeStackConfig("x", {
                "cdm:tenantid": "acme",
                "cdm:wireguardPort": "udp",
                "cdm:skipAwait": "maybe",
            }),
        ).toThrow(
            [
                "invalid stack configuration:",
                "  - cdm:tenantid: is not a setting of this project (did you mean cdm:tenantId?)",
                '  - cdm:wireguardPort: must be of type integer (got "udp")',
                '  - cdm:skipAwait: must be of type boolean (got "maybe")',
                "  - stack x is missing required configuration cdm:role, cdm:domain",
            ].join("\n"),
        );
    });

    it("keeps encrypted values encrypted", () => {
        const { values, secretKeys } = mergeStackConfig("x", {
            "cdm:role": "provider",
            "cdm:domain": "a.example.com",
            "cdm:kubeconfig": { secure: "v1:abc" },
        });
        expect(values["cdm:kubeconfig"]).toBe(encryptedPlaceholder);
        expect(secretKeys).toEqual(["cdm:kubeconfig"]);
    });

    it("passes other namespaces through", () => {
        const { values } = mergeStackConfig("x", {
            "cdm:role": "provider",
            "cdm:domain": "a.example.com",
            "kubernetes:context": "kind",
        });
        expect(values["kubernetes:context"]).toBe("kind");
    });

    it("loads the sample stacks and names a missing file", () => {
        expect(loadStackConfig("tenant").values["cdm:tenantId"]).toBe("acme");
        expect(() => loadStackConfig("nope")).toThrow(/^stack nope: no settings file .*Pulumi\.nope\.yaml$/);
    });
});
