export { ChainError, ChainInput, verifyChain } from "./chain";
export { ClientIdentity, SignResponse, StepCaClient, StepCaClientOptions, StepCaError } from "./client";
export { createToken, ProvisionerKey, TokenRequest } from "./token";
