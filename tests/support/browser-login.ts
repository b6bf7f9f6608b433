/**
 * Drives Keycloak's browser login over plain HTTP, as a browser would: the authorization code
 * flow with PKCE, the login form, and (with `idpHint`) the broker round trip through another
 * realm. Cookies are kept per path, as Keycloak scopes them per realm.
 */
import { createHash, randomBytes } from "node:crypto";
import { oidcEndpoints } from "../../components/keycloak/model";

export interface LoginRequest {
    /** Issuer of the realm the client belongs to. */
    readonly issuer: string;
    readonly clientId: string;
    readonly clientSecret?: string;
    readonly redirectUri: string;
    /** Credentials typed into the login form (of the brokered realm with `idpHint`). */
    readonly username: string;
    readonly password: string;
    /** Identity provider alias to log in through. */
    readonly idpHint?: string;
}

export interface Tokens {
    readonly access_token: string;
    readonly id_token: string;
    readonly refresh_token: string;
}

class CookieJar {
    private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

    store(response: Response): void {
        for (const header of response.headers.getSetCookie()) {
            const [pair, ...attributes] = header.split(";").map((s) => s.trim());
            const [name, ...value] = pair.split("=");
            const path = attributes.find((a) => a.toLowerCase().startsWith("path="))?.slice(5) ?? "/";
            this.cookies.set(`${name}@${path}`, { name, value: value.join("="), path });
        }
    }

    header(url: string): string {
        const path = new URL(url).pathname;
        return [...this.cookies.values()]
            .filter((c) => path.startsWith(c.path.replace(/\/$/, "")) && c.value !== "")
            .map((c) => `${c.name}=${c.value}`)
            .join("; ");
    }
}

function decodeEntities(text: string): string {
    return text
        .replace(/&amp;/g, "&")
        .replace(/&#x3D;/g, "=")
        .replace(/&quot;/g, '"');
}

/** Logs in and returns the client's tokens; throws with the page's title when a step fails. */
export async function browserLogin(request: LoginRequest): Promise<Tokens> {
    const jar = new CookieJar();
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const endpoints = oidcEndpoints(request.issuer);
    const params = new URLSearchParams({
        client_id: request.clientId,
        redirect_uri: request.redirectUri,
        response_type: "code",
        scope: "openid",
        state: randomBytes(8).toString("hex"),
        nonce: randomBytes(8).toString("hex"),
        code_challenge: challenge,
        code_challenge_method: "S256",
        ...(request.idpHint ? { kc_idp_hint: request.idpHint } : {}),
    });
    let url = `${endpoints.authorizationUrl}?${params}`;
    let init: RequestInit = {};
    for (let step = 0; step < 20; step++) {
        const response = await fetch(url, {
            ...init,
            redirect: "manual",
            headers: { ...init.headers, cookie: jar.header(url) },
        });
        jar.store(response);
        const location = response.headers.get("location");
        if (location?.startsWith(request.redirectUri)) {
            const code = new URL(location).searchParams.get("code");
            if (!code) throw new Error(`redirected without a code: ${location}`);
            return exchange(endpoints.tokenUrl, request, code, verifier);
        }
        if (location) {
            url = new URL(location, url).toString();
            init = {};
            continue;
        }
        const html = await response.text();
        const form = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html);
        if (!form) {
            const title = /<title>([^<]*)<\/title>/.exec(html)?.[1] ?? `status ${response.status}`;
            const error = /class="[^"]*(?:alert|kc-feedback)[^"]*"[^>]*>([\s\S]{0,300})/
                .exec(html)?.[1]
                ?.replace(/<[^>]+>/g, " ")
                .trim();
            throw new Error(`login stopped at "${title}"${error ? `: ${error.replace(/\s+/g, " ")}` : ""}`);
        }
        if (init.method === "POST") {
            // The form came back after we posted it: the credentials were refused.
            const error = /class="[^"]*kc-feedback-text[^"]*"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
            throw new Error(`login refused: ${decodeEntities(error ?? "no message")}`);
        }
        url = decodeEntities(form[1]);
        init = {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
                username: request.username,
                password: request.password,
                credentialId: "",
            }).toString(),
        };
    }
    throw new Error("login did not finish in 20 steps");
}

async function exchange(
    tokenUrl: string,
    request: LoginRequest,
    code: string,
    verifier: string,
): Promise<Tokens> {
    const response = await fetch(tokenUrl, {
        method: "POST",
        body: new URLSearchParams({
            grant_type: "authorization_code",
            code,
            redirect_uri: request.redirectUri,
            client_id: request.clientId,
            code_verifier: verifier,
            ...(request.clientSecret ? { client_secret: request.clientSecret } : {}),
        }),
    });
    const body = (await response.json()) as Tokens & { error?: string };
    if (!response.ok) throw new Error(`token exchange failed: ${response.status} ${JSON.stringify(body)}`);
    return body;
}
