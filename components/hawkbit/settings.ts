/**
 * The platform's hawkBit settings as data, rendered for the two hawkBit generations it runs: the
 * deployed image (hawkBit 1.x) and the integration tests' build (0.3.0M7, the newest release whose
 * modules are on Maven Central: scripts/peers/hawkbit.sh). Both get the same settings; only some
 * property names differ. Pulumi-free: the Hawkbit component and the test support render from here.
 */

/** The hawkBit generations the settings are rendered for. */
export type HawkbitGeneration = "1.x" | "0.3";

/** A Spring property value, as it goes into `SPRING_APPLICATION_JSON`. */
export type PropertyValue = string | number | boolean;

/** hawkBit's tenant: each platform tenant has a hawkBit of its own, with hawkBit's default tenant. */
export const hawkbitTenant = "DEFAULT";

/** Where the deployed image keeps artifacts (its working directory's `artifactrepo`), on a volume. */
export const artifactDirectory = "/app/artifactrepo";

/** What the tenant bridge's hawkBit user may do: targets with their tokens, tenant configuration. */
export const bridgePermissions = [
    "READ_TARGET",
    "READ_TARGET_SECURITY_TOKEN",
    "CREATE_TARGET",
    "UPDATE_TARGET",
    "DELETE_TARGET",
    "TENANT_CONFIGURATION",
] as const;

/** A management API user: every permission of the tenant, or exactly the listed ones. */
export interface HawkbitUser {
    readonly username: string;
    readonly permissions: "all" | readonly string[];
}

/** The management API users: the tenant admin (operators) and the bridge's least-privilege user. */
export const hawkbitUsers = {
    // 1.x ships `admin`/`{noop}admin` and environment variables cannot remove a user, so the
    // platform's admin is that user, with a generated password.
    admin: { username: "admin", permissions: "all" },
    bridge: { username: "bridge", permissions: bridgePermissions },
} as const satisfies Record<string, HawkbitUser>;

export type HawkbitUserName = keyof typeof hawkbitUsers;

const userNames = Object.keys(hawkbitUsers) as HawkbitUserName[];

/** hawkBit's limits on artifacts; the Ingress's request size and the volume's size follow them. */
export const artifactLimits = {
    /** The largest artifact (a RAUC bundle) operators may upload, 1 GiB (hawkBit's default). */
    maxArtifactBytes: 1024 ** 3,
    /** All artifacts together, 20 GiB (hawkBit's default); uploads beyond it are refused. */
    maxStorageBytes: 20 * 1024 ** 3,
} as const;

/**
 * The DoS filter counts requests per client address and second, read (GET) and write apart. The
 * address is the device's public one (X-Forwarded-For, which ingress-nginx sets to the address it
 * was connected from), so every device behind one NAT, a site's or a mobile operator's, counts
 * as one client. The limits are sized for 1,000 devices of the tenant behind one address:
 *   - reads: a device polls every 30 s, and every 5 s while it runs an action; 1,000 devices all
 *     in an action make 200 polls/s on average, 300 leaves room for uneven phases. Idle, the same
 *     devices make 33 polls/s.
 *   - writes: rauc-hawkbit-updater reports about 20 feedback messages per action (download,
 *     checksum, each RAUC progress step, the result) over the minutes an update takes: 1,000
 *     devices updating within 5 minutes write about 67/s, 100 leaves room.
 * A refused device retries after its `retry_wait`, which spreads synchronised devices apart.
 */
export const dosLimits = { maxRead: 300, maxWrite: 100 } as const;

/**
 * Each download request (every resumed range) adds a status entry to the action besides the
 * device's feedback: a flaky link must not run an action into the limit, which would refuse its
 * final result. The limit still bounds the rows a misbehaving device writes per action.
 */
export const maxStatusEntriesPerAction = 1000;

const octet = "\\d{1,3}";
/**
 * Client addresses the DoS filter exempts: in-cluster callers such as the bridge, whose bursts of
 * enrollments are not a device's traffic. They call hawkBit's Service directly, so their address
 * is their pod's: pod networks use private (RFC 1918) or shared (RFC 6598) address space; and
 * loopback. Anchored: hawkBit searches the pattern in the address (`find`), so its own default
 * (unanchored `10\.…`) also exempts public addresses such as 110.x.y.z.
 */
export const dosExemptAddresses = `^(?:${[
    `10\\.${octet}`, // 10.0.0.0/8
    "172\\.(?:1[6-9]|2\\d|3[01])", // 172.16.0.0/12
    "192\\.168", // 192.168.0.0/16
    "100\\.(?:6[4-9]|[7-9]\\d|1[01]\\d|12[0-7])", // 100.64.0.0/10
    `127\\.${octet}`, // 127.0.0.0/8
].join("|")})\\.${octet}\\.${octet}$`;

/** Where a hawkBit runs: what its generated links and its artifact repository depend on. */
export interface HawkbitPlacement {
    /** The origin devices reach DDI at (`https://ota.<tenant>.<domain>`); download links start with it. */
    readonly publicOrigin: string;
    /** Directory of the artifact repository. */
    readonly artifactPath: string;
}

