import { subCaCommonName } from "../../runtime/shared/pki-names";

/**
 * The shape of the platform's certificate hierarchy, as data: the program creates the CAs from
 * it, the step-ca configuration enforces it, and the integration tests build a hierarchy with
 * the same shapes to run against a real step-ca.
 *
 *   root CA (offline by intent)          pathLen 2
 *   └── provider intermediate (step-ca)   pathLen 1
 *       └── tenant Sub-CA (step-ca)       pathLen 0
 *           └── device certificate        leaf, clientAuth
 */

/** One CA level of the hierarchy. */
export interface CaProfile {
    /** Subject common name. */
    readonly commonName: string;
    /** ECDSA curve of the CA key. */
    readonly curve: "P256" | "P384";
    /** Validity in hours. */
    readonly validityHours: number;
    /** How many CA certificates may follow this one in a chain. */
    readonly maxPathLength: number;
}

const hoursPerYear = 24 * 365;

/** The platform's root CA: long-lived, kept offline by intent, two CA levels below it. */
export const rootProfile: CaProfile = {
    commonName: "cdm-platform Root CA",
    curve: "P384",
    validityHours: 20 * hoursPerYear,
    maxPathLength: 2,
};

/** The provider intermediate that runs in the provider step-ca; one CA level (Sub-CAs) below it. */
export const intermediateProfile: CaProfile = {
    commonName: "cdm-platform Provider Intermediate CA",
    curve: "P384",
    validityHours: 10 * hoursPerYear,
    maxPathLength: 1,
};

/** A tenant's Sub-CA, signed by the provider intermediate; issues device certificates only. */
export function subCaProfile(tenantId: string): CaProfile {
    return {
        commonName: subCaCommonName(tenantId),
        curve: "P256",
        validityHours: 5 * hoursPerYear,
        maxPathLength: 0,
    };
}

/** Key usages of every CA certificate: signing certificates and CRLs, nothing else. */
export const caAllowedUses = ["cert_signing", "crl_signing"] as const;

/** Organisation named in every CA subject. */
export const organization = "cdm-platform";

/** Go duration string for a number of hours, as step-ca's claims expect. */
export function hours(n: number): string {
    return `${n}h`;
}

/** Lifetimes the provider's Sub-CA provisioner allows: exactly the Sub-CA profile's, no renewal. */
export function subCaClaims(tenantId = "any") {
    const lifetime = hours(subCaProfile(tenantId).validityHours);
    return { minDuration: "5m", defaultDuration: lifetime, maxDuration: lifetime, allowRenewal: false };
}

/** Lifetimes of device certificates: short by default, renewable over mTLS before they expire. */
export function deviceClaims(lifetime: string, maxLifetime: string) {
    return { minDuration: "5m", defaultDuration: lifetime, maxDuration: maxLifetime, allowRenewal: true };
}
