import { authenticated, type ProtectedRoute, requireScope } from './policies';

/**
 * The route table: every route the authorizer protects, with its policy, declared once. The authorizer
 * decides all of them for each token (so a cached decision is right on every route), the local platform
 * routes by it, and the CDK `AuthApi` creates its methods from it. Add a route here with its policy; see
 * docs/custom-policies.md.
 */
export const PROTECTED_ROUTES: readonly ProtectedRoute[] = [
  { method: 'GET', path: '/api/me', policy: authenticated() },
  { method: 'GET', path: '/api/admin', policy: requireScope('admin') },
];
