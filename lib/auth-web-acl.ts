import { Names } from 'aws-cdk-lib';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { oauthErrorBody } from './gateway-responses';
import { requireInteger, requireMatch } from './validation';

/** The smallest rate limit AWS WAF accepts in a rate-based rule, requests per evaluation window. */
export const MIN_WAF_RATE_LIMIT = 10;
/** The largest rate limit AWS WAF accepts in a rate-based rule. */
export const MAX_WAF_RATE_LIMIT = 2_000_000_000;

/** The rate-limit range of {@link AuthWebAclProps}: what AWS WAF accepts, per source IP per 5 minutes. */
export const WAF_RATE_LIMIT_RANGE = {
  min: MIN_WAF_RATE_LIMIT,
  max: MAX_WAF_RATE_LIMIT,
  unit: 'requests per source IP per 5 minutes',
} as const;

/** The names of the web ACL's rules (also the CloudWatch metric name of each rule). */
export const WAF_RULE_NAMES = {
  ipReputation: 'AWSManagedRulesAmazonIpReputationList',
  loginRateLimit: 'LoginRateLimit',
  authRateLimit: 'AuthRateLimit',
  knownBadInputs: 'AWSManagedRulesKnownBadInputsRuleSet',
  commonRuleSet: 'AWSManagedRulesCommonRuleSet',
} as const;

/** A REST API stage name: what API Gateway accepts. */
export const STAGE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Properties of {@link AuthWebAcl}. */
export interface AuthWebAclProps {
  /**
   * The stage the web ACL protects: on the `execute-api` endpoint every path starts with it, so the rate
   * rules match `/<stageName>/auth/...` as well as `/auth/...` (a custom domain mapped without a base path).
   */
  readonly stageName: string;
  /**
   * Requests per source IP per 5 minutes on `/auth/login`, from 10 to 2,000,000,000; more are answered 429.
   * @default 100
   */
  readonly loginRateLimit?: number;
  /**
   * Requests per source IP per 5 minutes on every `/auth/*` path (logins included), from 10 to
   * 2,000,000,000; more are answered 429.
   * @default 1000
   */
  readonly authRateLimit?: number;
  /**
   * The web ACL's CloudWatch metric name (`visibilityConfig.metricName`): the `WebACL` dimension of its
   * `AWS/WAFV2` metrics.
   * @default a name unique in the app, derived from this construct's path
   */
  readonly metricName?: string;
}

/**
 * The regional AWS WAF web ACL in front of the platform's REST API: the AWS IP reputation list first, then
 * rate limits per source IP on `/auth/login` and on all of `/auth/*` (answered 429 with an OAuth-style JSON
 * body and `Retry-After`), then the AWS known-bad-inputs and common rule sets. Every rule emits metrics and
 * sampled requests under its name ({@link WAF_RULE_NAMES}). Associate it with a stage with a
 * `CfnWebACLAssociation`, as `AuthApi` does.
 *
 * @example
 * const acl = new AuthWebAcl(this, 'WebAcl', { stageName: 'v1', loginRateLimit: 50 });
 * new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
 *   resourceArn: api.deploymentStage.stageArn,
 *   webAclArn: acl.webAcl.attrArn,
 * });
 */
export class AuthWebAcl extends Construct {
  /** The web ACL. */
  public readonly webAcl: wafv2.CfnWebACL;
  /** The web ACL's CloudWatch metric name: the `WebACL` dimension of its AWS/WAFV2 metrics. */
  public readonly metricName: string;

  public constructor(scope: Construct, id: string, props: AuthWebAclProps) {
    super(scope, id);
    const owner = 'AuthWebAcl';
    requireMatch(
      owner,
      'stageName',
      props.stageName,
      STAGE_NAME_PATTERN,
      '1 to 128 letters, digits, _ and -',
    );
    const loginLimit = requireInteger(
      owner,
      'loginRateLimit',
      props.loginRateLimit ?? 100,
      WAF_RATE_LIMIT_RANGE,
    );
    const authLimit = requireInteger(
      owner,
      'authRateLimit',
      props.authRateLimit ?? 1000,
      WAF_RATE_LIMIT_RANGE,
    );
    this.metricName = props.metricName ?? Names.uniqueId(this);

    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    const tooManyRequests = 'too_many_requests';
    const rateRule = (
      name: string,
      priority: number,
      limit: number,
      prefix: string,
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      action: {
        block: {
          customResponse: {
            responseCode: 429,
            customResponseBodyKey: tooManyRequests,
            responseHeaders: [
              { name: 'Cache-Control', value: 'no-store' },
              { name: 'Retry-After', value: '60' },
            ],
          },
        },
      },
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'IP',
          limit,
          evaluationWindowSec: 300,
          scopeDownStatement: pathStartsWith(props.stageName, prefix),
        },
      },
      visibilityConfig: visibility(name),
    });
    const managedRule = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(name),
    });
    // 'Default' is left out of logical IDs: the web ACL keeps the logical ID it had as `<scope>/<id>`.
    this.webAcl = new wafv2.CfnWebACL(this, 'Default', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      description: 'hybrid-auth API: rate limits on the auth endpoints and AWS managed rule groups',
      visibilityConfig: visibility(this.metricName),
      customResponseBodies: {
        [tooManyRequests]: {
          contentType: 'APPLICATION_JSON',
          content: oauthErrorBody('too_many_requests', 'rate limit exceeded, try again later'),
        },
      },
      rules: [
        // Known-bad IPs first: their requests are not worth counting.
        managedRule(WAF_RULE_NAMES.ipReputation, 0),
        rateRule(WAF_RULE_NAMES.loginRateLimit, 1, loginLimit, '/auth/login'),
        rateRule(WAF_RULE_NAMES.authRateLimit, 2, authLimit, '/auth/'),
        managedRule(WAF_RULE_NAMES.knownBadInputs, 3),
        // Note: it blocks bodies over 8 KB (SizeRestrictions_BODY); no issuer request needs that much.
        managedRule(WAF_RULE_NAMES.commonRuleSet, 4),
      ],
    });
  }
}

/**
 * A WAF statement: the URI path starts with `prefix`, on the `execute-api` endpoint (where every path starts
 * with the stage, `/v1/auth/login`) or on a custom domain mapped to the stage without a base path
 * (`/auth/login`). Percent-encoding and `//` or `/./` are undone first, so they cannot slip past the rule.
 */
function pathStartsWith(stageName: string, prefix: string): wafv2.CfnWebACL.StatementProperty {
  const startsWith = (searchString: string): wafv2.CfnWebACL.StatementProperty => ({
    byteMatchStatement: {
      fieldToMatch: { uriPath: {} },
      positionalConstraint: 'STARTS_WITH',
      searchString,
      textTransformations: [
        { priority: 0, type: 'URL_DECODE' },
        { priority: 1, type: 'NORMALIZE_PATH' },
      ],
    },
  });
  return { orStatement: { statements: [startsWith(`/${stageName}${prefix}`), startsWith(prefix)] } };
}
