import { Names, Token } from 'aws-cdk-lib';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { oauthErrorBody } from './gateway-responses';
import { InvalidValueError, requireInteger, requireMatch } from './validation';

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
  commonRuleSetBodyOutsideLogin: 'CommonRuleSetBodyOutsideLogin',
} as const;

/** The login path, where the password is in the body: the common rule set's body rules only count there. */
export const WAF_LOGIN_PATH = '/auth/login';

/**
 * The rules of the AWS common rule set (`AWSManagedRulesCommonRuleSet`) that inspect the request body for
 * content, with the label each adds when it matches. A password may legitimately contain `<script`, `../`,
 * `http://10.0.0.1` or `169.254.169.254`, so on {@link WAF_LOGIN_PATH} these rules count instead of blocking
 * (the issuer validates its own bodies: a size guard and a schema). `SizeRestrictions_BODY` (over 8 KB) is left
 * out: it blocks everywhere, and no login body is that large.
 * Rule names and labels: https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html
 */
export const COMMON_RULE_SET_BODY_RULES = {
  CrossSiteScripting_BODY: 'awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body',
  GenericLFI_BODY: 'awswaf:managed:aws:core-rule-set:GenericLFI_Body',
  GenericRFI_BODY: 'awswaf:managed:aws:core-rule-set:GenericRFI_Body',
  EC2MetaDataSSRF_BODY: 'awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body',
} as const;

/**
 * What AWS WAF accepts as a web ACL name and as a CloudWatch metric name alike (the web ACL carries one value
 * as both): 1 to 128 letters, digits, `_` and `-`.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-wafv2-webacl-visibilityconfig.html
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-wafv2-webacl.html
 */
export const WEB_ACL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Metric names AWS WAF reserves (VisibilityConfig.MetricName); a web ACL cannot carry them. */
const RESERVED_METRIC_NAMES = ['All', 'Default_Action'];

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
   * The web ACL's name, which is also its CloudWatch metric name (`visibilityConfig.metricName`): the
   * `WebACL` dimension of its `AWS/WAFV2` metrics, whichever of the two AWS WAF reads it from. 1 to 128
   * letters, digits, `_` and `-`, unique per account, region and scope.
   * @default a name unique per stack, derived from the stack name and this construct's path
   */
  readonly name?: string;
}

