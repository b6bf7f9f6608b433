/** The device profile: X.509 chain provisioning against the tenant Sub-CA, the CN pattern's device names. */
import { describe, expect, it } from "vitest";
import {
    deviceIdCnPattern,
    deviceNameFromCn,
    deviceProfile,
} from "../../components/thingsboard/device-profile";
import { isDeviceId } from "../../runtime/bridge/device-csr";

const subCa = "-----BEGIN CERTIFICATE-----\nMIIBsubca\n-----END CERTIFICATE-----";

describe("device profile", () => {
    it("provisions devices by certificate chain ending at the Sub-CA, with the platform's chain", () => {
        expect(deviceProfile(`${subCa}\n\n`, "8a5c6e40-0000-4000-8000-000000000001")).toEqual({
            name: "cdm-devices",
            description:
                "Devices enrolled by the tenant bridge: MQTT over mutual TLS with a Sub-CA certificate",
            type: "DEFAULT",
            transportType: "DEFAULT",
            provisionType: "X509_CERTIFICATE_CHAIN",
            defaultRuleChainId: { entityType: "RULE_CHAIN", id: "8a5c6e40-0000-4000-8000-000000000001" },
            profileData: {
                configuration: { type: "DEFAULT" },
                transportConfiguration: { type: "DEFAULT" },
                provisionConfiguration: {
                    type: "X509_CERTIFICATE_CHAIN",
                    provisionDeviceSecret: `${subCa}\n`,
                    certificateRegExPattern: "^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])$",
                    allowCreateNewDevicesByX509Certificate: true,
                },
            },
        });
    });

    it("refuses anything but one PEM certificate as the trust anchor", () => {
        expect(() => deviceProfile("not a pem", "id")).toThrow(
            "the tenant Sub-CA must be one PEM certificate",
        );
        expect(() => deviceProfile(`${subCa}\n${subCa}`, "id")).toThrow(
            "the tenant Sub-CA must be one PEM certificate, not a chain",
        );
    });

    it("has a capture group yielding exactly the ids the bridge enrolls", () => {
        expect(new RegExp(deviceIdCnPattern).exec("dev-1")?.length).toBe(2);
        const candidates = [
            "dev-1",
            "abc",
            "a1",
            "x".repeat(63),
            "x".repeat(64),
            "Dev-1",
            "-dev",
            "dev-",
            "dev_1",
            "dev.1",
            "sensor-0042",
            "",
            "dev 1",
        ];
        for (const cn of candidates) {
            expect(deviceNameFromCn(cn), cn).toBe(isDeviceId(cn) ? cn : undefined);
        }
        expect(deviceNameFromCn("sensor-0042")).toBe("sensor-0042");
        expect(deviceNameFromCn("Dev-1")).toBeUndefined();
    });
});
