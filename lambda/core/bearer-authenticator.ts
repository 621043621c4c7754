/**
 * Authenticates a bearer access token and the session it names: the first half of every authorizer
 * decision, and what the issuer's own bearer routes (logout everywhere, session listing) use.
 */
import type { AccessTokenClaims, AccessTokenVerifier, VerifiedAccessToken } from './access-token';
import type { Clock } from './clock';
import { TokenError } from './errors';
import type { JwksCache } from './jwks-cache';
import { type SessionRecord, sessionStatus } from './session';
import type { SessionCache } from './session-cache';
import { watermarkRefusal } from './subject';

/** Facts of a decision for the decision log: never the token. */
export interface DecisionFacts {
  readonly sub?: string;
  readonly sid?: string;
  readonly kid?: string;
  readonly jti?: string;
  readonly cacheHit?: boolean;
  /**
   * `not_yet_replicated`: the token is valid and young, but its session has not reached this region yet
   * (see {@link BearerAuthenticatorDeps.replicationLagBoundMs}); it was accepted on the strength of the token.
   */
  readonly sessionCheck?: 'not_yet_replicated';
}

/** The token or its session was refused: 401. */
export interface Unauthorized extends DecisionFacts {
  readonly outcome: 'unauthorized';
  /**
   * A TokenError code, `missing_token`, or the session status (`session_revoked`, `session_logged_out_everywhere`,
   * `session_disabled`, ...).
   */
  readonly reason: string;
}

/** A bearer token and its session that passed every check. */
export interface Authenticated extends DecisionFacts {
  readonly outcome: 'authenticated';
  readonly claims: AccessTokenClaims;
  readonly session: SessionRecord;
}

/** Collaborators of {@link BearerAuthenticator}. */
export interface BearerAuthenticatorDeps {
  readonly verifier: AccessTokenVerifier;
  readonly jwks: JwksCache;
  readonly sessions: SessionCache;
  readonly clock?: Clock;
  /**
   * How long after its `iat` a valid token is accepted although this region has no item for its session:
   * the expected replication lag of the global table (a user whose next call lands in another region right
   * after login is not logged out). Past it, no session item is `session_not_found`. A revoked session is
   * never helped by it: its revoked item is there. Nor is a session behind its subject's watermark: the token's
   * `iat` stands in for the session's `authenticatedAt` (the session was authenticated at or before it).
   * 0 turns it off (strong consistency, and the issuer,
   * which must not act on a session it cannot see).
   * @default 0
   */
  readonly replicationLagBoundMs?: number;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * Authenticates an `Authorization: Bearer` header: strict verification (re-loading the JWKS once, rate
 * limited, for a `kid` not seen yet), then the session the token names must exist, belong to the token's
 * subject and be active, and its subject's watermark must not refuse it (logged out everywhere, disabled):
 * both items come from one read (see {@link SessionCache}). Store failures propagate: callers fail closed
 * with 503, never a misleading 401.
 */
export class BearerAuthenticator {
  private readonly clock: Clock;

  public constructor(private readonly deps: BearerAuthenticatorDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  public async authenticate(authorization: string | undefined): Promise<Unauthorized | Authenticated> {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token === undefined) return { outcome: 'unauthorized', reason: 'missing_token' };
    let verified: VerifiedAccessToken;
    try {
      await this.deps.jwks.ensureFresh();
      verified = this.verifySync(token) ?? (await this.verifyAfterReload(token));
    } catch (error) {
      if (error instanceof TokenError) return { outcome: 'unauthorized', reason: error.code };
      throw error;
    }
    const { claims, kid } = verified;
    const facts = { sub: claims.sub, sid: claims.sid, kid, jti: claims.jti };
    // A fresh cached session is used without another turn of the event loop (the warm path's common case).
    // An absence read while the token is inside its replication-lag bound is cached only until the bound ends:
    // past it the token is refused without a session item, so that refusal comes from a fresh read.
    const { session, subject, cacheHit } =
      this.deps.sessions.peek(claims.sid, claims.sub) ??
      (await this.deps.sessions.get(claims.sid, claims.sub, { absentUntil: this.replicationEnds(claims) }));
    if (session === undefined && this.replicating(claims)) {
      // Not replicated here yet, but the watermark may be: a session authenticated no later than the token's
      // `iat` is behind a watermark at or after it.
      const refusal = watermarkRefusal(subject, claims.iat * 1000);
      if (refusal !== undefined) {
        return { outcome: 'unauthorized', reason: `session_${refusal}`, ...facts, cacheHit };
      }
      return {
        outcome: 'authenticated',
        claims,
        session: provisionalSession(claims),
        ...facts,
        cacheHit,
        sessionCheck: 'not_yet_replicated',
      };
    }
    if (session === undefined || session.sub !== claims.sub) {
      return { outcome: 'unauthorized', reason: 'session_not_found', ...facts, cacheHit };
    }
    const status = sessionStatus(session, this.clock(), subject);
    if (status !== 'active')
      return { outcome: 'unauthorized', reason: `session_${status}`, ...facts, cacheHit };
    return { outcome: 'authenticated', claims, session, ...facts, cacheHit };
  }

  /** Whether a token without a session item here is young enough that its session may still be replicating. */
  private replicating(claims: AccessTokenClaims): boolean {
    const ends = this.replicationEnds(claims);
    const now = this.clock();
    return ends !== undefined && now >= claims.iat * 1000 && now <= ends;
  }

  /** When a token's replication-lag bound ends (epoch ms, inclusive); `undefined` when there is no bound. */
  private replicationEnds(claims: AccessTokenClaims): number | undefined {
    const bound = this.deps.replicationLagBoundMs ?? 0;
    return bound > 0 ? claims.iat * 1000 + bound : undefined;
  }

  /**
   * Verifies synchronously (the hot path: no promise when the `kid` is known). `undefined` means the `kid` is
   * unknown, for {@link verifyAfterReload}; every other refusal throws.
   */
  private verifySync(token: string): VerifiedAccessToken | undefined {
    try {
      return this.deps.verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenError && error.code === 'unknown_kid') return undefined;
      throw error;
    }
  }

  /** An unknown `kid`: re-load the JWKS once (rate limited) and verify again, or refuse as `unknown_kid`. */
  private async verifyAfterReload(token: string): Promise<VerifiedAccessToken> {
    if (await this.deps.jwks.refreshForUnknownKid()) return this.deps.verifier.verify(token);
    throw new TokenError('unknown_kid', 'no verification key has this kid');
  }
}

/**
 * The session a valid token describes, for a session whose item has not reached this region yet: what the
 * token says (subject, client, scope), alive until the token expires. Policies see it as they see any session.
 */
function provisionalSession(claims: AccessTokenClaims): SessionRecord {
  const issuedAt = claims.iat * 1000;
  return {
    sid: claims.sid,
    sub: claims.sub,
    clientId: claims.client_id,
    scope: claims.scope,
    createdAt: issuedAt,
    authenticatedAt: issuedAt,
    lastUsedAt: issuedAt,
    absoluteExpiresAt: claims.exp * 1000,
    idleExpiresAt: claims.exp * 1000,
    generation: 0,
    salt: '',
    rotatedAt: issuedAt,
  };
}
