/**
 * The extension point of the authorizer (docs/design.md "Custom authorizer policies"): what a policy sees,
 * what it returns, {@link definePolicy} to write one and {@link evaluatePolicy}, which runs one and fails
 * closed. Pure: no AWS SDK, no I/O, no clock.
 */
import type { AccessTokenClaims } from '../core/access-token';
import type { HttpMethod, RoutePattern } from '../core/route-matching';
import type { SessionRecord } from '../core/session';

/** What a policy knows about the request: claims and session are verified before any policy runs. */
export interface PolicyContext {
  /** The verified access token claims. */
  readonly claims: AccessTokenClaims;
  /** The live session the token names (not revoked, not expired, not idle). */
  readonly session: SessionRecord;
  /** The route being decided (the authorizer decides every route of the table for one token). */
  readonly route: { readonly method: HttpMethod; readonly path: string };
  /**
   * Request facts: only those the policy declares it reads ({@link PolicyOptions.reads}); any other member is
   * absent, so an undeclared read sees `undefined` (and a policy written to deny then fails closed).
   */
  readonly request: {
    /** The caller's source IP as API Gateway reports it (`requestContext.identity.sourceIp`). */
    readonly sourceIp?: string;
  };
}

/**
 * A request fact: a member of {@link PolicyContext.request}. API Gateway caches the authorizer's answer per
 * identity source, so every fact a policy reads must be part of the cache key: the CDK `AuthApi` adds the
 * identity source of each fact the route table reads ({@link requestFactsOf}) and fails synth for a fact it
 * has none for.
 */
export type RequestFact = keyof PolicyContext['request'];

/** Options of {@link definePolicy}. */
export interface PolicyOptions {
  /**
   * The request facts the policy reads from `context.request`. The policy is handed these and no others,
   * and the CDK `AuthApi` adds each one's identity source to the authorizer's cache key. A combinator
   * declares what its inner policies read: `policies.flatMap(policyReads)`.
   * @default none: `context.request` is empty
   */
  readonly reads?: readonly RequestFact[];
}

/** A policy's verdict: whether to allow, which policy decided, and a stable reason code for the log. */
export interface Decision {
  readonly allow: boolean;
  /** Name of the policy that decided (a combinator names the inner policy that settled it). */
  readonly policy: string;
  /** Stable, machine-readable reason, e.g. `scope_present`, `scope_missing:admin`. */
  readonly reason: string;
  /**
   * Set on a deny that a failing policy caused or depends on (one that threw, rejected or returned no valid
   * decision): {@link not} never turns it into an allow. {@link evaluatePolicy} sets it; a policy need not.
   */
  readonly failed?: true;
}

/**
 * The extension point: called only after the signature, claims and session checks pass. Return a
 * {@link Decision}; throwing counts as a deny (fail closed) and is logged.
 */
export type Policy = (context: PolicyContext) => Decision | Promise<Decision>;

/** One protected route: the method, an API Gateway resource path (`/api/items/{id}`), its policy. */
export interface ProtectedRoute extends RoutePattern {
  readonly policy: Policy;
}

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

/** Upper bound of a policy name, characters: longer names are a configuration mistake. */
const MAX_NAME_LENGTH = 256;

/** What a request fact's name looks like: a `PolicyContext.request` member name. */
const FACT_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

const NO_FACTS: readonly RequestFact[] = Object.freeze([]);

/** The request facts each policy made by {@link definePolicy} declared, sorted and without duplicates. */
const declaredFacts = new WeakMap<Policy, readonly RequestFact[]>();

/**
 * The request facts a policy declared it reads ({@link PolicyOptions.reads}), sorted: none for a policy
 * written as a plain function.
 */
export function policyReads(policy: Policy): readonly RequestFact[] {
  return (typeof policy === 'function' && declaredFacts.get(policy)) || NO_FACTS;
}

/**
 * The request facts a route table's policies read, sorted and without duplicates: what the authorizer's
 * cache key must include besides the token. The CDK `AuthApi` adds an identity source for each.
 */
export function requestFactsOf(routes: readonly { readonly policy: Policy }[]): readonly RequestFact[] {
  return uniqueSorted(routes.flatMap((route) => policyReads(route.policy)));
}

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
 * A policy that reads a request fact (`context.request.sourceIp`) declares it in `options.reads`: it is
 * handed only the facts it declares, and the authorizer's cache key includes each (see {@link PolicyOptions}).
 *
 * @param name the name the decision log records, conventionally the factory call: `businessHours()`.
 * @param decide the rule; called only after the signature, claims and session checks pass.
 * @param options what the policy reads from the request.
 * @throws {TypeError} when the name is empty or longer than 256 characters, or `reads` is not a list of
 * request fact names.
 *
 * @example
 * import { definePolicy, type Policy } from '.';
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
  options: PolicyOptions = {},
): Policy {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new TypeError(`a policy name must be 1 to ${MAX_NAME_LENGTH} characters, got '${String(name)}'`);
  }
  const reads = checkReads(name, options.reads);
  const withName = (verdict: PolicyVerdict): Decision =>
    decision(verdict.allow, verdict.policy ?? name, verdict.reason, isFailed(verdict));
  const policy: Policy = (context) => {
    // Called directly or through evaluatePolicy: either way, only the declared request facts.
    const verdict = decide(onlyFacts(context, reads));
    return verdict instanceof Promise ? verdict.then(withName) : withName(verdict);
  };
  Object.defineProperty(policy, 'name', { value: name });
  if (reads.length > 0) declaredFacts.set(policy, reads);
  return policy;
}

