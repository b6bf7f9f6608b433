/**
 * What the telemetry gate lets through. A tenant's broker user may publish only under its own
 * routing keys (`tenant.<id>.<device>`, enforced by RabbitMQ's topic permissions), but the body
 * is the tenant's to write: a tenant admin who edits the rule chain could put another tenant's id
 * in it, and Telegraf takes its `tenant` and `device` tags from the body. So the gate admits a
 * message only when its body names exactly the tenant and device its routing key names, and
 * forwards it byte for byte; anything else goes no further.
 */
import { telemetryMessageKeys } from "../shared/onboarding";

/** Why a message went no further; also the `outcome` label of the gate's counter. */
export type Refusal = "malformed" | "mismatched";

export type Admission =
    | { readonly admitted: true; readonly tenant: string; readonly device: string }
    | {
          readonly admitted: false;
          readonly reason: Refusal;
          /** For the operator's log: what was wrong, naming no metric value. */
          readonly detail: string;
          /** The routing key's tenant, when the key had one. */
          readonly tenant?: string;
      };

const routingKeyPattern = /^tenant\.([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.(.+)$/;

/** Checks one message from the intake queue; pure. */
export function admitTelemetry(routingKey: string, body: Buffer): Admission {
    const key = routingKeyPattern.exec(routingKey);
    if (!key) {
        return {
            admitted: false,
            reason: "malformed",
            detail: `routing key ${JSON.stringify(routingKey)} is not tenant.<id>.<device>`,
        };
    }
    const [, tenant, device] = key;
    let parsed: unknown;
    try {
        parsed = JSON.parse(body.toString("utf8"));
    } catch {
        return { admitted: false, reason: "malformed", detail: "the body is not JSON", tenant };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return { admitted: false, reason: "malformed", detail: "the body is not a JSON object", tenant };
    }
    const claims = parsed as Record<string, unknown>;
    for (const [field, expected] of [
        [telemetryMessageKeys.tenant, tenant],
        [telemetryMessageKeys.device, device],
    ] as const) {
        if (claims[field] !== expected) {
            const found = field in claims ? JSON.stringify(claims[field]) : "nothing";
            return {
                admitted: false,
                reason: "mismatched",
                detail: `the body's ${field} is ${found.slice(0, 80)}, its routing key's ${JSON.stringify(expected)}`,
                tenant,
            };
        }
    }
    return { admitted: true, tenant, device };
}
