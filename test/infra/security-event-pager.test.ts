import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { SECURITY_EVENT_DETAIL_TYPES } from '../../lambda/adapters/security-events';

/**
 * The rule target docs/operations.md gives a fork to paste ("Security events on EventBridge"), synthesized as
 * printed: the block is written next to lib/ (its relative import must resolve) and loaded, and its rule must
 * match what the issuer's publisher puts on the bus, and reach its topic.
 */
const ROOT = path.join(__dirname, '../..');
const GUIDE = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
const SNIPPET = /^```ts\n\/\/ lib\/security-event-pager\.ts\n([\s\S]*?)^```$/m.exec(GUIDE)?.[1];

type Pager = { addSecurityEventPager: (stack: Stack, source: string, email?: string) => Topic };

let template: Template;

beforeAll(() => {
  if (SNIPPET === undefined) throw new Error('docs/operations.md prints no lib/security-event-pager.ts');
  const dir = mkdtempSync(path.join(ROOT, '.snippet-'));
  try {
    const file = path.join(dir, 'security-event-pager.ts');
    writeFileSync(file, SNIPPET);
    const { addSecurityEventPager } = require(file) as Pager;
    const stack = new Stack(new App(), 'Pager', { env: { account: '111111111111', region: 'us-east-1' } });
    addSecurityEventPager(stack, 'hybrid-auth', 'security@example.com');
    template = Template.fromStack(stack);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("matches the issuer's events: its source and the reuse detail-type, on the default bus", () => {
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['hybrid-auth'],
      'detail-type': [SECURITY_EVENT_DETAIL_TYPES.refresh_token_reuse],
    },
    State: 'ENABLED',
    Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^SecurityPager') } })],
  });
  const rule = Object.values(template.findResources('AWS::Events::Rule'))[0] as {
    Properties: Record<string, unknown>;
  };
  expect(rule.Properties.EventBusName).toBeUndefined();
});

test('lets EventBridge publish to the encrypted topic: topic policy and key policy', () => {
  template.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Action: 'sns:Publish',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
        }),
      ]),
    },
  });
  template.hasResourceProperties('AWS::KMS::Key', {
    EnableKeyRotation: true,
    KeyPolicy: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          Principal: { Service: 'events.amazonaws.com' },
        }),
      ]),
    },
  });
  template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: 'security@example.com',
  });
});
