/**
 * The ECR client and the one operation the existence checks call (BatchGetImage), for `import()`:
 * named exports keep the bundle to these (see src/config/sdk-ssm.ts). The webhook's code imports
 * the package only here.
 */
export { BatchGetImageCommand, ECRClient } from '@aws-sdk/client-ecr';
