/**
 * The Secrets Manager client and the one operation this function calls (GetSecretValue), for
 * `import()`: named exports keep the bundle to these (see ./sdk-ssm.ts). The webhook's code
 * imports the package only here.
 */
export { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
