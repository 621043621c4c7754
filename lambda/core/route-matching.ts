/**
 * Pure helpers that tie the route table to API Gateway: parse the `methodArn` of a REQUEST authorizer
 * event, build the method ARN of each declared route for the authorizer's policy document, and match a
 * concrete request path against the route patterns (the local platform's router).
 *
 * Route patterns are API Gateway resource paths: `/`, or `/`-separated parts that are each a literal
 * (`[A-Za-z0-9._:-]+`), a path parameter (`{id}`) or, as the last part only, a greedy parameter
 * (`{proxy+}`, one or more segments).
 */

/** An HTTP method a route can be declared for. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/** The methods a route can be declared for, as {@link HttpMethod} lists them. */
export const HTTP_METHODS: readonly HttpMethod[] = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
];

/** Upper bound of a request path and of a route pattern, characters. */
export const MAX_PATH_LENGTH = 2048;

/** What a route pattern needs: {@link ProtectedRoute} without its policy (the local router's routes too). */
export interface RoutePattern {
  readonly method: HttpMethod;
  /** An API Gateway resource path, e.g. `/api/items/{id}`. */
  readonly path: string;
}

/** The API and stage a method ARN belongs to: everything in the ARN before the method. */
export interface ApiStage {
  /** `aws`, `aws-cn`, `aws-us-gov`, ... */
  readonly partition: string;
  readonly region: string;
  /** The 12-digit AWS account id. */
  readonly accountId: string;
  /** The REST API id (10 lowercase letters and digits). */
  readonly apiId: string;
  readonly stage: string;
}

/** A parsed `methodArn`: the API stage, the request method and the concrete request path. */
export interface MethodArn extends ApiStage {
  readonly method: HttpMethod;
  /** The concrete path requested, starting with `/` (`/` for the root). */
  readonly resourcePath: string;
}

/** A route that matched a request, with its path parameters (percent-decoded). */
export interface RouteMatch<R extends RoutePattern = RoutePattern> {
  readonly route: R;
  /**
   * Parameter name to value; a greedy parameter's value is its segments joined by `/`. A
   * null-prototype object: a parameter named `__proto__` is just a key.
   */
  readonly params: Readonly<Record<string, string>>;
}

