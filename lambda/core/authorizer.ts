/**
 * The authorizer's domain logic: a {@link BearerAuthenticator} verdict, then the policy of every route of
 * the protected route table.
 */
import {
  type Decision,
  decidePolicy,
  type PolicyContext,
  type ProtectedRoute,
  policyName,
  policyReads,
  type RequestFact,
} from '../policies';
import type { AccessTokenClaims } from './access-token';
import type { BearerAuthenticator, DecisionFacts, Unauthorized } from './bearer-authenticator';
import { type HttpMethod, validateRouteTable } from './route-matching';
import type { SessionRecord } from './session';

/** What the authorizer is asked. */
export interface AuthorizationRequest {
  /** The `Authorization` header as received (any case of the scheme). */
  readonly authorization: string | undefined;
  /** The route the request is for, from the route table. */
  readonly method: HttpMethod;
  readonly path: string;
  /** The caller's source IP as API Gateway reports it: the request fact `sourceIp`. */
  readonly sourceIp?: string;
}

/**
 * How the authorizer reads each request fact ({@link RequestFact}) from what it is asked: one entry per
 * member of `PolicyContext.request`, so that a new fact does not compile until it is read here.
 */
const REQUEST_FACT_READERS: {
  readonly [F in RequestFact]-?: (request: AuthorizationRequest) => PolicyContext['request'][F];
} = {
  sourceIp: (request) => request.sourceIp,
};

/** The token and session are good; each route of the table got a policy decision. */
export interface Decided extends DecisionFacts {
  readonly outcome: 'decided';
  readonly claims: AccessTokenClaims;
  readonly session: SessionRecord;
  /** The decision for the requested route (`undefined` when it is not in the route table: a deny). */
  readonly current: Decision;
  /** Every route of the table with its decision, so that one cached answer is right on every route. */
  readonly routes: ReadonlyArray<{ readonly route: ProtectedRoute; readonly decision: Decision }>;
}

const NOT_IN_TABLE: Decision = { allow: false, policy: 'routeTable', reason: 'route_not_declared' };

/**
 * The authorizer's domain logic: {@link BearerAuthenticator}, then the policy of every route of the table,
 * so that one cached answer is right on every route. Each policy is handed only the request facts it
 * declares ({@link policyReads}).
 */
export class Authorizer {
  /**
   * @throws {TypeError} when the route table is invalid (see `validateRouteTable`), or a policy reads a
   * request fact the authorizer does not provide.
   */
  public constructor(
    private readonly authenticator: BearerAuthenticator,
    private readonly routes: readonly ProtectedRoute[],
  ) {
    validateRouteTable(routes);
    routes.forEach((route, index) => {
      const unknown = policyReads(route.policy).find((fact) => !Object.hasOwn(REQUEST_FACT_READERS, fact));
      if (unknown !== undefined) {
        throw new TypeError(
          `route ${index} (${route.method} ${route.path}): policy ${policyName(route.policy)} reads the ` +
            `request fact '${unknown}', which the authorizer does not provide (it provides: ` +
            `${Object.keys(REQUEST_FACT_READERS).join(', ')})`,
        );
      }
    });
  }

  public async authorize(request: AuthorizationRequest): Promise<Unauthorized | Decided> {
    const result = await this.authenticator.authenticate(request.authorization);
    if (result.outcome === 'unauthorized') return result;
    const { claims, session } = result;
    // Every fact the request carries; evaluatePolicy hands each policy only those it declares.
    const requestFacts: Record<string, string> = {};
    for (const [fact, read] of Object.entries(REQUEST_FACT_READERS)) {
      const value = read(request);
      if (value !== undefined) requestFacts[fact] = value;
    }
    // Synchronous unless a policy answers with a promise: no promise per route on the warm path.
    const decisions = this.routes.map((route) =>
      decidePolicy(route.policy, {
        claims,
        session,
        route: { method: route.method, path: route.path },
        request: requestFacts,
      }),
    );
    const settled = decisions.some((decision) => decision instanceof Promise)
      ? await Promise.all(decisions)
      : (decisions as Decision[]);
    const routes = this.routes.map((route, index) => ({ route, decision: settled[index] as Decision }));
    const current =
      routes.find(({ route }) => route.method === request.method && route.path === request.path)?.decision ??
      NOT_IN_TABLE;
    return { ...result, outcome: 'decided', current, routes };
  }
}
