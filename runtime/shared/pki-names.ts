/**
 * The names the platform's certificates carry, in one place: the tenant stack puts them in its
 * Sub-CA request, the provider bridge checks them before signing, step-ca's templates turn them
 * into name constraints, and the tenant bridge puts a device's name into its token.
 *
 * A tenant Sub-CA may only issue names under its own tenant: its devices, its own step-ca
 * Service and its public endpoints (`<service>.<tenant>.<domain>`). Verifiers enforce this through the Sub-CA's (critical) name constraints, so one
 * tenant's Sub-CA key can never vouch for another tenant's or the platform's names.
 */

/** Subject common name of a tenant's Sub-CA. */
export function subCaCommonName(tenantId: string): string {
    return `${tenantId}.sub-ca.cdm-platform`;
}

/** DNS domain under which a tenant's device certificates are named. */
export function deviceDomain(tenantId: string): string {
    return `${tenantId}.devices.cdm-platform`;
}

/** The DNS name (SAN) of a device certificate; its common name is the device id itself. */
export function deviceDnsName(tenantId: string, deviceId: string): string {
    return `${deviceId}.${deviceDomain(tenantId)}`;
}

/** The in-cluster names of the step-ca Service of `namespace` (its TLS names and token audiences). */
export function stepCaServiceNames(namespace: string): string[] {
    return [`step-ca.${namespace}`, `step-ca.${namespace}.svc`, `step-ca.${namespace}.svc.cluster.local`];
}

/** The DNS subtree of a tenant's public endpoints (`ota.<tenant>.<domain>` and the others). */
export function tenantPublicDomain(tenantId: string, domain: string): string {
    return `${tenantId}.${domain}`;
}

/**
 * The DNS subtrees a tenant's Sub-CA is constrained to: its devices, its step-ca Service and
 * its public endpoints (so that the tenant serves them with certificates devices already
 * trust). They are the Sub-CA request's DNS names, which the CA-capable provisioner's template
 * copies into the certificate's name constraints.
 */
export function subCaPermittedNames(tenantId: string, namespace: string, domain: string): string[] {
    return [deviceDomain(tenantId), ...stepCaServiceNames(namespace), tenantPublicDomain(tenantId, domain)];
}
