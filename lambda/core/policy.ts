import type { AccessTokenClaims } from './access-token';
import type { SessionRecord } from './session';

/** An HTTP method a route can be declared for. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/** What a policy knows about the request: claims and session are verified before any policy runs. */
export interface PolicyContext {
  /** The verified access token claims. */
  readonly claims: AccessTokenClaims;
  /** The live session the token names (not revoked, not expired, not idle). */
  readonly session: SessionRecord;
  /** The route being decided (the authorizer decides every route of the table for one token). */
  readonly route: { readonly method: HttpMethod; readonly path: string };
  /** Request facts the authorizer sees. */
  readonly request: {
    /** The caller's source IP as API Gateway reports it. */
    readonly sourceIp?: string;
  };
}

/** A policy's verdict: whether to allow, which policy decided, and a stable reason code for the log. */
export interface Decision {
  readonly allow: boolean;
  /** Name of the policy that decided (a combinator names the inner policy that settled it). */
  readonly policy: string;
  /** Stable, machine-readable reason, e.g. `scope_present`, `scope_missing:admin`. */
  readonly reason: string;
}

/**
 * The extension point: called only after the signature, claims and session checks pass. Return a
 * {@link Decision}; throwing counts as a deny (fail closed) and is logged.
 */
export type Policy = (context: PolicyContext) => Decision | Promise<Decision>;

/** One protected route: the method, an API Gateway resource path (`/api/items/{id}`), its policy. */
export interface ProtectedRoute {
  readonly method: HttpMethod;
  readonly path: string;
  readonly policy: Policy;
}
