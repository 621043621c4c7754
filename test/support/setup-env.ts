// Tests never reach AWS: SDK clients get dummy credentials and a region, and DynamoDB clients an explicit
// local endpoint.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
// Lambda runs Node.js 22; the SDK's notice that it will drop Node.js 20 in 2027 is noise in local runs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
