// A minimal stand-in for the Lambda Node.js runtime, for the artifact tests: it imports one synthesized
// bundle (the `index.mjs` CDK would upload), then invokes its `handler` for each event the parent sends over
// the IPC channel and answers with the result or the error's name and message. Everything the bundle
// writes (its log lines) stays on stdout, as in Lambda.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [bundle, functionName] = process.argv.slice(2);
const { handler } = await import(pathToFileURL(bundle).href);

process.on('message', async ({ id, event }) => {
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 10_000,
  };
  try {
    process.send({ id, result: await handler(event, context) });
  } catch (error) {
    process.send({ id, error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } });
  }
});
process.send({ ready: true });
