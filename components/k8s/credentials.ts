/**
 * Names that hold credentials: env variables and ConfigMap keys ending in one of these words
 * must come from a Secret. `TOKEN_TTL` or `password-policy.json` are not credentials;
 * `DB_PASSWORD`, `api-token` and `tls.private-key` are.
 */
const credentialName = /(password|passwd|secret|token|api[-_.]?key|private[-_.]?key|credentials?)$/i;

/** True when `name` names a credential. */
export function isCredentialName(name: string): boolean {
    return credentialName.test(name);
}
