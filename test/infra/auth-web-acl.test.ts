import 'aws-cdk-lib/testhelpers/jest-autoclean';
import { App, Lazy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  AuthWebAcl,
  type AuthWebAclProps,
  COMMON_RULE_SET_BODY_RULES,
  WAF_LOGIN_PATH,
  WAF_RULE_NAMES,
  WEB_ACL_NAME_PATTERN,
} from '../../lib/auth-web-acl';

type Props = Partial<AuthWebAclProps>;

interface WebAclProperties {
  readonly Name?: string;
  readonly VisibilityConfig: { readonly MetricName: string };
  readonly Rules: Rule[];
}

interface Rule {
  readonly Name: string;
  readonly Priority: number;
  readonly Action?: Record<string, unknown>;
  readonly OverrideAction?: Record<string, unknown>;
  readonly Statement: Statement;
}

/** The statement shapes the web ACL uses, as CloudFormation reads them. */
interface Statement {
  readonly AndStatement?: { readonly Statements: Statement[] };
  readonly OrStatement?: { readonly Statements: Statement[] };
  readonly NotStatement?: { readonly Statement: Statement };
  readonly LabelMatchStatement?: { readonly Scope: string; readonly Key: string };
  readonly ByteMatchStatement?: {
    readonly FieldToMatch: { readonly UriPath?: object };
    readonly PositionalConstraint: string;
    readonly SearchString: string;
    readonly TextTransformations: { readonly Type: string }[];
  };
  readonly ManagedRuleGroupStatement?: {
    readonly Name: string;
    readonly RuleActionOverrides?: { readonly Name: string; readonly ActionToUse: object }[];
  };
}

/** A web request as far as the rules after the managed groups see it: its path and the labels added so far. */
interface Request {
  readonly uriPath: string;
  readonly labels: readonly string[];
}

/**
 * Whether `statement` matches `request`, for the statements the web ACL's own rules use (logical statements,
 * label matches on full label names, and untransformed byte matches on the URI path); anything else throws,
 * so a rule this evaluator does not understand cannot pass for one it does.
 */
function matches(statement: Statement, request: Request): boolean {
  if (statement.AndStatement) return statement.AndStatement.Statements.every((s) => matches(s, request));
  if (statement.OrStatement) return statement.OrStatement.Statements.some((s) => matches(s, request));
  if (statement.NotStatement) return !matches(statement.NotStatement.Statement, request);
  if (statement.LabelMatchStatement?.Scope === 'LABEL') {
    return request.labels.includes(statement.LabelMatchStatement.Key);
  }
  const byteMatch = statement.ByteMatchStatement;
  if (
    byteMatch?.FieldToMatch.UriPath !== undefined &&
    byteMatch.TextTransformations.every((t) => t.Type === 'NONE')
  ) {
    if (byteMatch.PositionalConstraint === 'EXACTLY') return request.uriPath === byteMatch.SearchString;
    if (byteMatch.PositionalConstraint === 'STARTS_WITH') {
      return request.uriPath.startsWith(byteMatch.SearchString);
    }
  }
  throw new Error(`statement not understood by the test: ${JSON.stringify(statement)}`);
}

function synth(props: Props = {}, stackName = 'HybridAuth-us-east-1'): WebAclProperties {
  const stack = new Stack(new App(), stackName, { env: { account: '111111111111', region: 'us-east-1' } });
  new AuthWebAcl(stack, 'WebAcl', { stageName: 'v1', ...props });
  const acls = Object.values(Template.fromStack(stack).findResources('AWS::WAFv2::WebACL'));
  expect(acls).toHaveLength(1);
  return acls[0]?.Properties as WebAclProperties;
}

function rule(acl: WebAclProperties, name: string): Rule {
  const found = acl.Rules.find((candidate) => candidate.Name === name);
  if (found === undefined) throw new Error(`no WAF rule ${name}`);
  return found;
}

