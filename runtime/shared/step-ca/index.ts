export { ChainError, ChainInput, verifyChain } from "./chain";
export {
    alreadyRevoked,
    ClientIdentity,
    SignResponse,
    StepCaClient,
    StepCaClientOptions,
    StepCaError,
} from "./client";
export { createToken, ProvisionerKey, TokenRequest } from "./token";
