import {
  allOf,
  authenticated,
  definePolicy,
  type ProtectedRoute,
  requireScope,
  sourceIpAllowList,
} from '../../lambda/policies';
import { PROTECTED_ROUTES } from '../../lambda/protected-routes';
import { SAMPLE_ROUTES } from '../../lib/auth-api';
import { chooseProtectedRoute } from '../../scripts/deployment-checks';

// The route verify-deployment calls as its test user (an empty scope, no known source address): a GET without
// path parameters whose policy allows that user, sample backends first when they are deployed.

const throwing = definePolicy('throws', () => {
  throw new Error('boom');
});

describe('chooseProtectedRoute', () => {
  test('skips routes with side effects, path parameters or a policy the user does not satisfy', async () => {
    const routes: ProtectedRoute[] = [
      { method: 'POST', path: '/api/orders', policy: authenticated() },
      { method: 'GET', path: '/api/orders/{id}', policy: authenticated() },
      { method: 'GET', path: '/api/admin', policy: requireScope('admin') },
      { method: 'GET', path: '/api/office', policy: sourceIpAllowList(['10.0.0.0/8']) },
      { method: 'GET', path: '/api/broken', policy: throwing },
      { method: 'GET', path: '/api/reports', policy: allOf(authenticated()) },
      { method: 'GET', path: '/api/later', policy: authenticated() },
    ];
    expect(await chooseProtectedRoute(routes)).toEqual({ route: { method: 'GET', path: '/api/reports' } });
  });

  test('puts preferred routes first and never picks an excluded one', async () => {
    const routes: ProtectedRoute[] = [
      { method: 'GET', path: '/api/first', policy: authenticated() },
      { method: 'GET', path: '/api/sample', policy: authenticated() },
    ];
    const sample = [{ method: 'GET', path: '/api/sample' }] as const;
    expect(await chooseProtectedRoute(routes, { preferred: sample })).toEqual({
      route: { method: 'GET', path: '/api/sample' },
    });
    expect(await chooseProtectedRoute(routes, { excluded: sample.concat() })).toEqual({
      route: { method: 'GET', path: '/api/first' },
    });
  });

  test('gives the reason when no route fits', async () => {
    const choice = await chooseProtectedRoute([
      { method: 'GET', path: '/api/admin', policy: requireScope('admin') },
    ]);
    expect(choice.route).toBeUndefined();
    expect(choice.reason).toContain('lambda/protected-routes.ts');
  });

  test("the project's own table: with the sample backends a sample route, without them none of them", async () => {
    const withSamples = await chooseProtectedRoute(PROTECTED_ROUTES, { preferred: SAMPLE_ROUTES });
    expect(SAMPLE_ROUTES).toContainEqual(withSamples.route);
    const without = await chooseProtectedRoute(PROTECTED_ROUTES, { excluded: SAMPLE_ROUTES });
    if (without.route !== undefined) expect(SAMPLE_ROUTES).not.toContainEqual(without.route);
  });
});
