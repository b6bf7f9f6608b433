import { randomBytes } from "node:crypto";
import { sha256 } from "../shared/digest";
import { checkSignedSubCa } from "../shared/sub-ca-check";
import { isDnsLabel, isDnsName } from "../../components/config/validate";
import { SubCaResponse } from "../shared/onboarding";
import { subCaCommonName, subCaPermittedNames } from "../shared/pki-names";
import { alreadyRevoked, createToken, ProvisionerKey, StepCaClient } from "../shared/step-ca";
import { x509 } from "../shared/x509";
import { Database, Queryable } from "./db/database";
import { ApiError, callPeer } from "./errors";

/** What the provider bridge signs Sub-CAs with. */
export interface SubCaSigning {
    readonly db: Database;
    readonly stepCa: StepCaClient;
    /** Host of the token audience: one of the provider CA's DNS names. */
    readonly audienceHost: string;
    /** The CA-capable provisioner (`tenant-sub-ca`). */
    readonly provisioner: ProvisionerKey;
    readonly rootPem: string;
    readonly intermediatePem: string;
}

const tokenPrefix = "cdm_ot_";

/** A registered tenant and its onboarding credential, shown this once. */
export interface RegisteredTenant {
    readonly tenantId: string;
    readonly namespace: string;
    readonly onboardingToken: string;
}

/** A tenant as a platform admin registers it. */
export interface TenantRegistration {
    readonly id: string;
    /** The namespace its Sub-CA's step-ca Service names are in. */
    readonly namespace: string;
    /** The domain its public names are under (`auth.<id>.<domain>` is its Keycloak). */
    readonly domain: string;
}

/**
 * Registers a tenant (a platform admin does this once per tenant): fixes the namespace its
 * Sub-CA is constrained to and the domain its federation redirect is derived from, and issues
 * the tenant's own onboarding credential, which works for this tenant's onboarding routes only.
 */
export async function registerTenant(
    db: Database,
    tenant: TenantRegistration,
    actor: string,
): Promise<RegisteredTenant> {
    const { id: tenantId, namespace, domain } = tenant;
    if (!isDnsLabel(tenantId))
        throw new ApiError(400, "invalid_tenant_id", `"${tenantId}" is not a DNS label`);
    if (!isDnsLabel(namespace))
        throw new ApiError(400, "invalid_namespace", `"${namespace}" is not a namespace name`);
    if (!isDnsName(domain)) throw new ApiError(400, "invalid_domain", `"${domain}" is not a DNS name`);
    const onboardingToken = `${tokenPrefix}${randomBytes(32).toString("base64url")}`;
    return db.transaction(async (tx) => {
        const { rows } = await tx.query(
            `INSERT INTO tenants (id, namespace, domain, onboarding_token_hash, created_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING RETURNING id`,
            [tenantId, namespace, domain, sha256(onboardingToken), actor],
        );
        if (rows.length === 0)
            throw new ApiError(409, "tenant_exists", `tenant ${tenantId} is already registered`);
        await tenantEvent(tx, tenantId, "registered", actor, { namespace, domain });
        return { tenantId, namespace, onboardingToken };
    });
}

/** A registered tenant as its onboarding routes need it. */
export interface TenantRecord {
    readonly namespace: string;
    readonly domain: string;
}

/** The tenant this onboarding credential belongs to; 401/403 otherwise. */
export async function authenticateTenant(
    db: Database,
    tenantId: string,
    token: string,
): Promise<TenantRecord> {
    const { rows } = await db.query<{ id: string; namespace: string; domain: string }>(
        "SELECT id, namespace, domain FROM tenants WHERE onboarding_token_hash = $1",
        [sha256(token)],
    );
    if (rows.length === 0)
        throw new ApiError(401, "unauthenticated", "the onboarding credential is not valid");
    if (rows[0].id !== tenantId) {
        throw new ApiError(403, "forbidden", `the onboarding credential is not for tenant ${tenantId}`);
    }
    return { namespace: rows[0].namespace, domain: rows[0].domain };
}

/**
 * Checks a Sub-CA request: it verifies, its key is EC P-256, its subject names the tenant's
 * Sub-CA, and its DNS names are exactly the tenant's permitted names (they become the
 * certificate's name constraints, so nothing else may slip in). Returns the public key (PEM).
 */
