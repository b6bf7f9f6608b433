/** The permissions a tenant's metrics publisher gets on the provider RabbitMQ. */
import { expect, it } from "vitest";
import { publisherPermissions } from "../../../runtime/shared/rabbitmq-admin";
import { literal } from "../../../runtime/shared/regex";

it("lets a publisher write only to the telemetry exchange, only under its tenant's routing keys", () => {
    expect(
        publisherPermissions({
            vhost: "cdm-metrics",
            exchange: "cdm.telemetry",
            routingKeyPrefix: "tenant.acme.",
        }),
    ).toEqual({
        permissions: { configure: "^$", write: "^cdm\\.telemetry$", read: "^$" },
        topic: { exchange: "cdm.telemetry", write: "^tenant\\.acme\\.", read: "^$" },
    });
    const prefix = new RegExp(
        publisherPermissions({ vhost: "v", exchange: "x", routingKeyPrefix: "tenant.acme." }).topic.write,
    );
    expect(
        ["tenant.acme.dev-1", "tenant.acmex.dev-1", "tenantXacme.dev-1", "tenant.globex.dev-1"].map((k) =>
            prefix.test(k),
        ),
    ).toEqual([true, false, false, false]);
    expect(literal("a.b*c+(d)[e]$^|?{f}\\")).toBe("a\\.b\\*c\\+\\(d\\)\\[e\\]\\$\\^\\|\\?\\{f\\}\\\\");
});
