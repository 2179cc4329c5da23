/**
 * The SSM client and the one operation this function calls (GetParameter), for `import()`. Named
 * exports, so that the bundle keeps only these of the client's some 150 operations: `import()` of
 * the package itself keeps them all, a much larger bundle for a cold start that reads its token or
 * rules from SSM (docs/performance.md, fourteenth pass). The webhook's code imports the package
 * only here (the deploy-time token function, src/lambda/token-resource.ts, is built apart and uses
 * the runtime's SDK).
 */
export { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