const METHOD_ARN =
  /^arn:(aws(?:-[a-z]+)*):execute-api:([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):([0-9]{12}):([a-z0-9]{10})\/([A-Za-z0-9_-]{1,128})\/([A-Z]{3,7})\/(.*)$/;
/** Characters of one path segment (RFC 3986 `pchar`, without `*`, which IAM treats as a wildcard). */
const REQUEST_SEGMENT = /^[A-Za-z0-9\-._~!$&'()+,;=:@%]+$/;
const LITERAL_PART = /^[A-Za-z0-9._:-]+$/;
const PARAMETER_PART = /^\{([A-Za-z0-9._-]+)(\+?)\}$/;
const UNSAFE_DECODED = /[\p{Cc}/\\]/u;

/**
 * Parses the `methodArn` of an API Gateway REQUEST authorizer event,
 * `arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{resource path}`, strictly.
 *
 * @returns undefined when the ARN is malformed: another service, a wrong account or API id shape, an
 * unknown method, or a path with an empty, `.` or `..` segment, a `*`, a character outside RFC 3986
 * `pchar`, or more than {@link MAX_PATH_LENGTH} characters.
 */
export function parseMethodArn(methodArn: unknown): MethodArn | undefined {
  if (typeof methodArn !== 'string' || methodArn.length > MAX_PATH_LENGTH + 256) return undefined;
  const match = METHOD_ARN.exec(methodArn);
  if (match === null) return undefined;
  const [, partition, region, accountId, apiId, stage, method, rest] = match;
  if (
    partition === undefined ||
    region === undefined ||
    accountId === undefined ||
    apiId === undefined ||
    stage === undefined ||
    rest === undefined ||
    !isHttpMethod(method)
  ) {
    return undefined;
  }
  const resourcePath = `/${rest}`;
  if (requestSegments(resourcePath) === undefined) return undefined;
  return { partition, region, accountId, apiId, stage, method, resourcePath };
}

/**
 * The method ARN of a declared route in the given API stage, for the authorizer's policy document: path
 * parameters (`{id}`) and greedy parameters (`{proxy+}`) become `*`.
 *
 * In an IAM resource, `*` also matches `/`: `GET/api/items/*` (from `/api/items/{id}`) covers
 * `GET/api/items/42/secret` as well
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html: the `*`
 * "can expand to replace everything within a segment, including characters like a forward slash"). A
 * policy document that allows one route therefore lists the routes the principal may not call as explicit
 * `Deny` statements, which win over any `Allow`
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html); and
 * {@link validateRouteTable} refuses a table in which such a `Deny` could cover another route's requests.
 *
 * @example
 * const arn = parseMethodArn(event.methodArn);
 * if (arn !== undefined) buildMethodArn(arn, { method: 'GET', path: '/api/items/{id}' });
 * // 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/api/items/*'
 *
 * @throws {TypeError} when the route's path is not a valid route pattern.
 */
export function buildMethodArn(stage: ApiStage, route: RoutePattern): string {
  const resource = arnResource(route);
  return `arn:${stage.partition}:execute-api:${stage.region}:${stage.accountId}:${stage.apiId}/${stage.stage}/${route.method}/${resource}`;
}

/**
 * Whether a concrete request path (without query string) is one this module will match: it starts with
 * `/`, has at most {@link MAX_PATH_LENGTH} characters, no empty segment (so no `//` and no trailing `/`
 * but the root), only RFC 3986 `pchar` characters but `*`, valid percent-encoding, and, once decoded, no
 * `..`, no `.` segment, no `/`, `\` or control character inside a segment. A caller can answer 400 for
 * an invalid path before it looks for a route.
 */
export function isValidRequestPath(path: unknown): boolean {
  return requestSegments(path) !== undefined;
}

/**
 * Finds the route a request goes to, as API Gateway would: the method must be equal, every literal part
 * equal to its segment, a parameter takes one segment, a greedy parameter one or more. When several
 * routes match, the most specific wins, part by part: a literal over a parameter over a greedy parameter
 * (then the first declared).
 *
 * @param path the concrete request path, e.g. `/api/items/42`, without query string.
 * @returns the route and its decoded path parameters, or undefined when nothing matches or the path is
 * refused (see {@link isValidRequestPath}).
 * @throws {TypeError} when a route's path is not a valid route pattern.
 *
 * @example
 * matchRoute(routes, 'GET', '/api/items/42');
 * // { route: { method: 'GET', path: '/api/items/{id}', policy }, params: { id: '42' } }
 */
export function matchRoute<R extends RoutePattern>(
  routes: readonly R[],
  method: string,
  path: string,
): RouteMatch<R> | undefined {
  const segments = requestSegments(path);
  if (segments === undefined) return undefined;
  let best: { route: R; params: Record<string, string>; rank: number[] } | undefined;
  for (const route of routes) {
    if (route.method !== method) continue;
    const candidate = matchParts(compile(route.path), segments);
    if (candidate !== undefined && (best === undefined || compareRanks(candidate.rank, best.rank) < 0)) {
      best = { route, ...candidate };
    }
  }
  return best === undefined ? undefined : { route: best.route, params: Object.freeze(best.params) };
}

/** Which checks {@link validateRouteTable} makes beyond the shape of each route. */
export interface RouteTableChecks {
  /**
   * Whether the routes are decided together in one authorizer policy (the protected route table): then no
   * route's method-ARN pattern may match requests that API Gateway routes to another route
   * ({@link methodArnCovers}).
   * @default true
   */
  readonly onePolicy?: boolean;
}

/**
 * Checks a route table once, at start-up or synth: every path a valid route pattern, every method an
 * {@link HttpMethod}, no two routes of one method with the same pattern shape (`/items/{id}` and
 * `/items/{key}` are the same route), and, for a table decided in one authorizer policy, no route whose
 * method-ARN pattern matches another route's requests.
 *
 * Why the last check: the authorizer returns one IAM policy for every route of the table (API Gateway
 * caches it per identity source and applies it to whichever route the caller calls next), allowing the
 * routes the token may call and explicitly denying the others. In a method ARN a path parameter is `*`,
 * and `*` also matches `/`, so the pattern of `GET /api/items/{id}` (`GET/api/items/*`) matches a request to
 * `GET /api/items/mine` and one to `GET /api/items/{id}/comments`. A token denied the first route and
 * allowed the second would then be denied both, because an explicit Deny overrides any Allow; and leaving
 * the Deny out instead would let the Allow of the first route cover the second. No policy of `*` patterns
 * says both, so such a table is refused with both routes named.
 *
 * @throws {TypeError} naming the first offending route (and the route it overlaps).
 */
export function validateRouteTable(routes: readonly RoutePattern[], checks: RouteTableChecks = {}): void {
  const seen = new Map<string, number>();
  routes.forEach((route, index) => {
    if (!isHttpMethod(route.method)) {
      throw new TypeError(
        `route ${index}: method must be one of ${HTTP_METHODS.join(', ')}, got '${String(route.method)}'`,
      );
    }
    const shape = compile(route.path)
      .map((part) => (part.kind === 'literal' ? part.value : part.kind === 'greedy' ? '{+}' : '{}'))
      .join('/');
    const key = `${route.method} /${shape}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new TypeError(
        `route ${index} (${route.method} ${route.path}) duplicates route ${first}: both match the same requests`,
      );
    }
    seen.set(key, index);
  });
  if (checks.onePolicy === false) return;
  routes.forEach((route, index) => {
    const covered = routes.findIndex((other, at) => at !== index && methodArnCovers(route, other));
    const other = routes[covered];
    if (other === undefined) return;
    throw new TypeError(
      `route ${index} (${route.method} ${route.path}) overlaps route ${covered} (${other.method} ${other.path}) ` +
        `in the authorizer's policy: its method ARN pattern ${route.method}/${arnResource(route)} (a path ` +
        `parameter is *, which also matches /) matches requests to ${other.method} ${other.path}, so a token ` +
        'allowed that route but not this one would be denied both (an explicit Deny overrides an Allow). Give ' +
        'the routes paths whose patterns do not overlap, e.g. a literal segment of their own before any ' +
        'parameter (/api/items/{id} next to /api/my-items, not /api/items/mine)',
    );
  });
}

/**
 * Whether the method-ARN pattern of route `a` ({@link buildMethodArn}, each path parameter a `*` that also
 * matches `/`) matches the method ARN of some request that API Gateway routes to route `b`. A route
 * without parameters matches only its own path, which goes to it; otherwise the check asks whether some
 * path matches both `a`'s ARN pattern and `b`'s route pattern. That can count a path that a third, more
 * specific route takes; but then the table overlaps anyway (that route's requests match `a`'s pattern, or
 * `b`'s pattern matches `a`'s requests), so {@link validateRouteTable} refuses exactly the tables in which
 * some route's pattern matches another route's requests.
 *
 * @throws {TypeError} when a route's path is not a valid route pattern.
 *
 * @example
 * methodArnCovers({ method: 'GET', path: '/api/items/{id}' }, { method: 'GET', path: '/api/items/mine' }); // true
 * methodArnCovers({ method: 'GET', path: '/api/items/mine' }, { method: 'GET', path: '/api/items/{id}' }); // false
 */
export function methodArnCovers(a: RoutePattern, b: RoutePattern): boolean {
  if (a.method !== b.method) return false;
  const glob = compile(a.path);
  const target = compile(b.path);
  if (glob.every((part) => part.kind === 'literal')) return false;
  // The root's method ARN ends `GET/`: only the pattern `GET/*` (a single parameter) matches it.
  if (target.length === 0) return glob.length === 1;
  // Over valid request paths (no empty segment), each `*` of an ARN pattern matches one or more whole
  // segments, like a greedy parameter.
  const globTokens = glob.flatMap((part): Token[] =>
    part.kind === 'literal' ? [{ kind: 'literal', value: part.value }] : [ANY, REST],
  );
  const targetTokens = target.flatMap((part): Token[] =>
    part.kind === 'literal'
      ? [{ kind: 'literal', value: part.value }]
      : part.kind === 'parameter'
        ? [ANY]
        : [ANY, REST],
  );
  return intersects(globTokens, targetTokens);
}

/**
 * One segment-level token: a literal segment, any one segment, or any run of zero or more segments.
 */
type Token = { readonly kind: 'literal'; readonly value: string } | { readonly kind: 'any' | 'rest' };

const ANY: Token = { kind: 'any' };
const REST: Token = { kind: 'rest' };

/**
 * Whether some sequence of segments matches both token sequences. Every step moves on in `a` or `b` (two
 * `rest`s taking a segment together is left out: one of them taking none covers it), so this terminates.
 */
function intersects(a: readonly Token[], b: readonly Token[]): boolean {
  const memo = new Map<number, boolean>();
  const visit = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const x = a[i];
    const y = b[j];
    let result: boolean;
    if (x === undefined && y === undefined) result = true;
    else if (x?.kind === 'rest' && visit(i + 1, j)) result = true;
    else if (y?.kind === 'rest' && visit(i, j + 1)) result = true;
    else if (x === undefined || y === undefined) result = false;
    else if (x.kind === 'literal' && y.kind === 'literal' && x.value !== y.value) result = false;
    else if (x.kind === 'rest' && y.kind === 'rest') result = false;
    else result = visit(x.kind === 'rest' ? i : i + 1, y.kind === 'rest' ? j : j + 1);
    memo.set(key, result);
    return result;
  };
  return visit(0, 0);
}

