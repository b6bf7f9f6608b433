/**
 * Who is who in a tenant's ThingsBoard, shared by the component, the bootstrap Job, the rule
 * chain and the tenant bridge's login mapper (runtime/bridge/thingsboard-login.ts). Pure.
 */

/** The e-mail ThingsBoard's installer gives the system administrator. */
export const sysadminEmail = "sysadmin@thingsboard.org";

/** The realm's client tb-node logs users in with; its access tokens carry `azp` = this. */
export const thingsboardClientId = "thingsboard";

/**
 * The customer whose users are the tenant's operators. The rule chain assigns every device to it
 * when the device connects; the login mapper puts operators in it.
 */
export const operatorsCustomer = "Operators";

/** The user name ThingsBoard's mapper client presents to the bridge (its service name there). */
export const mapperUsername = "thingsboard";

/** The tenant administrator the bootstrap makes (password login, for automation). */
export function tenantAdminEmail(thingsOrigin: string): string {
    return `admin@${new URL(thingsOrigin).host}`;
}

/**
 * ThingsBoard's own accounts. ThingsBoard finds the user of a login by e-mail alone, whatever
 * its authority, so no Keycloak login may be mapped to one of these.
 */
export function localAccounts(thingsOrigin: string): string[] {
    return [sysadminEmail, tenantAdminEmail(thingsOrigin)];
}
