/**
 * The tenant's device profile as ThingsBoard's REST API takes it (`POST /api/deviceProfile`):
 * devices provision themselves on their first MQTT connection with a certificate chain that ends
 * at the tenant Sub-CA (X.509 certificate-chain provisioning, reference/components.md §1.6).
 * Pure; the bootstrap Job sends it, the tests compare it exactly.
 */

/** The profile's name; the bootstrap finds an existing profile by it. */
export const deviceProfileName = "cdm-devices";

/**
 * The pattern ThingsBoard matches against a device certificate's common name; its group 1 is the
 * device name. Device ids are what the tenant bridge enrolls (runtime/bridge/device-csr.ts
 * `isDeviceId`): 3 to 63 lower-case letters, digits and hyphens, starting and ending with a
 * letter or digit, and step-ca puts exactly the id into the CN. Anchored, so a CN that is not
 * a device id provisions nothing. Java and JavaScript read this pattern alike, except that Java's
 * `$` also matches before a final line break, which a CN step-ca issued for an id never has.
 */
export const deviceIdCnPattern = "^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])$";

/** A ThingsBoard entity id reference. */
export interface EntityRef {
    readonly entityType: string;
    readonly id: string;
}

/** The device profile body. */
export interface DeviceProfileBody {
    readonly name: string;
    readonly description: string;
    readonly type: "DEFAULT";
    readonly transportType: "DEFAULT";
    readonly provisionType: "X509_CERTIFICATE_CHAIN";
    readonly defaultRuleChainId: EntityRef;
    readonly profileData: {
        readonly configuration: { readonly type: "DEFAULT" };
        readonly transportConfiguration: { readonly type: "DEFAULT" };
        readonly provisionConfiguration: {
            readonly type: "X509_CERTIFICATE_CHAIN";
            readonly provisionDeviceSecret: string;
            readonly certificateRegExPattern: string;
            readonly allowCreateNewDevicesByX509Certificate: boolean;
        };
    };
}

/**
 * The profile: MQTT with the default topics (`v1/devices/me/telemetry`), provisioning by
 * certificate chain against `subCaPem` (ThingsBoard stores the certificate's SHA3 hash as the
 * profile's key; one profile per CA in the whole installation), devices created on their first
 * connection, and the platform's rule chain `ruleChainId` for everything they send.
 */
export function deviceProfile(subCaPem: string, ruleChainId: string): DeviceProfileBody {
    const pem = subCaPem.trim();
    if (!/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/.test(pem)) {
        throw new Error("the tenant Sub-CA must be one PEM certificate");
    }
    if (pem.split("-----BEGIN CERTIFICATE-----").length !== 2) {
        throw new Error("the tenant Sub-CA must be one PEM certificate, not a chain");
    }
    return {
        name: deviceProfileName,
        description: "Devices enrolled by the tenant bridge: MQTT over mutual TLS with a Sub-CA certificate",
        type: "DEFAULT",
        transportType: "DEFAULT",
        provisionType: "X509_CERTIFICATE_CHAIN",
        defaultRuleChainId: { entityType: "RULE_CHAIN", id: ruleChainId },
        profileData: {
            configuration: { type: "DEFAULT" },
            transportConfiguration: { type: "DEFAULT" },
            provisionConfiguration: {
                type: "X509_CERTIFICATE_CHAIN",
                provisionDeviceSecret: `${pem}\n`,
                certificateRegExPattern: deviceIdCnPattern,
                allowCreateNewDevicesByX509Certificate: true,
            },
        },
    };
}

/** The device name ThingsBoard derives from a certificate's CN, or undefined when none. */
export function deviceNameFromCn(commonName: string): string | undefined {
    return new RegExp(deviceIdCnPattern).exec(commonName)?.[1];
}