/**
 * The regional AWS WAF web ACL in front of the platform's REST API: the AWS IP reputation list first, then
 * rate limits per source IP on `/auth/login` and on all of `/auth/*` (answered 429 with an OAuth-style JSON
 * body and `Retry-After`), then the AWS known-bad-inputs and common rule sets. The common rule set's body
 * rules ({@link COMMON_RULE_SET_BODY_RULES}) count instead of blocking, and a rule after the group blocks what
 * they matched everywhere but on the login path, so a password is never refused for its characters. Every
 * rule emits metrics and sampled requests under its name ({@link WAF_RULE_NAMES}). The web ACL is named
 * ({@link AuthWebAcl.name}), and its metric name is the same value, so alarms can select its metrics. Associate
 * it with a stage with a `CfnWebACLAssociation`, as `AuthApi` does.
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
  /** The web ACL's name: the `Name` of the resource, its CloudWatch metric name and so the `WebACL` dimension. */
  public readonly name: string;
  /** The web ACL's CloudWatch metric name: the same value as {@link AuthWebAcl.name}. */
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
    this.name = resolveName(owner, props, this);
    this.metricName = this.name;

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
    const managedRule = (
      name: string,
      priority: number,
      ruleActionOverrides?: wafv2.CfnWebACL.RuleActionOverrideProperty[],
    ): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(ruleActionOverrides ? { ruleActionOverrides } : {}),
        },
      },
      visibilityConfig: visibility(name),
    });
    // The body rules count (a rule action override: matching requests are handled as if the rule's action were
    // Count, and the rule still adds its label), so the web ACL goes on to the next rule; that one blocks what
    // they matched unless the path is the login path. The AWS-documented way to keep a managed rule's match
    // but choose where it blocks, at a few WCU instead of the 700 of a second common rule set.
    // https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-rule-group-override-options.html
    // https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-label-overview.html
    // https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-label-match.html
    const bodyRules = Object.entries(COMMON_RULE_SET_BODY_RULES);
    const countBodyRules = bodyRules.map(([name]) => ({ name, actionToUse: { count: {} } }));
    const bodyRuleOutsideLogin: wafv2.CfnWebACL.RuleProperty = {
      name: WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin,
      priority: 5,
      action: { block: {} },
      statement: {
        andStatement: {
          statements: [
            {
              orStatement: {
                statements: bodyRules.map(([, label]) => ({
                  labelMatchStatement: { scope: 'LABEL', key: label },
                })),
              },
            },
            { notStatement: { statement: isLoginPath(props.stageName) } },
          ],
        },
      },
      visibilityConfig: visibility(WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin),
    };
    // 'Default' is left out of logical IDs: the web ACL keeps the logical ID it had as `<scope>/<id>`.
    this.webAcl = new wafv2.CfnWebACL(this, 'Default', {
      // Named, so that the `WebACL` dimension of its metrics is a value known at synth: AWS WAF documents that
      // dimension as the web ACL's name in one place and as its metric name in another, and here they are one
      // value. https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html
      name: this.name,
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
        rateRule(WAF_RULE_NAMES.loginRateLimit, 1, loginLimit, WAF_LOGIN_PATH),
        rateRule(WAF_RULE_NAMES.authRateLimit, 2, authLimit, '/auth/'),
        managedRule(WAF_RULE_NAMES.knownBadInputs, 3),
        // Note: it blocks bodies over 8 KB (SizeRestrictions_BODY); no issuer request needs that much.
        managedRule(WAF_RULE_NAMES.commonRuleSet, 4, countBodyRules),
        bodyRuleOutsideLogin,
      ],
    });
  }
}

/** The web ACL's name: the one given (checked), or one derived from the stack name and the construct path. */
function resolveName(owner: string, props: AuthWebAclProps, scope: Construct): string {
  const given = props.name;
  if (given === undefined) {
    // The stack name makes it unique per stack (two stacks in one account and region cannot share a name),
    // the construct path unique in the stack; trimmed to 128 characters in the middle, keeping its hash.
    return Names.uniqueResourceName(scope, {
      maxLength: 128,
      separator: '-',
      allowedSpecialCharacters: '-_',
    });
  }
  const setting = 'name';
  if (Token.isUnresolved(given)) {
    throw new InvalidValueError(
      owner,
      setting,
      given,
      'a literal name (the alarms select its metrics by it)',
    );
  }
  requireMatch(owner, setting, given, WEB_ACL_NAME_PATTERN, '1 to 128 letters, digits, _ and -');
  if (RESERVED_METRIC_NAMES.includes(given)) {
    throw new InvalidValueError(owner, setting, given, `any name but ${RESERVED_METRIC_NAMES.join(' and ')}`);
  }
  return given;
}

/**
 * A WAF statement: the URI path is exactly the login path, with or without the stage in front. Exact and
 * untransformed, so the exception covers the one path clients call and nothing an encoding could make look
 * like it.
 */
function isLoginPath(stageName: string): wafv2.CfnWebACL.StatementProperty {
  const exactly = (searchString: string): wafv2.CfnWebACL.StatementProperty => ({
    byteMatchStatement: {
      fieldToMatch: { uriPath: {} },
      positionalConstraint: 'EXACTLY',
      searchString,
      textTransformations: [{ priority: 0, type: 'NONE' }],
    },
  });
  return {
    orStatement: { statements: [exactly(`/${stageName}${WAF_LOGIN_PATH}`), exactly(WAF_LOGIN_PATH)] },
  };
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