/**
 * Runs one policy and never throws: the decision it returns, or a deny with reason {@link POLICY_ERROR}
 * naming the policy when it throws, rejects, or returns anything but a decision with a boolean `allow` and
 * non-empty `policy` and `reason` strings (fail closed). The policy is handed only the request facts it
 * declared ({@link policyReads}). The combinators use it for their inner policies; the authorizer uses it for
 * each route's policy.
 *
 * @returns a frozen decision.
 */
export async function evaluatePolicy(policy: Policy, context: PolicyContext): Promise<Decision> {
  return decidePolicy(policy, context);
}

/**
 * {@link evaluatePolicy} without a promise when the policy answers synchronously (every built-in does): the
 * authorizer's warm path evaluates every route per call, and a promise per route is measurable there
 * (docs/performance.md). Same rules: never throws, fails closed, only the declared request facts.
 */
export function decidePolicy(policy: Policy, context: PolicyContext): Decision | Promise<Decision> {
  let verdict: unknown;
  try {
    verdict = policy(onlyFacts(context, policyReads(policy)));
  } catch {
    // A failing policy denies. The decision log records the policy and `policy_error`.
    return failure(policyName(policy));
  }
  if (isThenable(verdict)) {
    return Promise.resolve(verdict).then(
      (settled) => settledDecision(policy, settled),
      () => failure(policyName(policy)),
    );
  }
  return settledDecision(policy, verdict);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function settledDecision(policy: Policy, verdict: unknown): Decision {
  try {
    if (isDecision(verdict)) {
      return verdict.failed === true && Object.isFrozen(verdict) ? verdict : Object.freeze(withFlag(verdict));
    }
  } catch {
    // A getter that throws: fall through to the deny.
  }
  return failure(policyName(policy));
}

/** A frozen decision; `failed` is kept only on a deny. */
export function decision(allow: boolean, policy: string, reason: string, failed = false): Decision {
  return Object.freeze(
    !allow && failed ? { allow, policy, reason, failed: true as const } : { allow, policy, reason },
  );
}

function withFlag(verdict: Decision): Decision {
  return decision(verdict.allow, verdict.policy, verdict.reason, isFailed(verdict));
}

function failure(policy: string): Decision {
  return decision(false, policy, POLICY_ERROR, true);
}

/**
 * Whether a verdict is a deny that a failing policy caused or depends on: marked `failed`, or (a copy made
 * by a custom combinator) carrying the reason {@link POLICY_ERROR}.
 */
export function isFailed(verdict: PolicyVerdict): boolean {
  return (
    !verdict.allow && ((verdict as Partial<Decision>).failed === true || verdict.reason === POLICY_ERROR)
  );
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

/** The context with only the request facts in `reads` (the same object when it has no others). */
function onlyFacts(context: PolicyContext, reads: readonly RequestFact[]): PolicyContext {
  const request: Partial<Record<string, unknown>> = context?.request ?? {};
  const present = Object.keys(request);
  if (present.every((fact) => (reads as readonly string[]).includes(fact))) return context;
  const kept: Record<string, unknown> = {};
  for (const fact of reads) {
    if (Object.hasOwn(request, fact)) kept[fact] = request[fact];
  }
  return { ...context, request: Object.freeze(kept) };
}

function checkReads(name: string, reads: unknown): readonly RequestFact[] {
  if (reads === undefined) return NO_FACTS;
  if (!Array.isArray(reads) || !reads.every((fact) => typeof fact === 'string' && FACT_NAME.test(fact))) {
    throw new TypeError(
      `definePolicy(${name}): reads must list request fact names (members of PolicyContext.request, e.g. ['sourceIp']), got ${describeReads(reads)}`,
    );
  }
  return uniqueSorted(reads as RequestFact[]);
}

function describeReads(reads: unknown): string {
  try {
    return JSON.stringify(reads) ?? String(reads);
  } catch {
    return String(reads);
  }
}

function uniqueSorted(facts: readonly RequestFact[]): readonly RequestFact[] {
  return facts.length === 0 ? NO_FACTS : Object.freeze([...new Set(facts)].sort());
}
