import { DeviceServices, WireguardConfig } from "./config";
import { Enrolled } from "./enrollment";
import { TerminalCredential } from "./terminal-credential";

/** The enrollment answer: everything a device needs to join its tenant. */
export interface EnrollmentAnswer {
    readonly device_id: string;
    readonly certificate_pem: string;
    /** Issuer first, up to (not including) the root. */
    readonly chain_pem: readonly string[];
    readonly root_ca_pem: string;
    readonly certificate_not_after: string;
    readonly reenrolled: boolean;
    readonly wireguard: {
        readonly address: string;
        readonly server_public_key: string;
        readonly endpoint: string;
        /** Only the server: devices cannot reach each other, nor anything else, over the VPN. */
        readonly allowed_ips: readonly string[];
        readonly persistent_keepalive: number;
    };
    readonly mqtt: { readonly url: string; readonly telemetry_topic: string };
    readonly hawkbit: {
        readonly url: string;
        readonly tenant: string;
        readonly controller_id: string;
        readonly target_token: string;
    };
    readonly influxdb: {
        readonly url: string;
        readonly org: string;
        readonly bucket: string;
        readonly token: string;
    };
    /** ttyd's credential (`-c username:password`); only the terminal proxy presents it. */
    readonly terminal: { readonly port: number; readonly username: string; readonly password: string };
}

/** ttyd's port on devices, where the terminal proxy connects over the VPN. */
export const ttydPort = 7681;

/** Builds the enrollment answer from what enrollment produced and the tenant's settings. */
export function enrollmentAnswer(
    enrolled: Enrolled,
    rootPem: string,
    wireguard: WireguardConfig & { readonly serverAddress: string },
    services: DeviceServices,
    terminal: TerminalCredential,
): EnrollmentAnswer {
    return {
        device_id: enrolled.deviceId,
        certificate_pem: enrolled.certificate.certificatePem,
        chain_pem: enrolled.certificate.chainPem,
        root_ca_pem: rootPem,
        certificate_not_after: enrolled.certificate.notAfter.toISOString(),
        reenrolled: enrolled.reenrolled,
        wireguard: {
            address: `${enrolled.wireguardAddress}/32`,
            server_public_key: wireguard.serverPublicKey,
            endpoint: wireguard.endpoint,
            allowed_ips: [`${wireguard.serverAddress}/32`],
            persistent_keepalive: wireguard.keepaliveSeconds,
        },
        mqtt: { url: services.mqttUrl, telemetry_topic: "v1/devices/me/telemetry" },
        hawkbit: {
            url: services.hawkbitUrl,
            tenant: services.hawkbitTenant,
            controller_id: enrolled.deviceId,
            target_token: enrolled.otaToken,
        },
        influxdb: {
            url: services.influxUrl,
            org: services.influxOrg,
            bucket: services.influxBucket,
            token: services.influxToken,
        },
        terminal: { port: ttydPort, ...terminal },
    };
}