export async function checkSubCaCsr(
    pem: string,
    tenantId: string,
    namespace: string,
    domain: string,
): Promise<string> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
        csr = new x509.Pkcs10CertificateRequest(pem);
    } catch {
        throw new ApiError(400, "csr_refused", "csr_pem is not a PEM certificate request");
    }
    if (!(await csr.verify())) throw new ApiError(400, "csr_refused", "csr_pem is not signed by its own key");
    const cn = csr.subjectName.getField("CN");
    if (cn.length !== 1 || cn[0] !== subCaCommonName(tenantId)) {
        throw new ApiError(400, "csr_refused", `the request's CN must be ${subCaCommonName(tenantId)}`);
    }
    const algorithm = csr.publicKey.algorithm as { name: string; namedCurve?: string };
    if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
        throw new ApiError(400, "csr_refused", "a Sub-CA key must be EC P-256");
    }
    const sanExtension = csr.extensions.find((e) => e.type === "2.5.29.17");
    const names = sanExtension
        ? new x509.SubjectAlternativeNameExtension(sanExtension.rawData).names.items
        : [];
    const dns = names.filter((n) => n.type === "dns").map((n) => n.value);
    const expected = subCaPermittedNames(tenantId, namespace, domain);
    if (dns.length !== names.length || [...dns].sort().join() !== [...expected].sort().join()) {
        throw new ApiError(400, "csr_refused", `the request's names must be exactly ${expected.join(", ")}`);
    }
    return csr.publicKey.toString("pem");
}

/** Signs a tenant's Sub-CA at the provider step-ca and checks the result as the tenant will. */
export async function signSubCa(
    s: SubCaSigning,
    tenantId: string,
    csrPem: string,
    tenant: { readonly namespace: string; readonly domain: string },
    actor: string,
): Promise<SubCaResponse> {
    const { namespace, domain } = tenant;
    const publicKeyPem = await checkSubCaCsr(csrPem, tenantId, namespace, domain);
    const permittedNames = subCaPermittedNames(tenantId, namespace, domain);
    const token = await createToken(s.provisioner, {
        caDnsName: s.audienceHost,
        subject: subCaCommonName(tenantId),
        sans: permittedNames,
    });
    const signed = await callPeer("step-ca", () => s.stepCa.sign(csrPem, token));
    const answer: SubCaResponse = { certificate_pem: signed.certificate, chain_pem: [...signed.chain] };
    const serial = new x509.X509Certificate(signed.certificate).serialNumber.toLowerCase();
    try {
        const problem = checkSignedSubCa(answer, {
            tenantId,
            publicKeyPem,
            permittedNames,
            issuerPem: s.intermediatePem,
            rootPem: s.rootPem,
        });
        if (problem) {
            throw new ApiError(
                502,
                "certificate_authority_refused",
                `step-ca's Sub-CA is not acceptable: ${problem}`,
            );
        }
        await s.db.transaction(async (tx) => {
            await tx.query(
                "INSERT INTO sub_ca_certificates (serial, tenant_id, not_after) VALUES ($1, $2, $3)",
                [serial, tenantId, new x509.X509Certificate(signed.certificate).notAfter],
            );
            await tenantEvent(tx, tenantId, "sub-ca signed", actor, { serial });
        });
    } catch (error) {
        // A Sub-CA nobody keeps a record of (or nobody may use) must not stay valid.
        await revokeAtCa(s, serial, "Sub-CA not handed out").catch(() => undefined);
        throw error;
    }
    return answer;
}

/** Revokes one of the tenant's Sub-CA certificates; 404 when it is not the tenant's (or already revoked). */
export async function revokeSubCa(
    s: SubCaSigning,
    tenantId: string,
    serialHex: string,
    actor: string,
): Promise<void> {
    const serial = serialHex.toLowerCase();
    await s.db.transaction(async (tx) => {
        const { rows } = await tx.query(
            "UPDATE sub_ca_certificates SET revoked_at = now() WHERE serial = $1 AND tenant_id = $2 AND revoked_at IS NULL RETURNING serial",
            [serial, tenantId],
        );
        if (rows.length === 0) {
            throw new ApiError(
                404,
                "sub_ca_not_found",
                `tenant ${tenantId} has no unrevoked Sub-CA with serial ${serial}`,
            );
        }
        await revokeAtCa(s, serial, "tenant Sub-CA replaced or removed");
        await tenantEvent(tx, tenantId, "sub-ca revoked", actor, { serial });
    });
}

/** Revokes a certificate at the provider CA; one step-ca already revoked counts as revoked. */
async function revokeAtCa(s: SubCaSigning, serialHex: string, reason: string): Promise<void> {
    const decimal = BigInt(`0x${serialHex}`).toString(10);
    const token = await createToken(s.provisioner, {
        caDnsName: s.audienceHost,
        subject: decimal,
        action: "revoke",
    });
    await callPeer("step-ca", async () => {
        try {
            await s.stepCa.revoke(decimal, token, reason);
        } catch (error) {
            if (!alreadyRevoked(error)) throw error;
        }
    });
}

/** Appends to a tenant's audit trail. */
export async function tenantEvent(
    tx: Queryable,
    tenantId: string,
    kind: string,
    actor: string,
    details: Record<string, unknown>,
): Promise<void> {
    await tx.query("INSERT INTO tenant_events (tenant_id, kind, actor, details) VALUES ($1, $2, $3, $4)", [
        tenantId,
        kind,
        actor,
        JSON.stringify(details),
    ]);
}
