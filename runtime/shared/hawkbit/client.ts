/**
 * A small client for hawkBit's management API (`/rest/v1`), as the tenant bridge uses it: OTA
 * targets with their DDI security tokens, and the tenant configuration the platform sets.
 * Checked against a real hawkBit 0.3.0M7 (tests/integration/hawkbit.test.ts); the calls are the
 * ones hawkBit 1.x documents in the same form.
 */

/**
 * A refused call, or one that got no answer. `status` is hawkBit's HTTP status, 0 when hawkBit did
 * not answer (refused connection, timeout). The message names the method and path, never the
 * password or a token.
 */
export class HawkbitError extends Error {
    constructor(
        readonly status: number,
        message: string,
        /** hawkBit's error code, e.g. `hawkbit.server.error.repo.entitiyNotFound`, when it sent one. */
        readonly code?: string,
    ) {
        super(message);
        this.name = "HawkbitError";
    }
}

/** Where hawkBit's management API is and who the client is there. */
export interface HawkbitClientOptions {
    /** Base URL, e.g. `http://hawkbit.cdm-tenant-acme.svc.cluster.local:8080`. */
    readonly url: string;
    /** A management API user (HTTP Basic). */
    readonly username: string;
    readonly password: string;
    /** hawkBit's tenant, the first segment of DDI paths; `DEFAULT` unless hawkBit is multi-tenant. */
    readonly tenant?: string;
    /** Per-request timeout; 10 s unless given. */
    readonly timeoutMs?: number;
}

/** A target as the management API shows it (the fields the platform uses). */
export interface HawkbitTarget {
    readonly controllerId: string;
    readonly name: string;
    /** Shown to users with the READ_TARGET_SECURITY_TOKEN permission only. */
    readonly securityToken?: string;
}

/** The longest security token hawkBit accepts. */
export const maxSecurityTokenLength = 128;

/**
 * The tenant configuration the platform sets on every hawkBit: devices poll every 30 s (hawkBit's
 * minimum) and authenticate with their own target token; the shared gateway token stays off.
 * Target-token authentication must also be enabled system-wide
 * (`hawkbit.server.ddi.security.authentication.targettoken.enabled=true`), or the tenant key has no effect.
 */
export function tenantConfig(): Record<string, unknown> {
    return {
        pollingTime: "00:00:30",
        "authentication.targettoken.enabled": true,
        "authentication.gatewaytoken.enabled": false,
    };
}

/** hawkBit's management API: targets and tenant configuration. */
export class HawkbitClient {
    /** hawkBit's tenant (DDI paths start with it). */
    readonly tenant: string;
    private readonly base: string;
    private readonly timeoutMs: number;
    // ES private: left out of util.inspect and JSON, so logging the client shows no credentials.
    readonly #password: string;
    readonly #authorization: string;

    constructor(options: HawkbitClientOptions) {
        this.base = options.url.replace(/\/+$/, "");
        this.tenant = options.tenant ?? "DEFAULT";
        this.timeoutMs = options.timeoutMs ?? 10_000;
        this.#password = options.password;
        this.#authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString("base64")}`;
    }

    /** The DDI root resource a device with this controller ID polls. */
    ddiUrl(controllerId: string): string {
        return `${this.base}/${encodeURIComponent(this.tenant)}/controller/v1/${encodeURIComponent(controllerId)}`;
    }

    /**
     * Creates the target with this security token, or, when it exists (hawkBit answers 409), sets
     * its name and token: afterwards the device authenticates with `securityToken` either way.
     */
    async ensureTarget(
        controllerId: string,
        name: string,
        securityToken: string,
    ): Promise<"created" | "updated"> {
        // hawkBit makes up a token of its own for an empty one.
        if (securityToken.length === 0 || securityToken.length > maxSecurityTokenLength)
            throw new RangeError(`security token must have 1 to ${maxSecurityTokenLength} characters`);
        const secrets = [securityToken];
        const created = await this.call("POST", "/rest/v1/targets", [{ controllerId, name, securityToken }], {
            secrets,
            tolerate: [409],
        });
        if (created.status !== 409) return "created";
        await this.call("PUT", targetPath(controllerId), { name, securityToken }, { secrets });
        return "updated";
    }

    /** The target, or undefined when hawkBit has none with this controller ID. */
    async getTarget(controllerId: string): Promise<HawkbitTarget | undefined> {
        const answer = await this.call("GET", targetPath(controllerId), undefined, { tolerate: [404] });
        if (answer.status === 404) return undefined;
        const t = answer.body as { controllerId: string; name: string; securityToken?: string };
        return {
            controllerId: t.controllerId,
            name: t.name,
            ...(t.securityToken === undefined ? {} : { securityToken: t.securityToken }),
        };
    }

    /** Deletes the target with its actions; false when there was none. */
    async deleteTarget(controllerId: string): Promise<boolean> {
        const answer = await this.call("DELETE", targetPath(controllerId), undefined, { tolerate: [404] });
        return answer.status !== 404;
    }

    /**
     * Sets tenant configuration values, key by key (`PUT /rest/v1/system/configs/{key}`); hawkBit
     * 0.3 has no batch form. hawkBit validates each value, e.g. a pollingTime below its minimum is a 400.
     */
    async applyTenantConfig(config: Record<string, unknown>): Promise<void> {
        for (const [key, value] of Object.entries(config)) {
            await this.call("PUT", `/rest/v1/system/configs/${encodeURIComponent(key)}`, { value });
        }
    }

    private async call(
        method: string,
        path: string,
        body: unknown,
        { secrets = [], tolerate = [] }: { secrets?: string[]; tolerate?: number[] } = {},
    ): Promise<{ status: number; body: unknown }> {
        const what = `${method} ${path}`;
        let response: Response;
        let text: string;
        try {
            response = await fetch(`${this.base}${path}`, {
                method,
                headers: {
                    authorization: this.#authorization,
                    accept: "application/json",
                    ...(body === undefined ? {} : { "content-type": "application/json" }),
                },
                body: body === undefined ? undefined : JSON.stringify(body),
                signal: AbortSignal.timeout(this.timeoutMs),
            });
            text = await response.text();
        } catch (error) {
            const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
            const reason =
                (error as Error).name === "TimeoutError"
                    ? `no answer in ${this.timeoutMs} ms`
                    : (cause?.code ?? cause?.message ?? (error as Error).message);
            throw new HawkbitError(0, `hawkBit did not answer ${what}: ${reason}`);
        }
        let parsed: unknown = undefined;
        try {
            parsed = text ? JSON.parse(text) : undefined;
        } catch {
            parsed = { message: text.slice(0, 200) };
        }
        if (response.ok || tolerate.includes(response.status))
            return { status: response.status, body: parsed };
        const e = (parsed ?? {}) as { message?: string; error?: string; errorCode?: string };
        const detail = redact(e.message || e.error || response.statusText, [this.#password, ...secrets]);
        throw new HawkbitError(
            response.status,
            `hawkBit answered ${response.status} to ${what}${detail ? `: ${detail}` : ""}`,
            e.errorCode,
        );
    }
}

function targetPath(controllerId: string): string {
    return `/rest/v1/targets/${encodeURIComponent(controllerId)}`;
}

/** hawkBit's messages name identifiers; make sure none of them is a secret. */
function redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const s of secrets) if (s) out = out.split(s).join("***");
    return out.slice(0, 300);
}