/**
 * The non-secret properties of a hawkBit of `generation` (for `SPRING_APPLICATION_JSON`):
 * devices authenticate with their own target token only, poll at least every 30 s, and are
 * rate limited as `dosLimits` explains; the users exist with their permissions, their passwords
 * go where `passwordSetting` says.
 */
export function hawkbitProperties(
    generation: HawkbitGeneration,
    placement: HawkbitPlacement,
): Record<string, PropertyValue> {
    const origin = new URL(placement.publicOrigin).origin;
    return {
        "hawkbit.server.ddi.security.authentication.targettoken.enabled": true,
        "hawkbit.server.ddi.security.authentication.gatewaytoken.enabled": false,
        // Both off by default; hawkBit's current sources have dropped anonymous DDI, 0.3 has both.
        "hawkbit.server.ddi.security.authentication.anonymous.enabled": false,
        "hawkbit.server.download.anonymous.enabled": false,
        // The bridge sets the tenant's polling time to this minimum (tenantConfig in runtime/shared/hawkbit).
        "hawkbit.controller.minPollingTime": "00:00:30",
        "hawkbit.server.security.dos.filter.enabled": true,
        "hawkbit.server.security.dos.filter.whitelist": dosExemptAddresses,
        "hawkbit.server.security.dos.filter.maxRead": dosLimits.maxRead,
        "hawkbit.server.security.dos.filter.maxWrite": dosLimits.maxWrite,
        "hawkbit.server.security.dos.maxStatusEntriesPerAction": maxStatusEntriesPerAction,
        "hawkbit.server.security.dos.maxArtifactSize": artifactLimits.maxArtifactBytes,
        "hawkbit.server.security.dos.maxArtifactStorage": artifactLimits.maxStorageBytes,
        // Links in DDI answers (deployment, cancellation) follow the proxy's X-Forwarded-* headers;
        // explicit rather than left to Spring Boot's detection of Kubernetes.
        "server.forward-headers-strategy": "native",
        // Download links name the public origin: hawkBit would build them from its own scheme
        // (plain HTTP behind the TLS-terminating ingress), which devices could not follow.
        "hawkbit.artifact.url.protocols.download-http.ref": `${origin}/{tenant}/controller/v1/{controllerId}/softwaremodules/{softwareModuleId}/artifacts/{artifactFileName}`,
        // hawkBit 1.1.0 binds SQL NULLs as varchar, which PostgreSQL refuses for bigint columns
        // (deleting a distribution set fails, eclipse-hawkbit/hawkbit#3266); upstream's fix adds
        // this to the JDBC URL, which here comes from the database's connection Secret.
        "spring.datasource.hikari.data-source-properties.stringtype": "unspecified",
        // 0.x names the artifact directory `…repository.file.path`; hawkBit's 1.x sources are
        // seen with both that and `…artifact.fs.path`, so 1.x gets both (Spring ignores the one
        // nothing binds). Either way the directory is the image's default, the mounted volume.
        "org.eclipse.hawkbit.repository.file.path": placement.artifactPath,
        ...(generation === "1.x" ? { "org.eclipse.hawkbit.artifact.fs.path": placement.artifactPath } : {}),
        ...userProperties(generation),
    };
}

/** The users' non-secret properties: 1.x keys users by name, 0.3 lists them (tenant DEFAULT). */
function userProperties(generation: HawkbitGeneration): Record<string, PropertyValue> {
    return Object.fromEntries(
        userNames.flatMap((name, index): [string, PropertyValue][] => {
            const { username, permissions } = hawkbitUsers[name];
            if (generation === "1.x") {
                const user = `hawkbit.security.user.${username}`;
                return [
                    [`${user}.tenant`, hawkbitTenant],
                    permissions === "all"
                        ? [`${user}.roles`, "TENANT_ADMIN"]
                        : [`${user}.permissions`, permissions.join(",")],
                ];
            }
            const user = `hawkbit.server.im.users[${index}]`;
            return [
                [`${user}.username`, username],
                [`${user}.permissions`, permissions === "all" ? "ALL" : permissions.join(",")],
            ];
        }),
    );
}

/**
 * Where `user`'s stored password (`storedPassword`) goes. 1.x: an environment variable, outside
 * `SPRING_APPLICATION_JSON`, since Spring merges a map's entries across property sources. 0.3:
 * a property beside the user's other ones, since Spring takes a list from one source only.
 */
export function passwordSetting(generation: "1.x", user: HawkbitUserName): { readonly env: string };
export function passwordSetting(generation: "0.3", user: HawkbitUserName): { readonly property: string };
export function passwordSetting(
    generation: HawkbitGeneration,
    user: HawkbitUserName,
): { readonly env: string } | { readonly property: string } {
    const { username } = hawkbitUsers[user];
    return generation === "1.x"
        ? { env: `HAWKBIT_SECURITY_USER_${username.toUpperCase()}_PASSWORD` }
        : { property: `hawkbit.server.im.users[${userNames.indexOf(user)}].password` };
}

/** A password as hawkBit stores it: Spring's `{noop}` marks it as plain text, not a hash. */
export function storedPassword(password: string): string {
    return `{noop}${password}`;
}