/** The resource part of a route's method ARN: `api/items/*` for `/api/items/{id}`. */
function arnResource(route: RoutePattern): string {
  return compile(route.path)
    .map((part) => (part.kind === 'literal' ? part.value : '*'))
    .join('/');
}

type Part =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'parameter' | 'greedy'; readonly name: string };

const compiled = new Map<string, readonly Part[]>();

function compile(pattern: string): readonly Part[] {
  const cached = compiled.get(pattern);
  if (cached !== undefined) return cached;
  const invalid = (why: string) => new TypeError(`'${String(pattern)}' is not a route pattern: ${why}`);
  if (typeof pattern !== 'string' || !pattern.startsWith('/') || pattern.length > MAX_PATH_LENGTH) {
    throw invalid(`it must start with / and have at most ${MAX_PATH_LENGTH} characters`);
  }
  const parts: Part[] = [];
  const names = new Set<string>();
  const raw = pattern === '/' ? [] : pattern.slice(1).split('/');
  raw.forEach((text, index) => {
    const parameter = PARAMETER_PART.exec(text);
    if (parameter !== null) {
      const [, name = '', plus] = parameter;
      if (names.has(name)) throw invalid(`parameter {${name}} appears twice`);
      if (plus === '+' && index !== raw.length - 1) throw invalid(`{${name}+} must be the last part`);
      names.add(name);
      parts.push({ kind: plus === '+' ? 'greedy' : 'parameter', name });
    } else if (LITERAL_PART.test(text) && text !== '.' && text !== '..') {
      parts.push({ kind: 'literal', value: text });
    } else {
      throw invalid(`part '${text}' is neither a literal ([A-Za-z0-9._:-]+), {name} nor a last {name+}`);
    }
  });
  // Route tables are declared in code: the cache holds as many entries as there are distinct patterns.
  compiled.set(pattern, parts);
  return parts;
}

