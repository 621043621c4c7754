import type { AuthApi } from './auth-api';

/**
 * Your backends: the integration behind each route of the protected route table
 * (`lambda/protected-routes.ts`), added with {@link AuthApi.addProtectedRoute}. Every region's stack calls
 * this once, after its API exists. The sample backends (`sampleBackends` in the configuration) need nothing
 * here; a fork adds its own, as docs/forking.md shows.
 *
 * @example
 * const reports = new PlatformFunction(api, 'Reports', { entry: 'reports/index.ts' });
 * api.addProtectedRoute('GET', '/api/reports/{id}', new LambdaIntegration(reports));
 */
export function addBackends(_api: AuthApi): void {}
