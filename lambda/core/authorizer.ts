/**
 * The authorizer's domain logic: a {@link BearerAuthenticator} verdict, then the policy of every route of
 * the protected route table.
 */
import { type Decision, evaluatePolicy, type ProtectedRoute } from '../policies';
import type { AccessTokenClaims } from './access-token';
import type { BearerAuthenticator, DecisionFacts, Unauthorized } from './bearer-authenticator';
import type { HttpMethod } from './route-matching';
import type { SessionRecord } from './session';

/** What the authorizer is asked. */
export interface AuthorizationRequest {
  /** The `Authorization` header as received (any case of the scheme). */
  readonly authorization: string | undefined;
  /** The route the request is for, from the route table. */
  readonly method: HttpMethod;
  readonly path: string;
  readonly sourceIp?: string;
}

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
 * so that one cached answer is right on every route.
 */
export class Authorizer {
  public constructor(
    private readonly authenticator: BearerAuthenticator,
    private readonly routes: readonly ProtectedRoute[],
  ) {}

  public async authorize(request: AuthorizationRequest): Promise<Unauthorized | Decided> {
    const result = await this.authenticator.authenticate(request.authorization);
    if (result.outcome === 'unauthorized') return result;
    const { claims, session } = result;
    const requestFacts = request.sourceIp === undefined ? {} : { sourceIp: request.sourceIp };
    const routes = await Promise.all(
      this.routes.map(async (route) => ({
        route,
        decision: await evaluatePolicy(route.policy, {
          claims,
          session,
          route: { method: route.method, path: route.path },
          request: requestFacts,
        }),
      })),
    );
    const current =
      routes.find(({ route }) => route.method === request.method && route.path === request.path)?.decision ??
      NOT_IN_TABLE;
    return { ...result, outcome: 'decided', current, routes };
  }
}
