/**
 * The built-in authorizer policies and the combinators over {@link Policy} (docs/design.md "Custom
 * authorizer policies"). Everything here is pure: no AWS SDK, no I/O, no clock.
 *
 * Every decision names the policy that settled it (`requireScope(admin)`) and carries a stable reason
 * (`scope_missing:admin`), so the authorizer's decision log says which rule decided and why. Every policy
 * runs through {@link evaluatePolicy}, which fails closed: a policy that throws, rejects or returns
 * something that is not a decision is a deny with reason {@link POLICY_ERROR}.
 */
import { BlockList, isIP } from 'node:net';
import type { Decision, Policy, PolicyContext } from './policy';

/**
 * The reason of the deny {@link evaluatePolicy} returns for a policy that threw, rejected or returned no
 * valid decision. Reserved: {@link not} never turns such a deny into an allow.
 */
export const POLICY_ERROR = 'policy_error';

/** What a policy written with {@link definePolicy} returns: a decision whose `policy` name may be left out. */
export interface PolicyVerdict {
  /** Whether the request may go on. */
  readonly allow: boolean;
  /** Stable, machine-readable reason, e.g. `outside_business_hours`. */
  readonly reason: string;
  /** The deciding policy's name. @default the name given to {@link definePolicy} */
  readonly policy?: string;
}

/** Decisions that came from a failing policy, and denies that depend on one (see {@link not}). */
const failed = new WeakSet<Decision>();

/** A scope-token (RFC 6749 section 3.3). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** Upper bound of a policy name, characters: longer names are a configuration mistake. */
const MAX_NAME_LENGTH = 256;

/**
 * The name of a policy, as combinators and error decisions report it: the name given to
 * {@link definePolicy}, else the function's own name, else `anonymous`.
 */
export function policyName(policy: Policy): string {
  return (typeof policy === 'function' && policy.name) || 'anonymous';
}

/**
 * The extension point: names a custom policy and fills that name into its decisions. The name is what the
 * decision log records, also when the policy throws (reason {@link POLICY_ERROR}). A policy written as a
 * plain {@link Policy} function works too: it is then known by its function name.
 *
 * Write each custom policy in its own file under `lambda/policies/`, as a factory that validates its
 * options (throwing a `TypeError` with the value given) and takes any clock or client as an option, so its
 * test can freeze time. See `docs/custom-policies.md`.
 *
 * @param name the name the decision log records, conventionally the factory call: `businessHours()`.
 * @param decide the rule; called only after the signature, claims and session checks pass.
 * @throws {TypeError} when the name is empty or longer than 256 characters.
 *
 * @example
 * import type { Clock } from '../core/clock';
 * import { definePolicy } from '../core/policies';
 * import type { Policy } from '../core/policy';
 *
 * // Allows only clients on an allow-list (the `client_id` claim), e.g. first-party apps.
 * export function requireClient(...clientIds: string[]): Policy {
 *   if (clientIds.length === 0) throw new TypeError('requireClient needs at least one client id');
 *   const allowed = new Set(clientIds);
 *   return definePolicy(`requireClient(${clientIds.join(', ')})`, ({ claims }) =>
 *     allowed.has(claims.client_id)
 *       ? { allow: true, reason: 'client_allowed' }
 *       : { allow: false, reason: 'client_not_allowed' },
 *   );
 * }
 *
 * // On a route: allOf(requireScope('items:write'), requireClient('web', 'ios'))
 */
export function definePolicy(
  name: string,
  decide: (context: PolicyContext) => PolicyVerdict | Promise<PolicyVerdict>,
): Policy {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new TypeError(`a policy name must be 1 to ${MAX_NAME_LENGTH} characters, got '${String(name)}'`);
  }
  // A decision passed through unchanged keeps its identity: `not` recognises failures by it.
  const withName = (verdict: PolicyVerdict): Decision => {
    const decision = { allow: verdict.allow, policy: verdict.policy ?? name, reason: verdict.reason };
    return isDecision(verdict) && isFailed(verdict) ? verdict : decision;
  };
  return named(name, (context) => {
    const verdict = decide(context);
    return verdict instanceof Promise ? verdict.then(withName) : withName(verdict);
  });
}

/**
 * Runs one policy and never throws: the decision it returns, or a deny with reason {@link POLICY_ERROR}
 * naming the policy when it throws, rejects, or returns anything but a decision with a boolean `allow` and
 * non-empty `policy` and `reason` strings (fail closed). The combinators use it for their inner policies;
 * the authorizer uses it for each route's policy.
 *
 * @returns a frozen decision.
 */
