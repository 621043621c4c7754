#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { HybridAuthStack } from '../lib/hybrid-auth-stack';

const app = new App();
new HybridAuthStack(app, 'HybridAuth', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
