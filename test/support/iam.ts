/**
 * A small evaluator of the identity policies in a synthesized template, for the IAM tests: it gathers a
 * function's role policies and decides a request (action, resource, condition keys) as IAM does for one
 * account: an explicit Deny wins, else an Allow whose action, resource and every condition match, else the
 * implicit deny. Condition operators: String*, Arn* (with `IfExists`, and the `ForAllValues:` /
 * `ForAnyValue:` set prefixes), Bool. Resource ARNs are built from the template with the stack's region and
 * a fixed account, so a policy is read as CloudFormation would resolve it.
 *
 * Scope (deliberate): identity policies only. Key policies, resource policies, SCPs and permission boundaries
 * are not evaluated; tests that depend on a key policy say so.
 */

/** The account every ARN is built in. */
export const ACCOUNT = '123456789012';

type Resource = { Type: string; Properties: Record<string, unknown> };
/** A synthesized template. */
export interface Template {
  readonly Resources: Record<string, Resource>;
}

/** One policy statement, resolved. */
export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

/** A request to authorize: one action on one resource, with the condition keys the service sets. */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  /** Condition keys; a multivalued key (e.g. `dynamodb:LeadingKeys`) is a list. */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
}

/** The ARN, or other value, a `Ref` or `Fn::GetAtt` of a resource resolves to. */
function attribute(template: Template, region: string, logicalId: string, name: string): string {
  const resource = template.Resources[logicalId];
  if (resource === undefined) throw new Error(`no resource ${logicalId}`);
  const props = resource.Properties ?? {};
  switch (resource.Type) {
    case 'AWS::KMS::Key':
      return `arn:aws:kms:${region}:${ACCOUNT}:key/${logicalId}`;
    case 'AWS::DynamoDB::GlobalTable':
    case 'AWS::DynamoDB::Table':
      return name === 'StreamArn'
        ? `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${String(props.TableName)}/stream/1`
        : `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${String(props.TableName)}`;
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${String(props.Name ?? logicalId)}-AbCdEf`;
    case 'AWS::Logs::LogGroup':
      return `arn:aws:logs:${region}:${ACCOUNT}:log-group:${logicalId}:*`;
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${region}:${ACCOUNT}:function:${logicalId}`;
    case 'AWS::IAM::Role':
      return `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${region}:${ACCOUNT}:${logicalId}`;
    case 'AWS::ApiGateway::RestApi':
      return name === 'RootResourceId' ? `${logicalId}-root` : logicalId;
    default:
      return `arn:aws:unknown:${region}:${ACCOUNT}:${resource.Type}/${logicalId}`;
  }
}

/** Resolves the intrinsic functions a policy uses, as CloudFormation would in `region`. */
export function resolve(template: Template, region: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => resolve(template, region, item));
  const entries = Object.entries(value as Record<string, unknown>);
  const [[fn, args] = []] = entries;
  if (entries.length === 1 && fn !== undefined && (fn === 'Ref' || fn.startsWith('Fn::'))) {
    const list = args as unknown[];
    switch (fn) {
      case 'Ref': {
        const pseudo: Record<string, string> = {
          'AWS::Region': region,
          'AWS::AccountId': ACCOUNT,
          'AWS::Partition': 'aws',
          'AWS::URLSuffix': 'amazonaws.com',
        };
        return pseudo[args as string] ?? attribute(template, region, args as string, 'Ref');
      }
      case 'Fn::GetAtt':
        return attribute(template, region, list[0] as string, list[1] as string);
      case 'Fn::Join':
        return (resolve(template, region, list[1]) as unknown[]).map(String).join(list[0] as string);
      case 'Fn::Split':
        return String(resolve(template, region, list[1])).split(list[0] as string);
      case 'Fn::Select':
        return (resolve(template, region, list[1]) as unknown[])[list[0] as number];
      default:
        throw new Error(`cannot resolve ${fn}`);
    }
  }
  return Object.fromEntries(entries.map(([key, inner]) => [key, resolve(template, region, inner)]));
}