export async function evaluatePolicy(policy: Policy, context: PolicyContext): Promise<Decision> {
  try {
    const decision: unknown = await policy(context);
    if (isDecision(decision)) {
      if (failed.has(decision)) return decision;
      const copy = Object.freeze({ allow: decision.allow, policy: decision.policy, reason: decision.reason });
      if (isFailed(copy)) failed.add(copy);
      return copy;
    }
  } catch {
    // Fall through: a failing policy denies. The decision log records the policy and `policy_error`.
  }
  return failure(policyName(policy));
}

/**
 * Allows when the token carries every one of `scopes` (in its space-separated `scope` claim).
 * Decides `scope_present`, or `scope_missing:<the first missing scope, in the order given>`.
 *
 * @throws {TypeError} when no scope is given or one is not a valid scope-token (RFC 6749 section 3.3).
 */
export function requireScope(...scopes: string[]): Policy {
  checkScopes('requireScope', scopes);
  return definePolicy(`requireScope(${scopes.join(', ')})`, ({ claims }) => {
    const granted = scopeSet(claims.scope);
    const missing = scopes.find((scope) => !granted.has(scope));
    return missing === undefined
      ? { allow: true, reason: 'scope_present' }
      : { allow: false, reason: `scope_missing:${missing}` };
  });
}

/**
 * Allows when the token carries at least one of `scopes`. Decides `scope_present` or `scope_missing`
 * (the policy name lists the scopes).
 *
 * @throws {TypeError} when no scope is given or one is not a valid scope-token (RFC 6749 section 3.3).
 */
export function requireAnyScope(...scopes: string[]): Policy {
  checkScopes('requireAnyScope', scopes);
  return definePolicy(`requireAnyScope(${scopes.join(', ')})`, ({ claims }) => {
    const granted = scopeSet(claims.scope);
    return scopes.some((scope) => granted.has(scope))
      ? { allow: true, reason: 'scope_present' }
      : { allow: false, reason: 'scope_missing' };
  });
}

/**
 * Allows callers whose source IP (as API Gateway reports it) lies in one of `cidrs`, IPv4 or IPv6, in
 * `address/prefix` form (`10.0.0.0/8`, `2001:db8::/32`; an IPv4-mapped IPv6 address matches the IPv4
 * ranges). Host bits are ignored: `10.1.2.3/8` is `10.0.0.0/8`. Decides `source_ip_allowed`,
 * `source_ip_not_allowed`, `source_ip_missing` or `source_ip_invalid` (the last two deny).
 *
 * The authorizer caches its decision per identity source: a route using this policy needs the source IP
 * among the authorizer's identity sources, or a cached allow would follow the token to another network.
 *
 * @throws {TypeError} when no CIDR is given or one is malformed (with the value given).
 */
export function sourceIpAllowList(cidrs: readonly string[]): Policy {
  if (!Array.isArray(cidrs) || cidrs.length === 0) {
    throw new TypeError('sourceIpAllowList needs at least one CIDR, got none');
  }
  const allowed = new BlockList();
  for (const cidr of cidrs) {
    const { address, prefix, family } = parseCidr(cidr);
    allowed.addSubnet(address, prefix, family);
  }
  return definePolicy(`sourceIpAllowList(${cidrs.join(', ')})`, ({ request }) => {
    const ip = request.sourceIp;
    if (ip === undefined || ip === '') return { allow: false, reason: 'source_ip_missing' };
    const version = ip.includes('%') ? 0 : isIP(ip);
    if (version === 0) return { allow: false, reason: 'source_ip_invalid' };
    return allowed.check(ip, version === 4 ? 'ipv4' : 'ipv6')
      ? { allow: true, reason: 'source_ip_allowed' }
      : { allow: false, reason: 'source_ip_not_allowed' };
  });
}

/**
 * Allows any caller with a valid token and a live session (the checks that run before every policy).
 * Decides `authenticated`.
 */
export function authenticated(): Policy {
  return definePolicy('authenticated()', () => ({ allow: true, reason: 'authenticated' }));
}

/**
 * Allows when every policy allows. Runs them in order and stops at the first deny, which it returns as is
 * (naming the inner policy that denied); when all allow, decides `all_allowed` under its own name,
 * `allOf(<inner names>)`.
 *
 * @throws {TypeError} when no policy is given, or one is not a function.
 */
