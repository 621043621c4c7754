import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { LOG_MESSAGES, type Logger } from '../adapters/logger';
import type { Authorizer } from '../core/authorizer';
import type { HttpMethod } from '../core/route-matching';
import { buildMethodArn, HTTP_METHODS, parseMethodArn } from '../core/route-matching';

/** The message API Gateway turns into a 401 (its `UNAUTHORIZED` gateway response). */
export const UNAUTHORIZED = 'Unauthorized';

/** Collaborators of the authorizer handler. */
export interface AuthorizerHandlerDeps {
  readonly authorizer: Authorizer;
  readonly logger: Logger;
}

/** The context handed to the backend integration (`$context.authorizer.*`). */
export interface AuthorizerContext {
  readonly sub: string;
  readonly sid: string;
  readonly scope: string;
  readonly clientId: string;
  /** Why the requested route was allowed or denied (for the 403 body and the backend's own log). */
  readonly policy: string;
  readonly reason: string;
}

/**
 * The REQUEST authorizer: a bad or missing token, or a dead session, is `Unauthorized` (401); a good token
 * gets an IAM policy that allows every route of the table its policies allow and denies the rest, so a
 * cached decision is right on every route (403 where denied). A store failure throws another error, which
 * API Gateway answers as an authorizer failure (mapped to 503 by the `AuthApi`): closed and loud.
 * One decision log line per call; never the token.
 */
export function createAuthorizerHandler(
  deps: AuthorizerHandlerDeps,
): (event: APIGatewayRequestAuthorizerEvent, context?: Context) => Promise<APIGatewayAuthorizerResult> {
  return async (event, lambdaContext) => {
    deps.logger.forRequest(lambdaContext, event.requestContext?.requestId);
    const started = performance.now();
    const arn = parseMethodArn(event.methodArn);
    const method = HTTP_METHODS.find((candidate) => candidate === event.httpMethod);
    const route = `${event.httpMethod} ${event.resource}`;
    const log = (fields: Record<string, string | number | boolean | undefined>) =>
      deps.logger.info(LOG_MESSAGES.authorizerDecision, {
        route,
        ...fields,
        latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
    if (arn === undefined || method === undefined) {
      log({ decision: 'unauthorized', reason: 'malformed_event' });
      throw new Error(UNAUTHORIZED);
    }
    let result: Awaited<ReturnType<Authorizer['authorize']>>;
    try {
      result = await deps.authorizer.authorize({
        authorization: authorizationHeader(event),
        method: method as HttpMethod,
        path: event.resource,
        ...(event.requestContext?.identity?.sourceIp
          ? { sourceIp: event.requestContext.identity.sourceIp }
          : {}),
      });
    } catch (error) {
      log({
        decision: 'error',
        reason: 'dependency_unavailable',
        error: (error as Error)?.name ?? 'unknown',
      });
      throw new Error('AuthorizerDependencyFailure');
    }
    const facts = {
      sub: result.sub,
      sid: result.sid,
      kid: result.kid,
      jti: result.jti,
      cacheHit: result.cacheHit,
      sessionCheck: result.sessionCheck,
    };
    if (result.outcome === 'unauthorized') {
      log({ decision: 'unauthorized', reason: result.reason, ...facts });
      throw new Error(UNAUTHORIZED);
    }
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const { route: declared, decision } of result.routes) {
      (decision.allow ? allowed : denied).push(buildMethodArn(arn, declared));
    }
    if (!result.current.allow && !denied.includes(event.methodArn)) denied.push(event.methodArn);
    log({
      decision: result.current.allow ? 'allow' : 'deny',
      reason: result.current.reason,
      policy: result.current.policy,
      ...facts,
    });
    const context: AuthorizerContext = {
      sub: result.claims.sub,
      sid: result.claims.sid,
      scope: result.claims.scope,
      clientId: result.claims.client_id,
      policy: result.current.policy,
      reason: result.current.reason,
    };
    return {
      principalId: result.claims.sub,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          ...(allowed.length > 0
            ? [{ Action: 'execute-api:Invoke', Effect: 'Allow' as const, Resource: allowed }]
            : []),
          ...(denied.length > 0
            ? [{ Action: 'execute-api:Invoke', Effect: 'Deny' as const, Resource: denied }]
            : []),
        ],
      },
      context: { ...context },
    };
  };
}

function authorizationHeader(event: APIGatewayRequestAuthorizerEvent): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() === 'authorization' && typeof value === 'string') return value;
  }
  return undefined;
}
