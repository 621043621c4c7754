/**
 * The built-in authorizer policies and the combinators over {@link Policy} (docs/design.md "Custom
 * authorizer policies"). Everything here is pure: no AWS SDK, no I/O, no clock.
 */
import { BlockList, isIP } from 'node:net';
import {
  type Decision,
  decision,
  definePolicy,
  evaluatePolicy,
  isFailed,
  type Policy,
  policyName,
  policyReads,
} from './policy';

/** A scope-token (RFC 6749 section 3.3). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

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
 * It declares that it reads the request fact `sourceIp`: API Gateway caches the authorizer's answer per
 * identity source, and the CDK `AuthApi` adds the source IP to them for a table that uses this policy, so a
 * cached allow cannot follow the token to another network.
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
  return definePolicy(
    `sourceIpAllowList(${cidrs.join(', ')})`,
    ({ request }) => {
      const ip = request.sourceIp;
      if (ip === undefined || ip === '') return { allow: false, reason: 'source_ip_missing' };
      const version = ip.includes('%') ? 0 : isIP(ip);
      if (version === 0) return { allow: false, reason: 'source_ip_invalid' };
      return allowed.check(ip, version === 4 ? 'ipv4' : 'ipv6')
        ? { allow: true, reason: 'source_ip_allowed' }
        : { allow: false, reason: 'source_ip_not_allowed' };
    },
    { reads: ['sourceIp'] },
  );
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
 * `allOf(<inner names>)`. Reads the request facts its policies read (each is handed only its own).
 *
 * @throws {TypeError} when no policy is given, or one is not a function.
 */
export function allOf(...policies: Policy[]): Policy {
  const name = combinatorName('allOf', policies);
  return definePolicy(
    name,
    async (context) => {
      for (const policy of policies) {
        const inner = await evaluatePolicy(policy, context);
        if (!inner.allow) return inner;
      }
      return { allow: true, reason: 'all_allowed' };
    },
    { reads: policies.flatMap(policyReads) },
  );
}

/**
 * Allows when at least one policy allows. Runs them in order and stops at the first allow, which it returns
 * as is (naming the inner policy that allowed); when all deny, denies under its own name with the inner
 * reasons in order: `none_allowed(scope_missing:admin, source_ip_not_allowed)`. Reads the request facts its
 * policies read (each is handed only its own).
 *
 * @throws {TypeError} when no policy is given, or one is not a function.
 */
export function anyOf(...policies: Policy[]): Policy {
  const name = combinatorName('anyOf', policies);
  return definePolicy(
    name,
    async (context) => {
      const denials: Decision[] = [];
      for (const policy of policies) {
        const inner = await evaluatePolicy(policy, context);
        if (inner.allow) return inner;
        denials.push(inner);
      }
      // A failing inner policy might have allowed: the deny stays marked, so that `not` cannot invert it.
      const reason = `none_allowed(${denials.map((denial) => denial.reason).join(', ')})`;
      return decision(false, name, reason, denials.some(isFailed));
    },
    { reads: policies.flatMap(policyReads) },
  );
}

/**
 * Inverts a policy: allows when it denies and denies when it allows, under the name `not(<inner name>)`
 * with reason `not:<inner reason>`. Fails closed: a deny caused by a failing policy
 * ({@link POLICY_ERROR}) stays a deny, returned as is. Reads the request facts its policy reads.
 *
 * @throws {TypeError} when `policy` is not a function.
 */
export function not(policy: Policy): Policy {
  const name = combinatorName('not', [policy]);
  return definePolicy(
    name,
    async (context) => {
      const inner = await evaluatePolicy(policy, context);
      if (isFailed(inner)) return inner;
      return { allow: !inner.allow, reason: `not:${inner.reason}` };
    },
    { reads: policyReads(policy) },
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
