import { describe, expect, it } from "vitest";
import { metadataProblems, modelClassName, validateKubeObject } from "../../tools/k8s-schema";

describe("Kubernetes schema validation", () => {
    it("maps apiVersion and kind to the schema model", () => {
        expect(modelClassName("apps/v1", "Deployment")).toBe("V1Deployment");
        expect(modelClassName("v1", "Secret")).toBe("V1Secret");
        expect(modelClassName("autoscaling/v2", "HorizontalPodAutoscaler")).toBe("V2HorizontalPodAutoscaler");
    });

    it("accepts a valid object", async () => {
        expect(
            await validateKubeObject({
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "web" },
                spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
            }),
        ).toEqual([]);
    });

    it("reports wrong types, unknown fields and unknown kinds", async () => {
        expect(
            await validateKubeObject({
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "web" },
                spec: { ports: [{ port: "eighty" }] },
            }),
        ).toEqual(["Service web: data/spec/ports/0/port must be integer"]);
        expect(
            await validateKubeObject({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: "web" },
                spec: {
                    selector: { matchLabels: { app: "web" } },
                    template: {
                        spec: {
                            containers: [
                                {
                                    name: "web",
                                    image: "web:1",
                                    securityContext: { readOnlyRootFileSystem: true },
                                },
                            ],
                        },
                    },
                },
            }),
        ).toEqual([
            "Deployment web: unknown field spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem",
        ]);
        expect(
            await validateKubeObject({ apiVersion: "v1", kind: "Widget", metadata: { name: "w" } }),
        ).toEqual(["Widget w: v1 Widget is not a Kubernetes API type"]);
    });
});

describe("names and labels", () => {
    it("refuses names and labels the API server refuses", () => {
        expect(
            metadataProblems({
                apiVersion: "v1",
                kind: "Service",
                metadata: {
                    name: "web.api",
                    labels: { "app.kubernetes.io/instance": "x".repeat(64), "bad key!": "v", ok: "-v" },
                },
            }),
        ).toEqual([
            'name "web.api" is not a valid Service name',
            `label app.kubernetes.io/instance value "${"x".repeat(64)}" is not a valid label value`,
            'label key "bad key!" is not a valid label key',
            'label ok value "-v" is not a valid label value',
        ]);
        expect(
            metadataProblems({
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: "ca.json", labels: { "a/b": "" } },
            }),
        ).toEqual([]);
    });
});