describe('AuthWebAcl', () => {
  // GIVEN the default props (synthesized once: each test reads one behaviour from it)
  let acl: WebAclProperties;
  beforeAll(() => {
    acl = synth();
  });

  describe('name', () => {
    test('names the web ACL, and gives its metrics the same name', () => {
      expect(acl.Name).toEqual(expect.any(String));
      expect(acl.VisibilityConfig.MetricName).toBe(acl.Name);
    });

    test('derives the default name from the stack name, within what AWS WAF accepts', () => {
      expect(acl.Name).toMatch(/^HybridAuth-us-east-1-WebAcl-[A-Z0-9]{8}$/);
      expect(acl.Name).toMatch(WEB_ACL_NAME_PATTERN);
    });

    test('gives the web ACLs of two stacks different default names', () => {
      expect(synth({}, 'HybridAuth-us-east-2').Name).not.toBe(acl.Name);
    });

    test('keeps a default name within 128 characters for a long stack name', () => {
      const name = synth({}, `HybridAuth-${'x'.repeat(120)}`).Name;
      expect(name).toMatch(WEB_ACL_NAME_PATTERN);
    });

    test('exposes the name it gives the resource', () => {
      const stack = new Stack();
      const construct = new AuthWebAcl(stack, 'WebAcl', { stageName: 'v1', name: 'auth-acl' });
      expect(construct.name).toBe('auth-acl');
      expect(construct.metricName).toBe('auth-acl');
      expect(stack.resolve(construct.webAcl.name)).toBe('auth-acl');
    });

    test('uses a given name for the name and the metric name', () => {
      const named = synth({ name: 'auth-acl' });
      expect(named.Name).toBe('auth-acl');
      expect(named.VisibilityConfig.MetricName).toBe('auth-acl');
    });

    test.each(['', 'auth acl', 'auth.acl', 'x'.repeat(129)])('fails with the name %p', (name) => {
      expect(() => synth({ name })).toThrow(
        /^AuthWebAcl: name is ".*"; allowed: 1 to 128 letters, digits, _ and -$/,
      );
    });

    test.each(['All', 'Default_Action'])('fails with the reserved metric name %p', (name) => {
      expect(() => synth({ name })).toThrow(
        new RegExp(`^AuthWebAcl: name is "${name}"; allowed: any name but All and Default_Action$`),
      );
    });

    test('fails with a name that is not known at synth', () => {
      expect(() => synth({ name: Lazy.string({ produce: () => 'late' }) })).toThrow(
        /^AuthWebAcl: name is .*; allowed: a literal name \(the alarms select its metrics by it\)$/,
      );
    });
  });

  describe('common rule set body rules', () => {
    const labels = Object.values(COMMON_RULE_SET_BODY_RULES);
    const request = (uriPath: string, matched: readonly string[] = labels): Request => ({
      uriPath,
      labels: matched,
    });

    test('count inside the common rule set, and only the body content rules', () => {
      const statement = rule(acl, WAF_RULE_NAMES.commonRuleSet).Statement.ManagedRuleGroupStatement;
      expect(statement?.RuleActionOverrides).toEqual(
        Object.keys(COMMON_RULE_SET_BODY_RULES).map((name) => ({ Name: name, ActionToUse: { Count: {} } })),
      );
      expect(Object.keys(COMMON_RULE_SET_BODY_RULES)).toEqual(
        expect.arrayContaining(['CrossSiteScripting_BODY', 'GenericLFI_BODY', 'GenericRFI_BODY']),
      );
      // Oversized bodies keep being blocked everywhere: no login body is 8 KB.
      expect(Object.keys(COMMON_RULE_SET_BODY_RULES)).not.toContain('SizeRestrictions_BODY');
    });

    test('each counted rule is matched by the label AWS documents for it', () => {
      for (const [name, label] of Object.entries(COMMON_RULE_SET_BODY_RULES)) {
        expect(label).toBe(`awswaf:managed:aws:core-rule-set:${name.replace(/_BODY$/, '_Body')}`);
      }
    });

    test('are blocked by the rule right after the common rule set', () => {
      const group = rule(acl, WAF_RULE_NAMES.commonRuleSet);
      const outside = rule(acl, WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
      expect(outside.Action).toEqual({ Block: {} });
      const priorities = acl.Rules.map((r) => r.Priority).sort((a, b) => a - b);
      expect(priorities[priorities.indexOf(group.Priority) + 1]).toBe(outside.Priority);
    });

    test.each([
      '/v1/auth/token',
      '/v1/auth/logout',
      '/v1/api/orders',
      '/auth/token',
      '/v1/auth/login/extra',
      '/v1/auth/loginx',
      '/v1/auth//login',
      '/v1/auth/sessions/..%2Flogin',
    ])('block a body that matched them on %s', (uriPath) => {
      const outside = rule(acl, WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
      for (const label of labels) expect(matches(outside.Statement, request(uriPath, [label]))).toBe(true);
    });

    test.each([`/v1${WAF_LOGIN_PATH}`, WAF_LOGIN_PATH])(
      'let a password with <script or ../ through on %s',
      (uriPath) => {
        const outside = rule(acl, WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
        expect(matches(outside.Statement, request(uriPath))).toBe(false);
      },
    );

    test('do not block a request none of them matched', () => {
      const outside = rule(acl, WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
      expect(
        matches(
          outside.Statement,
          request('/v1/auth/token', ['awswaf:managed:aws:core-rule-set:NoUserAgent_Header']),
        ),
      ).toBe(false);
    });

    test('follow the stage name', () => {
      const outside = rule(synth({ stageName: 'prod' }), WAF_RULE_NAMES.commonRuleSetBodyOutsideLogin);
      expect(matches(outside.Statement, request('/prod/auth/login'))).toBe(false);
      expect(matches(outside.Statement, request('/v1/auth/login'))).toBe(true);
    });
  });
});
