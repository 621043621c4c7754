import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import fc from 'fast-check';
import {
  type ApiStage,
  buildMethodArn,
  isValidRequestPath,
  MAX_PATH_LENGTH,
  matchRoute,
  methodArnCovers,
  parseMethodArn,
  type RoutePattern,
  validateRouteTable,
} from '../../lambda/core/route-matching';
import type { ProtectedRoute } from '../../lambda/policies';
import { authenticated } from '../../lambda/policies';
import { isAllowed } from '../../local/platform';

const PREFIX = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod';
const STAGE: ApiStage = {
  partition: 'aws',
  region: 'eu-west-1',
  accountId: '123456789012',
  apiId: 'a1b2c3d4e5',
  stage: 'prod',
};

const route = (method: ProtectedRoute['method'], path: string): ProtectedRoute => ({
  method,
  path,
  policy: authenticated(),
});

describe('parseMethodArn', () => {
  test('parses the API stage, method and request path', () => {
    expect(parseMethodArn(`${PREFIX}/GET/api/items/42`)).toEqual({
      ...STAGE,
      method: 'GET',
      resourcePath: '/api/items/42',
    });
  });

  test('parses the root path', () => {
    expect(parseMethodArn(`${PREFIX}/DELETE/`)?.resourcePath).toBe('/');
  });

  test('parses a GovCloud ARN', () => {
    const arn = parseMethodArn(
      'arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:a1b2c3d4e5/v1_beta-2/POST/api/items',
    );

    expect(arn).toMatchObject({ partition: 'aws-us-gov', region: 'us-gov-west-1', stage: 'v1_beta-2' });
  });

  test('keeps percent-encoded characters as they came', () => {
    expect(parseMethodArn(`${PREFIX}/GET/api/items/a%20b`)?.resourcePath).toBe('/api/items/a%20b');
  });

  test.each([
    ['another service', 'arn:aws:lambda:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/api'],
    ['no arn: prefix', 'aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/api'],
    ['no region', 'arn:aws:execute-api::123456789012:a1b2c3d4e5/prod/GET/api'],
    ['an 11-digit account', 'arn:aws:execute-api:eu-west-1:12345678901:a1b2c3d4e5/prod/GET/api'],
    ['an upper-case API id', 'arn:aws:execute-api:eu-west-1:123456789012:A1B2C3D4E5/prod/GET/api'],
    ['a short API id', 'arn:aws:execute-api:eu-west-1:123456789012:a1b2/prod/GET/api'],
    ['no stage', 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/GET/api'],
    ['a stage with a dot', `${PREFIX}.x/GET/api`],
    ['a lower-case method', `${PREFIX}/get/api`],
    ['an unknown method', `${PREFIX}/TRACE/api`],
    ['a wildcard method', `${PREFIX}/*/api`],
    ['nothing after the method', `${PREFIX}/GET`],
    ['an empty segment', `${PREFIX}/GET/api//items`],
    ['a trailing slash', `${PREFIX}/GET/api/items/`],
    ['a .. segment', `${PREFIX}/GET/api/../admin`],
    ['an encoded .. segment', `${PREFIX}/GET/api/%2e%2e/admin`],
    ['a wildcard in the path', `${PREFIX}/GET/api/*`],
    ['a space in the path', `${PREFIX}/GET/api/a b`],
    ['a query string', `${PREFIX}/GET/api?x=1`],
    ['an over-long path', `${PREFIX}/GET/${'a'.repeat(MAX_PATH_LENGTH)}`],
    ['an empty string', ''],
  ])('returns undefined for %s', (_, arn) => {
    expect(parseMethodArn(arn)).toBeUndefined();
  });

  test('returns undefined for a non-string', () => {
    expect(parseMethodArn({ methodArn: `${PREFIX}/GET/api` })).toBeUndefined();
  });
});

describe('buildMethodArn', () => {
  test('keeps a literal path', () => {
    expect(buildMethodArn(STAGE, { method: 'POST', path: '/api/items' })).toBe(`${PREFIX}/POST/api/items`);
  });

  test('turns a path parameter into a wildcard', () => {
    expect(buildMethodArn(STAGE, { method: 'GET', path: '/api/items/{id}/notes/{noteId}' })).toBe(
      `${PREFIX}/GET/api/items/*/notes/*`,
    );
  });

  test('turns a greedy parameter into a wildcard', () => {
    expect(buildMethodArn(STAGE, { method: 'GET', path: '/files/{proxy+}' })).toBe(`${PREFIX}/GET/files/*`);
  });

  test('builds the root path with an empty resource', () => {
    expect(buildMethodArn(STAGE, { method: 'GET', path: '/' })).toBe(`${PREFIX}/GET/`);
  });

  test('builds in the API stage of a parsed methodArn', () => {
    const parsed = parseMethodArn(
      'arn:aws-cn:execute-api:cn-north-1:210987654321:z9y8x7w6v5/dev/GET/api/items/42',
    );
    if (parsed === undefined) throw new Error('the methodArn should parse');

    expect(buildMethodArn(parsed, { method: 'DELETE', path: '/api/items/{id}' })).toBe(
      'arn:aws-cn:execute-api:cn-north-1:210987654321:z9y8x7w6v5/dev/DELETE/api/items/*',
    );
  });

  test.each([
    ['api/items', /must start with \//],
    ['/api//items', /part '' is neither/],
    ['/api/items/', /part '' is neither/],
    ['/api/{proxy+}/more', /\{proxy\+\} must be the last part/],
    ['/api/{id}/{id}', /parameter \{id\} appears twice/],
    ['/api/item-{id}', /part 'item-\{id\}' is neither/],
    ['/api/*', /part '\*' is neither/],
    ['/api/..', /part '\.\.' is neither/],
    ['/api/{}', /part '\{\}' is neither/],
  ])('fails on the route pattern %j', (path, message) => {
    expect(() => buildMethodArn(STAGE, { method: 'GET', path })).toThrow(message);
  });
});

describe('matchRoute', () => {
  const routes = [
    route('GET', '/'),
    route('GET', '/api/items'),
    route('POST', '/api/items'),
    route('GET', '/api/items/{id}'),
    route('GET', '/api/items/{id}/notes/{noteId}'),
    route('GET', '/files/{path+}'),
  ];

  test('matches a literal path with no parameters', () => {
    const match = matchRoute(routes, 'POST', '/api/items');

    expect(match?.route).toBe(routes[2]);
    expect(match?.params).toEqual({});
  });

  test('matches the root path', () => {
    expect(matchRoute(routes, 'GET', '/')?.route).toBe(routes[0]);
  });

  test('returns the path parameters', () => {
    const match = matchRoute(routes, 'GET', '/api/items/42/notes/n-7');

    expect(match?.route).toBe(routes[4]);
    expect(match?.params).toEqual({ id: '42', noteId: 'n-7' });
  });

  test('percent-decodes a path parameter', () => {
    expect(matchRoute(routes, 'GET', '/api/items/caf%C3%A9%20au%20lait')?.params).toEqual({
      id: 'café au lait',
    });
  });

  test('gives a greedy parameter every remaining segment', () => {
    const match = matchRoute(routes, 'GET', '/files/reports/2026/q4.pdf');

    expect(match?.route).toBe(routes[5]);
    expect(match?.params).toEqual({ path: 'reports/2026/q4.pdf' });
  });

  test('does not match a greedy parameter with no segment', () => {
    expect(matchRoute(routes, 'GET', '/files')).toBeUndefined();
  });

  test('requires the same method', () => {
    expect(matchRoute(routes, 'DELETE', '/api/items/42')).toBeUndefined();
  });

  test('does not match a HEAD request to a GET route', () => {
    expect(matchRoute(routes, 'HEAD', '/api/items')).toBeUndefined();
  });

  test('returns undefined when no pattern matches', () => {
    expect(matchRoute(routes, 'GET', '/api/items/42/extra')).toBeUndefined();
  });

  test('prefers a literal part over a parameter, whatever the order', () => {
    const table = [route('GET', '/api/items/{id}'), route('GET', '/api/items/search')];

    expect(matchRoute(table, 'GET', '/api/items/search')?.route).toBe(table[1]);
  });

  test('prefers a parameter over a greedy parameter, whatever the order', () => {
    const table = [route('GET', '/api/{proxy+}'), route('GET', '/api/{resource}')];

    expect(matchRoute(table, 'GET', '/api/items')?.route).toBe(table[1]);
  });

  test('compares specificity part by part from the left', () => {
    const table = [route('GET', '/{tenant}/items/{id}'), route('GET', '/acme/{proxy+}')];

    expect(matchRoute(table, 'GET', '/acme/items/1')?.route).toBe(table[1]);
  });

  test('takes the first declared of two routes with the same shape', () => {
    const table = [route('GET', '/items/{id}'), route('GET', '/items/{key}')];

    expect(matchRoute(table, 'GET', '/items/1')?.params).toEqual({ id: '1' });
  });

  test('keeps a parameter named __proto__ as a plain key', () => {
    const match = matchRoute([route('GET', '/x/{__proto__}')], 'GET', '/x/polluted');

    expect(Object.keys(match?.params ?? {})).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('accepts a path of exactly the maximum length', () => {
    const path = `/files/${'a'.repeat(MAX_PATH_LENGTH - '/files/'.length)}`;

    expect(matchRoute(routes, 'GET', path)?.route).toBe(routes[5]);
  });

  test.each([
    ['a .. segment', '/api/items/../items'],
    ['an encoded .. segment', '/api/items/%2E%2E'],
    ['.. inside a segment', '/files/a..b'],
    ['a . segment', '/api/./items'],
    ['an empty segment', '/api//items'],
    ['a trailing slash', '/api/items/'],
    ['no leading slash', 'api/items'],
    ['an empty path', ''],
    ['a path over 2048 characters', `/files/${'a'.repeat(MAX_PATH_LENGTH)}`],
    ['an encoded slash', '/api/items/a%2Fb'],
    ['an encoded backslash', '/api/items/a%5Cb'],
    ['an encoded control character', '/api/items/a%00b'],
    ['broken percent-encoding', '/api/items/%zz'],
    ['a query string', '/api/items?id=1'],
    ['a space', '/api/items/a b'],
    ['a wildcard', '/api/items/*'],
  ])('refuses %s', (_, path) => {
    expect(matchRoute(routes, 'GET', path)).toBeUndefined();
    expect(isValidRequestPath(path)).toBe(false);
  });

  test('fails on a route with an invalid pattern', () => {
    expect(() => matchRoute([route('GET', '/api/{a+}/b')], 'GET', '/api/x/b')).toThrow(
      /is not a route pattern/,
    );
  });
});

describe('isValidRequestPath', () => {
  test('accepts a path with RFC 3986 sub-delimiters and percent-encoding', () => {
    expect(isValidRequestPath("/api/items/a-b_c.d~e!$&'()+,;=:@%20")).toBe(true);
  });

  test('refuses a value that is not a string', () => {
    expect(isValidRequestPath(['/api'])).toBe(false);
  });
});

describe('methodArnCovers', () => {
  test.each([
    ['/api/items/{id}', '/api/items/mine', true],
    ['/api/items/mine', '/api/items/{id}', false],
    ['/api/items/{id}', '/api/items/{id}/comments', true],
    ['/api/items/{id}/comments', '/api/items/{id}', false],
    ['/api/items/{id}', '/api/items', false],
    ['/api/items', '/api/items/{id}', false],
    ['/api/files/{path+}', '/api/files/{id}/meta', true],
    ['/api/files/{id}/meta', '/api/files/{path+}', true],
    ['/api/{a}/x', '/api/{b}/y', false],
    ['/api/{a}/x', '/api/y/{b}', true],
    ['/{id}', '/', true],
    ['/{proxy+}', '/', true],
    ['/a/{id}', '/', false],
    ['/', '/{proxy+}', false],
  ])("%s's method ARN pattern matches requests to %s: %s", (a, b, expected) => {
    expect(methodArnCovers(route('GET', a), route('GET', b))).toBe(expected);
  });

  test('never matches a route of another method', () => {
    expect(methodArnCovers(route('GET', '/api/items/{id}'), route('PUT', '/api/items/mine'))).toBe(false);
  });
});

describe('validateRouteTable', () => {
  test('accepts a table of distinct routes', () => {
    const table: RoutePattern[] = [
      { method: 'GET', path: '/api/items/{id}' },
      { method: 'DELETE', path: '/api/items/{id}' },
      { method: 'GET', path: '/api/items' },
      { method: 'GET', path: '/api/item-search' },
    ];

    expect(() => validateRouteTable(table)).not.toThrow();
  });

  test('fails on two routes of one method with the same shape', () => {
    const table = [route('GET', '/api/items/{id}'), route('GET', '/api/items/{itemId}')];

    expect(() => validateRouteTable(table)).toThrow(
      /route 1 \(GET \/api\/items\/\{itemId\}\) duplicates route 0/,
    );
  });

  test('fails on a parameter route whose method ARN pattern matches a literal sibling, naming both', () => {
    const table = [route('GET', '/api/items/mine'), route('GET', '/api/items/{id}')];

    expect(() => validateRouteTable(table)).toThrow(
      new RegExp(
        "^route 1 \\(GET /api/items/\\{id\\}\\) overlaps route 0 \\(GET /api/items/mine\\) in the authorizer's policy: " +
          'its method ARN pattern GET/api/items/\\* \\(a path parameter is \\*, which also matches /\\) matches ' +
          'requests to GET /api/items/mine, so a token allowed that route but not this one would be denied both ' +
          '\\(an explicit Deny overrides an Allow\\)\\. Give the routes paths whose patterns do not overlap',
      ),
    );
  });

  test('fails on a route nested under a parameter route', () => {
    const table = [route('GET', '/api/items/{id}'), route('GET', '/api/items/{id}/comments')];

    expect(() => validateRouteTable(table)).toThrow(
      /route 0 \(GET \/api\/items\/\{id\}\) overlaps route 1 \(GET \/api\/items\/\{id\}\/comments\)/,
    );
  });

  test('lets routes that share no authorizer policy overlap', () => {
    const table = [route('GET', '/auth/sessions'), route('GET', '/{proxy+}')];

    expect(() => validateRouteTable(table, { onePolicy: false })).not.toThrow();
    expect(() => validateRouteTable(table)).toThrow(/route 1 \(GET \/\{proxy\+\}\) overlaps route 0/);
  });

  test('fails on an unknown method', () => {
    const table = [{ ...route('GET', '/api'), method: 'ANY' } as unknown as ProtectedRoute];

    expect(() => validateRouteTable(table)).toThrow(/route 0: method must be one of GET, .*got 'ANY'/);
  });

  test('fails on an invalid pattern', () => {
    expect(() => validateRouteTable([route('GET', '/api/{id')])).toThrow(
      /'\/api\/\{id' is not a route pattern/,
    );
  });

  /**
   * The policy document the authorizer returns for one decision per route (lambda/authorizer/handler.ts):
   * the allowed routes' method ARNs as an Allow, the others as an explicit Deny.
   */
  function policyFor(
    table: readonly RoutePattern[],
    allowed: readonly boolean[],
  ): APIGatewayAuthorizerResult {
    const arns = (allow: boolean) =>
      table.filter((_, index) => allowed[index] === allow).map((entry) => buildMethodArn(STAGE, entry));
    const statement = (effect: 'Allow' | 'Deny', resources: string[]) =>
      resources.length > 0 ? [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resources }] : [];
    return {
      principalId: 'user',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [...statement('Allow', arns(true)), ...statement('Deny', arns(false))],
      },
    };
  }

  /** Every request path of up to 4 segments over the literals of the tables below and one other value. */
  const PATHS = [0, 1, 2, 3, 4].flatMap((length) => {
    let paths: string[][] = [[]];
    for (let index = 0; index < length; index++) {
      paths = paths.flatMap((segments) => ['a', 'b', 'z'].map((segment) => [...segments, segment]));
    }
    return paths.map((segments) => `/${segments.join('/')}`);
  });

  /** Route tables of one method over the literals a and b, parameters and greedy parameters. */
  const TABLES = fc.uniqueArray(
    fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '{}'), { maxLength: 3 }), fc.boolean())
      .filter(([parts, greedy]) => parts.length + (greedy ? 1 : 0) <= 3)
      .map(([parts, greedy]) => {
        const named = parts.map((part, index) => (part === '{}' ? `{p${index}}` : part));
        return `/${[...named, ...(greedy ? ['{rest+}'] : [])].join('/')}`;
      }),
    { minLength: 2, maxLength: 4 },
  );

  test('accepts exactly the tables whose Allow/Deny policy decides every request as its route does', () => {
    // GIVEN random tables (valid apart from the overlap check)
    const tables = fc
      .sample(TABLES, { numRuns: 150, seed: 20_261_127 })
      .map((paths) => paths.map((path): RoutePattern => ({ method: 'GET', path })))
      .filter((table) => {
        try {
          validateRouteTable(table, { onePolicy: false });
          return true;
        } catch {
          return false;
        }
      });
    let accepted = 0;
    for (const table of tables) {
      // WHEN the table is checked, and every combination of decisions is tried on every request
      const valid = (() => {
        try {
          validateRouteTable(table);
          return true;
        } catch {
          return false;
        }
      })();
      const requests = PATHS.flatMap((path) => {
        const match = matchRoute(table, 'GET', path);
        return match === undefined
          ? []
          : [{ arn: `${PREFIX}/GET${path}`, index: table.indexOf(match.route) }];
      });
      let right = true;
      for (let combination = 0; combination < 2 ** table.length && right; combination++) {
        const allowed = table.map((_, index) => (combination & (2 ** index)) !== 0);
        const policy = policyFor(table, allowed);
        right = requests.every(({ arn, index }) => isAllowed(policy, arn) === allowed[index]);
      }
      // THEN it is accepted when, and only when, the cached policy is right on every route
      expect({ table: table.map((entry) => entry.path), valid }).toEqual({
        table: table.map((entry) => entry.path),
        valid: right,
      });
      if (valid) accepted += 1;
    }
    // The sample holds both kinds of table.
    expect(accepted).toBeGreaterThan(10);
    expect(tables.length - accepted).toBeGreaterThan(10);
  });
});