/** Every statement of the identity policies of the role a function runs as. */
export function functionStatements(
  template: Template,
  region: string,
  functionLogicalId: string,
): Statement[] {
  const fn = template.Resources[functionLogicalId];
  const roleRef = (fn?.Properties.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'];
  if (roleRef === undefined) throw new Error(`${functionLogicalId} has no role of this template`);
  const [roleId] = roleRef;
  const role = template.Resources[roleId];
  if ((role?.Properties.ManagedPolicyArns as unknown[] | undefined)?.length) {
    throw new Error(`${roleId} has managed policies, which this evaluator does not read`);
  }
  const documents: unknown[] = [];
  for (const inline of (role?.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
    documents.push(inline.PolicyDocument);
  }
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties.Roles as { Ref?: string }[] | undefined) ?? [];
    if (roles.some((ref) => ref.Ref === roleId)) documents.push(resource.Properties.PolicyDocument);
  }
  return documents.flatMap(
    (document) => (resolve(template, region, document) as { Statement: Statement[] }).Statement,
  );
}

function list(value: string | readonly string[] | undefined): readonly string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

/** IAM's wildcard match: `*` any run of characters, `?` one; case-sensitive unless said. */
function like(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

function matchesOperator(base: string, expected: string, actual: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'ArnEquals':
      return expected === actual;
    case 'StringNotEquals':
    case 'ArnNotEquals':
      return expected !== actual;
    case 'StringEqualsIgnoreCase':
      return expected.toLowerCase() === actual.toLowerCase();
    case 'StringLike':
    case 'ArnLike':
      return like(expected, actual);
    case 'StringNotLike':
    case 'ArnNotLike':
      return !like(expected, actual);
    case 'Bool':
      return String(expected) === actual;
    default:
      throw new Error(`condition operator ${base} is not modelled`);
  }
}

function conditionHolds(
  operator: string,
  key: string,
  expected: readonly string[],
  request: IamRequest,
): boolean {
  const [prefix, rest] = operator.includes(':') ? operator.split(':') : [undefined, operator];
  const ifExists = (rest as string).endsWith('IfExists');
  const base = ifExists ? (rest as string).slice(0, -'IfExists'.length) : (rest as string);
  const negated = base.includes('Not');
  const raw = request.context?.[key];
  if (raw === undefined) return ifExists || prefix === 'ForAllValues';
  const values = list(raw);
  const one = (value: string) =>
    negated
      ? expected.every((candidate) => matchesOperator(base, candidate, value))
      : expected.some((candidate) => matchesOperator(base, candidate, value));
  if (prefix === 'ForAllValues') return values.every(one);
  if (prefix === 'ForAnyValue') return values.some(one);
  if (values.length !== 1) throw new Error(`${key} is multivalued: use a set operator`);
  return one(values[0] as string);
}

function statementMatches(statement: Statement, request: IamRequest): boolean {
  const actionMatches = (patterns: readonly string[]) =>
    patterns.some((pattern) => like(pattern, request.action, true));
  if (statement.Action !== undefined && !actionMatches(list(statement.Action))) return false;
  if (statement.NotAction !== undefined && actionMatches(list(statement.NotAction))) return false;
  if (!list(statement.Resource).some((pattern) => like(pattern, request.resource))) return false;
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      const values = Array.isArray(expected) ? expected.map(String) : [String(expected)];
      if (!conditionHolds(operator, key, values, request)) return false;
    }
  }
  return true;
}

/** IAM's decision for one request under these statements. */
export function decide(statements: readonly Statement[], request: IamRequest): 'allow' | 'deny' {
  const matching = statements.filter((statement) => statementMatches(statement, request));
  if (matching.some((statement) => statement.Effect === 'Deny')) return 'deny';
  return matching.some((statement) => statement.Effect === 'Allow') ? 'allow' : 'deny';
}
