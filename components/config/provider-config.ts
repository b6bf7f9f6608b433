import * as pulumi from "@pulumi/pulumi";
import { checkBringYourOwnPki } from "../pki/byo";
import { CommonConfig, optional, parseCommon, parseRole, parseSecret, required } from "./common-config";
import { pulumiRawConfig, RawConfig } from "./raw-config";
import { Problems } from "./validate";

/** The platform's root and intermediate CAs: made by the stack, or brought by the user. */
export type PkiSource =
    | { readonly mode: "generated" }
    | {
          readonly mode: "byo";
          readonly rootCertificate: string;
          readonly intermediateCertificate: string;
          /** The intermediate's private key; a Pulumi secret. */
          readonly intermediateKey: pulumi.Output<string>;
      };

/** The validated configuration of the provider stack. */
export interface ProviderConfig extends CommonConfig {
    readonly role: "provider";
    readonly pki: PkiSource;
}

/** Keys that only a tenant stack may set (they have no default, so any value was set on purpose). */
const tenantOnlyKeys = ["tenantId", "providerStack", "onboardingToken", "vpnImage"];

function parsePki(raw: RawConfig, problems: Problems): PkiSource {
    const mode = required(raw, "pkiMode", problems);
    const byoKeys = ["pkiRootCertificate", "pkiIntermediateCertificate", "pkiIntermediateKey"];
    if (mode !== "byo") {
        if (mode !== "generated" && mode !== "") {
            problems.add("cdm:pkiMode", `"${mode}" is not one of generated, byo`);
        }
        for (const key of byoKeys.filter((k) => optional(raw, k) !== undefined)) {
            problems.add(`cdm:${key}`, 'applies only when cdm:pkiMode is "byo"');
        }
        return { mode: "generated" };
    }
    const root = required(raw, "pkiRootCertificate", problems, 'is required when cdm:pkiMode is "byo"');
    const intermediate = required(
        raw,
        "pkiIntermediateCertificate",
        problems,
        'is required when cdm:pkiMode is "byo"',
    );
    const key = parseSecret(raw, "pkiIntermediateKey", problems);
    if (optional(raw, "pkiIntermediateKey") === undefined) {
        problems.add("cdm:pkiIntermediateKey", 'is required when cdm:pkiMode is "byo"');
    }
    if (root && intermediate && key) {
        for (const problem of checkBringYourOwnPki(root, intermediate, raw.get("pkiIntermediateKey")!)) {
            const [name, ...rest] = problem.split(": ");
            problems.add(name, rest.join(": "));
        }
    }
    return {
        mode: "byo",
        rootCertificate: root,
        intermediateCertificate: intermediate,
        intermediateKey: key ?? pulumi.secret(""),
    };
}

/** Parses and validates the provider stack's configuration; throws ConfigError listing every problem. */
export function parseProviderConfig(raw: RawConfig): ProviderConfig {
    const problems = new Problems();
    const role = parseRole(raw, problems);
    if (role !== undefined && role !== "provider") {
        problems.add("cdm:role", `is "${role}", but a provider configuration was requested`);
    }
    for (const key of tenantOnlyKeys) {
        if ((raw.get(key) ?? "") !== "") {
            problems.add(`cdm:${key}`, "applies to tenant stacks only; remove it from the provider stack");
        }
    }
    const common = parseCommon(raw, "provider", "cdm-provider", problems);
    const pki = parsePki(raw, problems);
    problems.throwIfAny();
    return { ...common, role: "provider", pki };
}

/** Reads the provider stack's configuration from the Pulumi runtime. */
export function loadProviderConfig(): ProviderConfig {
    return parseProviderConfig(pulumiRawConfig());
}