export function allOf(...policies: Policy[]): Policy {
  const name = combinatorName('allOf', policies);
  return named(name, async (context) => {
    for (const policy of policies) {
      const decision = await evaluatePolicy(policy, context);
      if (!decision.allow) return decision;
    }
    return { allow: true, policy: name, reason: 'all_allowed' };
  });
}

/**
 * Allows when at least one policy allows. Runs them in order and stops at the first allow, which it returns
 * as is (naming the inner policy that allowed); when all deny, denies under its own name with the inner
 * reasons in order: `none_allowed(scope_missing:admin, source_ip_not_allowed)`.
 *
 * @throws {TypeError} when no policy is given, or one is not a function.
 */
export function anyOf(...policies: Policy[]): Policy {
  const name = combinatorName('anyOf', policies);
  return named(name, async (context) => {
    const denials: Decision[] = [];
    for (const policy of policies) {
      const decision = await evaluatePolicy(policy, context);
      if (decision.allow) return decision;
      denials.push(decision);
    }
    const deny: Decision = Object.freeze({
      allow: false,
      policy: name,
      reason: `none_allowed(${denials.map((denial) => denial.reason).join(', ')})`,
    });
    // A failing inner policy might have allowed: keep the deny marked, so that `not` cannot invert it.
    if (denials.some(isFailed)) failed.add(deny);
    return deny;
  });
}

/**
 * Inverts a policy: allows when it denies and denies when it allows, under the name `not(<inner name>)`
 * with reason `not:<inner reason>`. Fails closed: a deny caused by a failing policy
 * ({@link POLICY_ERROR}) stays a deny, returned as is.
 *
 * @throws {TypeError} when `policy` is not a function.
 */
export function not(policy: Policy): Policy {
  const name = combinatorName('not', [policy]);
  return named(name, async (context) => {
    const decision = await evaluatePolicy(policy, context);
    if (isFailed(decision)) return decision;
    return { allow: !decision.allow, policy: name, reason: `not:${decision.reason}` };
  });
}

function named(name: string, policy: Policy): Policy {
  Object.defineProperty(policy, 'name', { value: name });
  return policy;
}

function failure(policy: string): Decision {
  const decision: Decision = Object.freeze({ allow: false, policy, reason: POLICY_ERROR });
  failed.add(decision);
  return decision;
}

function isFailed(decision: Decision): boolean {
  // A copy of an error decision (made by a custom combinator) is still one.
  return failed.has(decision) || (!decision.allow && decision.reason === POLICY_ERROR);
}

function isDecision(value: unknown): value is Decision {
  if (typeof value !== 'object' || value === null) return false;
  const { allow, policy, reason } = value as Record<string, unknown>;
  return (
    typeof allow === 'boolean' &&
    typeof policy === 'string' &&
    policy.length > 0 &&
    typeof reason === 'string' &&
    reason.length > 0
  );
}

function combinatorName(combinator: string, policies: readonly Policy[]): string {
  if (policies.length === 0) throw new TypeError(`${combinator} needs at least one policy, got none`);
  policies.forEach((policy, index) => {
    if (typeof policy !== 'function') {
      throw new TypeError(`${combinator}: policy ${index} must be a function, got ${typeof policy}`);
    }
  });
  return `${combinator}(${policies.map(policyName).join(', ')})`;
}

function checkScopes(policy: string, scopes: readonly string[]): void {
  if (scopes.length === 0) throw new TypeError(`${policy} needs at least one scope, got none`);
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new TypeError(`${policy}: '${String(scope)}' is not a scope-token (RFC 6749 section 3.3)`);
    }
  }
}

function scopeSet(scope: string): ReadonlySet<string> {
  return new Set(scope.split(' ').filter((token) => token.length > 0));
}

function parseCidr(cidr: unknown): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const invalid = () =>
    new TypeError(
      `sourceIpAllowList: '${String(cidr)}' is not a CIDR (expected address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32)`,
    );
  if (typeof cidr !== 'string') throw invalid();
  const match = /^([0-9A-Fa-f.:]+)\/(0|[1-9][0-9]{0,2})$/.exec(cidr);
  const address = match?.[1];
  const prefixText = match?.[2];
  if (address === undefined || prefixText === undefined) throw invalid();
  const version = isIP(address);
  const prefix = Number(prefixText);
  if (version === 4 && prefix <= 32) return { address, prefix, family: 'ipv4' };
  if (version === 6 && prefix <= 128) return { address, prefix, family: 'ipv6' };
  throw invalid();
}
