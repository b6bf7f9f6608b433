export {
    HawkbitClient,
    HawkbitClientOptions,
    HawkbitError,
    HawkbitTarget,
    maxSecurityTokenLength,
    tenantConfig,
} from "./client";
