/**
 * The one error hierarchy of the runtime code. Every error carries a stable `code` that handlers map to a
 * response in one place and that decision logs record; messages are for humans and never contain a token,
 * a secret or key material.
 */

/** Why an access token was refused. Stable: decision logs and dashboards key on these values. */
export type TokenErrorCode =
  | 'malformed'
  | 'header_invalid'
  | 'unknown_kid'
  | 'alg_mismatch'
  | 'bad_signature'
  | 'typ_invalid'
  | 'claim_missing'
  | 'claim_invalid'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'lifetime_exceeded'
  | 'issuer_mismatch'
  | 'audience_mismatch';

/** Why a grant (refresh token, password) was refused. All of them answer OAuth `invalid_grant`. */
export type GrantErrorCode =
  | 'refresh_token_malformed'
  | 'unknown_mac_key'
  | 'bad_mac'
  | 'refresh_token_reused'
  | 'session_not_found'
  | 'session_revoked'
  | 'session_expired'
  | 'session_idle'
  | 'session_logged_out_everywhere'
  | 'subject_disabled'
  | 'client_mismatch'
  | 'invalid_credentials';

/** Every code any error of this hierarchy can carry. */
export type HybridAuthErrorCode =
  | TokenErrorCode
  | GrantErrorCode
  | 'account_locked'
  | 'invalid_request'
  | 'not_ready';

/** Base class of every domain error. */
export abstract class HybridAuthError extends Error {
  /** A stable, machine-readable reason. */
  public abstract readonly code: HybridAuthErrorCode;
}

/** An access token failed verification. Maps to 401 `invalid_token`. */
export class TokenError extends HybridAuthError {
  public override readonly name = 'TokenError';
  public constructor(
    public readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A refresh token or a credential was refused. Maps to 400/401 `invalid_grant`. */
export class GrantError extends HybridAuthError {
  public override readonly name = 'GrantError';
  public constructor(
    public readonly code: GrantErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Too many failed logins for one username. Maps to 429 with `Retry-After`. */
export class AccountLockedError extends HybridAuthError {
  public override readonly name = 'AccountLockedError';
  public readonly code = 'account_locked' as const;
  public constructor(
    /** Whole seconds until the next attempt is considered. */
    public readonly retryAfterSeconds: number,
  ) {
    super(`too many failed attempts; retry after ${retryAfterSeconds} s`);
  }
}

/** The input is not what the operation accepts (shape, size, encoding). Maps to 400 `invalid_request`. */
export class InvalidRequestError extends HybridAuthError {
  public override readonly name = 'InvalidRequestError';
  public readonly code = 'invalid_request' as const;
}

/**
 * Why this region's issuer cannot serve. Stable: the `cause` field of the `issuer not ready` log line
 * (LOG_MESSAGES.issuerNotReady), which the readiness alarm counts.
 * - `signing_keys_uninitialized`: the secret still holds the deployment placeholder (before the first
 *   rotation, or a replica region whose copy of the secret is stale).
 * - `signing_keys_unreadable`: the secret cannot be read, is not a key set, or has no current signing key
 *   or MAC key.
 * - `table_unavailable`: this region's table does not answer.
 * - `jwks_unpublished`: the table answers but holds no published JWKS (verifiers could not check a token).
 */
export type NotReadyCause =
  | 'signing_keys_uninitialized'
  | 'signing_keys_unreadable'
  | 'table_unavailable'
  | 'jwks_unpublished';

/** The part of a region a {@link NotReadyCause} makes unusable. */
export type NotReadyPart = 'keys' | 'table';

/**
 * This region cannot serve yet (or any more): its signing keys or its table are unusable. Maps to 503
 * `temporarily_unavailable` with `Retry-After`, and one `issuer not ready` log line naming the cause.
 */
export class NotReadyError extends HybridAuthError {
  public override readonly name = 'NotReadyError';
  public readonly code = 'not_ready' as const;
  public constructor(
    /** Why, in the stable vocabulary of the log line. */
    public readonly reason: NotReadyCause,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** The unusable part: the signing keys or the table. */
  public get part(): NotReadyPart {
    return this.reason === 'table_unavailable' || this.reason === 'jwks_unpublished' ? 'table' : 'keys';
  }
}
