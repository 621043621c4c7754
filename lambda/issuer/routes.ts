import type { RoutePattern } from '../core/route-matching';

/**
 * The health route: 200 when this region can serve (its table answers and its signing keys are usable), else
 * 503. The Route 53 health check of the `domain` option and the local global endpoint call it.
 */
export const HEALTH_PATH = '/health';

/**
 * The issuer's public routes (API Gateway resource paths), declared once: the CDK `AuthApi` creates their
 * methods, the local platform routes by them, and the issuer handler answers exactly these.
 */
export const ISSUER_ROUTES: readonly RoutePattern[] = [
  { method: 'POST', path: '/auth/login' },
  { method: 'POST', path: '/auth/token' },
  { method: 'POST', path: '/auth/logout' },
  { method: 'POST', path: '/auth/logout-all' },
  { method: 'POST', path: '/auth/password' },
  { method: 'GET', path: '/auth/sessions' },
  { method: 'DELETE', path: '/auth/sessions/{id}' },
  { method: 'POST', path: '/auth/revoke' },
  { method: 'GET', path: '/.well-known/jwks.json' },
  { method: 'GET', path: '/.well-known/openid-configuration' },
  { method: 'GET', path: '/.well-known/oauth-authorization-server' },
  { method: 'GET', path: HEALTH_PATH },
];
