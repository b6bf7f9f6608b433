import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import { federationGate } from "./model";

/**
 * Renders the federation's post-login flow (components/keycloak/model.ts `federationGate`): the
 * flow, its conditional sub-flow with the negated role condition and the denial, then the step
 * that lets everyone else through. Answers the flow's alias and the last resource, which the
 * identity provider waits for (it names the flow).
 */
export function renderFederationGate(
    name: string,
    realmId: pulumi.Input<string>,
    gate: ReturnType<typeof federationGate>,
    opts: pulumi.CustomResourceOptions,
): { flowAlias: pulumi.Output<string>; complete: pulumi.Resource } {
    const flow = new keycloak.authentication.Flow(
        name,
        { realmId, alias: gate.flow, providerId: "basic-flow" },
        opts,
    );
    const subflow = new keycloak.authentication.Subflow(
        `${name}-staff-only`,
        {
            realmId,
            parentFlowAlias: flow.alias,
            alias: gate.subflow,
            providerId: "basic-flow",
            requirement: "CONDITIONAL",
            priority: 10,
        },
        opts,
    );
    /** A required step of `parent`, run in `priority` order, made after `after`. */
    const step = (
        role: string,
        parent: pulumi.Input<string>,
        authenticator: string,
        priority: number,
        after?: pulumi.Resource,
    ) =>
        new keycloak.authentication.Execution(
            `${name}-${role}`,
            { realmId, parentFlowAlias: parent, authenticator, requirement: "REQUIRED", priority },
            after ? { ...opts, dependsOn: [after] } : opts,
        );
    const condition = step("condition", subflow.alias, gate.condition.authenticator, 10);
    new keycloak.authentication.ExecutionConfig(
        `${name}-condition-config`,
        {
            realmId,
            executionId: condition.id,
            alias: `${gate.flow}-condition`,
            config: { ...gate.condition.config },
        },
        opts,
    );
    step("deny", subflow.alias, gate.deny.authenticator, 20, condition);
    const allow = step("allow", flow.alias, gate.allow.authenticator, 20, subflow);
    return { flowAlias: flow.alias, complete: allow };
}
