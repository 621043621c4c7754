import type { AccessTokenClaims } from '../../lambda/core/access-token';
import type { SessionRecord } from '../../lambda/core/session';
import type { PolicyContext } from '../../lambda/policies';
import { AUDIENCE, ISSUER } from './fixtures';

/** What a policy test may set: any claim, the route, the request facts. */
export interface PolicyContextOverrides {
  readonly claims?: Partial<AccessTokenClaims>;
  readonly route?: PolicyContext['route'];
  readonly request?: PolicyContext['request'];
}

/**
 * A {@link PolicyContext} as the authorizer hands it to a policy: verified claims (defaults for one web
 * client token with scope `profile`, overridden by `claims`) and the live session they name.
 */
export function policyContext(overrides: PolicyContextOverrides = {}): PolicyContext {
  const claims: AccessTokenClaims = {
    iss: ISSUER,
    sub: 'user-1',
    aud: AUDIENCE,
    exp: 1_795_000_300,
    iat: 1_795_000_000,
    nbf: 1_795_000_000,
    jti: 'jti-1',
    sid: 'sid-1',
    client_id: 'web',
    scope: 'profile',
    ...overrides.claims,
  };
  const session: SessionRecord = {
    sid: claims.sid,
    sub: claims.sub,
    clientId: claims.client_id,
    scope: claims.scope,
    createdAt: claims.iat * 1000,
    authenticatedAt: claims.iat * 1000,
    lastUsedAt: claims.iat * 1000,
    absoluteExpiresAt: claims.iat * 1000 + 14_400_000,
    idleExpiresAt: claims.iat * 1000 + 3_600_000,
    generation: 0,
    salt: 'c2FsdHNhbHRzYWx0c2FsdA',
    rotatedAt: claims.iat * 1000,
  };
  return {
    claims,
    session,
    route: overrides.route ?? { method: 'GET', path: '/api/me' },
    request: overrides.request ?? {},
  };
}