/** The raw and decoded segments of a request path, or undefined when the path is refused. */
function requestSegments(path: unknown): { raw: string; decoded: string }[] | undefined {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_PATH_LENGTH) return undefined;
  if (path === '/') return [];
  const segments: { raw: string; decoded: string }[] = [];
  for (const raw of path.slice(1).split('/')) {
    if (!REQUEST_SEGMENT.test(raw)) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (raw.includes('..') || decoded.includes('..') || decoded === '.' || UNSAFE_DECODED.test(decoded)) {
      return undefined;
    }
    segments.push({ raw, decoded });
  }
  return segments;
}

function matchParts(
  parts: readonly Part[],
  segments: readonly { raw: string; decoded: string }[],
): { params: Record<string, string>; rank: number[] } | undefined {
  const params: Record<string, string> = Object.create(null);
  const rank: number[] = [];
  for (const [index, part] of parts.entries()) {
    const segment = segments[index];
    if (segment === undefined) return undefined;
    if (part.kind === 'literal') {
      if (segment.raw !== part.value) return undefined;
      rank.push(0);
    } else if (part.kind === 'parameter') {
      params[part.name] = segment.decoded;
      rank.push(1);
    } else {
      params[part.name] = segments
        .slice(index)
        .map((rest) => rest.decoded)
        .join('/');
      rank.push(2);
      return { params, rank };
    }
  }
  return parts.length === segments.length ? { params, rank } : undefined;
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function isHttpMethod(method: unknown): method is HttpMethod {
  return typeof method === 'string' && (HTTP_METHODS as readonly string[]).includes(method);
}
