import type { Decision, Policy, PolicyContext } from '../../lambda/policies';
import {
  allOf,
  anyOf,
  authenticated,
  decidePolicy,
  definePolicy,
  evaluatePolicy,
  not,
  POLICY_ERROR,
  policyName,
  policyReads,
  type RequestFact,
  requestFactsOf,
  requireAnyScope,
  requireScope,
  sourceIpAllowList,
} from '../../lambda/policies';
import { policyContext } from '../support/policy-context';

/** A verified request: a token with `scope`, its live session, and the request facts given. */
function context(
  scope = 'items:read',
  request: PolicyContext['request'] = { sourceIp: '10.1.2.3' },
): PolicyContext {
  return policyContext({ claims: { scope }, route: { method: 'GET', path: '/api/items/{id}' }, request });
}

const allow = (policy: string, reason: string): Decision => ({ allow: true, policy, reason });
const deny = (policy: string, reason: string): Decision => ({ allow: false, policy, reason });
/** A deny that a failing policy caused or depends on: marked, so that `not` never inverts it. */
const failedDeny = (policy: string, reason: string): Decision => ({
  allow: false,
  policy,
  reason,
  failed: true,
});

/** A policy that records each call and decides as told. */
function spy(name: string, allowed: boolean): Policy & { calls: number } {
  const policy = Object.assign(
    definePolicy(name, () => {
      policy.calls += 1;
      return { allow: allowed, reason: allowed ? 'yes' : 'no' };
    }),
    { calls: 0 },
  );
  return policy;
}

const throwing = definePolicy('throws()', () => {
  throw new Error('bug in a custom policy');
});
const rejecting = definePolicy('rejects()', async () => {
  throw new Error('lookup failed');
});

describe('decidePolicy (the authorizer warm path)', () => {
  test('answers a synchronous policy without a promise, as evaluatePolicy does', async () => {
    const decided = decidePolicy(requireScope('items:read'), context());
    expect(decided).not.toBeInstanceOf(Promise);
    expect(decided).toEqual(await evaluatePolicy(requireScope('items:read'), context()));
  });

  test('settles an asynchronous policy, and fails closed on a throw, a rejection or a bad thenable', async () => {
    const later = definePolicy('later()', async () => ({ allow: true, reason: 'yes' }));
    await expect(decidePolicy(later, context())).resolves.toEqual(allow('later()', 'yes'));
    expect(decidePolicy(throwing, context())).toEqual(failedDeny('throws()', POLICY_ERROR));
    await expect(decidePolicy(rejecting, context())).resolves.toEqual(failedDeny('rejects()', POLICY_ERROR));
    const thenable: Policy = Object.defineProperty(
      // biome-ignore lint/suspicious/noThenProperty: a policy that answers with a thenable that rejects.
      () => ({ then: (_: unknown, reject: (reason: unknown) => void) => reject(new Error('no')) }) as never,
      'name',
      { value: 'thenable()' },
    );
    await expect(decidePolicy(thenable, context())).resolves.toEqual(failedDeny('thenable()', POLICY_ERROR));
    const getter: Policy = Object.defineProperty(
      () =>
        ({
          get allow(): boolean {
            throw new Error('getter');
          },
          policy: 'getter()',
          reason: 'x',
        }) as never,
      'name',
      { value: 'getter()' },
    );
    expect(decidePolicy(getter, context())).toEqual(failedDeny('getter()', POLICY_ERROR));
  });
});

describe('requireScope', () => {
  test('allows when the token has every scope named', async () => {
    const decision = await evaluatePolicy(
      requireScope('items:read', 'items:write'),
      context('openid items:write items:read'),
    );

    expect(decision).toEqual(allow('requireScope(items:read, items:write)', 'scope_present'));
  });

  test('denies naming the first missing scope in the order given', async () => {
    const decision = await evaluatePolicy(
      requireScope('items:read', 'admin', 'audit'),
      context('items:read'),
    );

    expect(decision).toEqual(deny('requireScope(items:read, admin, audit)', 'scope_missing:admin'));
  });

  test('does not take a scope that only starts with the one required', async () => {
    const decision = await evaluatePolicy(requireScope('admin'), context('administrator admin:read'));

    expect(decision).toEqual(deny('requireScope(admin)', 'scope_missing:admin'));
  });

  test('denies a token with an empty scope', async () => {
    const decision = await evaluatePolicy(requireScope('items:read'), context(''));

    expect(decision).toEqual(deny('requireScope(items:read)', 'scope_missing:items:read'));
  });

  test('fails without a scope', () => {
    expect(() => requireScope()).toThrow(/requireScope needs at least one scope/);
  });

  test.each(['', 'items read', 'quote"d', 'back\\slash'])('fails on the invalid scope-token %j', (scope) => {
    expect(() => requireScope('items:read', scope)).toThrow(/is not a scope-token/);
  });
});

describe('requireAnyScope', () => {
  test('allows when the token has one of the scopes named', async () => {
    const decision = await evaluatePolicy(requireAnyScope('admin', 'items:read'), context('items:read'));

    expect(decision).toEqual(allow('requireAnyScope(admin, items:read)', 'scope_present'));
  });

  test('denies when the token has none of them', async () => {
    const decision = await evaluatePolicy(requireAnyScope('admin', 'audit'), context('items:read'));

    expect(decision).toEqual(deny('requireAnyScope(admin, audit)', 'scope_missing'));
  });

  test('fails without a scope', () => {
    expect(() => requireAnyScope()).toThrow(/requireAnyScope needs at least one scope/);
  });
});

describe('sourceIpAllowList', () => {
  const offices = sourceIpAllowList(['10.0.0.0/8', '192.0.2.0/24', '2001:db8:abcd::/48']);
  const name = 'sourceIpAllowList(10.0.0.0/8, 192.0.2.0/24, 2001:db8:abcd::/48)';

  test('allows an IPv4 address inside a range', async () => {
    const decision = await evaluatePolicy(offices, context('', { sourceIp: '192.0.2.77' }));

    expect(decision).toEqual(allow(name, 'source_ip_allowed'));
  });

  test('denies an IPv4 address outside every range', async () => {
    const decision = await evaluatePolicy(offices, context('', { sourceIp: '192.0.3.1' }));

    expect(decision).toEqual(deny(name, 'source_ip_not_allowed'));
  });

  test('allows an IPv6 address inside a range, however it is written', async () => {
    const decision = await evaluatePolicy(offices, context('', { sourceIp: '2001:DB8:ABCD:0:0:0:0:1' }));

    expect(decision).toEqual(allow(name, 'source_ip_allowed'));
  });

  test('denies an IPv6 address outside every range', async () => {
    const decision = await evaluatePolicy(offices, context('', { sourceIp: '2001:db8:abce::1' }));

    expect(decision).toEqual(deny(name, 'source_ip_not_allowed'));
  });

  test('matches an IPv4-mapped IPv6 address against the IPv4 ranges', async () => {
    const decision = await evaluatePolicy(offices, context('', { sourceIp: '::ffff:10.9.8.7' }));

    expect(decision).toEqual(allow(name, 'source_ip_allowed'));
  });

  test('ignores host bits in a CIDR', async () => {
    const decision = await evaluatePolicy(
      sourceIpAllowList(['10.1.2.3/8']),
      context('', { sourceIp: '10.200.0.1' }),
    );

    expect(decision.allow).toBe(true);
  });

  test('denies a request without a source IP', async () => {
    const decision = await evaluatePolicy(offices, context('', {}));

    expect(decision).toEqual(deny(name, 'source_ip_missing'));
  });

  test.each(['not-an-ip', '10.0.0.256', '10.0.0.1/32', 'fe80::1%eth0', ' 10.0.0.1'])(
    'denies the unparsable source IP %j',
    async (sourceIp) => {
      const decision = await evaluatePolicy(offices, context('', { sourceIp }));

      expect(decision).toEqual(deny(name, 'source_ip_invalid'));
    },
  );

  test.each([
    '10.0.0.0',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '10.0.0/8',
    '2001:db8::/129',
    'fe80::%eth0/64',
    'example.com/8',
    ' 10.0.0.0/8',
    '',
  ])('fails on the malformed CIDR %j, naming it', (cidr) => {
    expect(() => sourceIpAllowList(['192.0.2.0/24', cidr])).toThrow(
      new RegExp(`'${cidr.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' is not a CIDR`),
    );
  });

  test('fails without a CIDR', () => {
    expect(() => sourceIpAllowList([])).toThrow(/needs at least one CIDR/);
  });
});

describe('authenticated', () => {
  test('allows any verified caller', async () => {
    const decision = await evaluatePolicy(authenticated(), context(''));

    expect(decision).toEqual(allow('authenticated()', 'authenticated'));
  });
});

describe('evaluatePolicy', () => {
  test('returns a frozen copy of the decision', async () => {
    const decision = await evaluatePolicy(
      () => ({ allow: true, policy: 'plain', reason: 'ok', extra: 'dropped' }) as Decision,
      context(),
    );

    expect(decision).toStrictEqual({ allow: true, policy: 'plain', reason: 'ok' });
    expect(Object.isFrozen(decision)).toBe(true);
  });

  test('denies with policy_error when the policy throws, naming it', async () => {
    const decision = await evaluatePolicy(throwing, context());

    expect(decision).toEqual(failedDeny('throws()', POLICY_ERROR));
  });

  test('denies with policy_error when an async policy rejects', async () => {
    const decision = await evaluatePolicy(rejecting, context());

    expect(decision).toEqual(failedDeny('rejects()', 'policy_error'));
  });

  test.each([
    ['nothing', undefined],
    ['a string', 'allow'],
    ['a non-boolean allow', { allow: 'true', policy: 'p', reason: 'r' }],
    ['an empty reason', { allow: true, policy: 'p', reason: '' }],
    ['no policy name', { allow: true, reason: 'r' }],
  ])('denies with policy_error when the policy returns %s', async (_, returned) => {
    const decision = await evaluatePolicy(function returnsJunk() {
      return returned as Decision;
    }, context());

    expect(decision).toEqual(failedDeny('returnsJunk', 'policy_error'));
  });

  test('names an anonymous failing policy anonymous', async () => {
    const policies: Policy[] = [
      () => {
        throw new Error('no name');
      },
    ];

    await expect(evaluatePolicy(policies[0] as Policy, context())).resolves.toEqual(
      failedDeny('anonymous', 'policy_error'),
    );
  });

  test('denies with policy_error when the policy is not a function', async () => {
    const decision = await evaluatePolicy(undefined as unknown as Policy, context());

    expect(decision).toEqual(failedDeny('anonymous', 'policy_error'));
  });
});

describe('definePolicy', () => {
  test('fills its name into the decisions of an async rule', async () => {
    const policy = definePolicy('slow()', async () => ({ allow: true, reason: 'checked' }));

    await expect(evaluatePolicy(policy, context())).resolves.toEqual(allow('slow()', 'checked'));
    expect(policyName(policy)).toBe('slow()');
  });

  test('keeps a policy name the rule gives', async () => {
    const policy = definePolicy('outer()', () => ({ allow: false, policy: 'inner()', reason: 'nope' }));

    await expect(evaluatePolicy(policy, context())).resolves.toEqual(deny('inner()', 'nope'));
  });

  test('fails on an empty name', () => {
    expect(() => definePolicy('', () => ({ allow: true, reason: 'x' }))).toThrow(/a policy name must be/);
  });
});

describe('allOf', () => {
  test('allows under its own name when every policy allows', async () => {
    const decision = await evaluatePolicy(allOf(requireScope('items:read'), authenticated()), context());

    expect(decision).toEqual(allow('allOf(requireScope(items:read), authenticated())', 'all_allowed'));
  });

  test('returns the first deny and runs no later policy', async () => {
    const later = spy('later()', true);

    const decision = await evaluatePolicy(
      allOf(authenticated(), requireScope('admin'), later),
      context('items:read'),
    );

    expect(decision).toEqual(deny('requireScope(admin)', 'scope_missing:admin'));
    expect(later.calls).toBe(0);
  });

  test('denies with policy_error naming the inner policy that throws', async () => {
    const decision = await evaluatePolicy(allOf(authenticated(), throwing), context());

    expect(decision).toEqual(failedDeny('throws()', 'policy_error'));
  });

  test('denies with policy_error naming the inner async policy that rejects', async () => {
    const decision = await evaluatePolicy(allOf(rejecting, authenticated()), context());

    expect(decision).toEqual(failedDeny('rejects()', 'policy_error'));
  });

  test('fails without a policy', () => {
    expect(() => allOf()).toThrow(/allOf needs at least one policy/);
  });

  test('fails on a policy that is not a function', () => {
    expect(() => allOf(authenticated(), undefined as unknown as Policy)).toThrow(
      /allOf: policy 1 must be a function, got undefined/,
    );
  });
});

describe('anyOf', () => {
  test('returns the first allow and runs no later policy', async () => {
    const later = spy('later()', true);

    const decision = await evaluatePolicy(
      anyOf(requireScope('admin'), requireScope('items:read'), later),
      context('items:read'),
    );

    expect(decision).toEqual(allow('requireScope(items:read)', 'scope_present'));
    expect(later.calls).toBe(0);
  });

  test('denies under its own name with every reason when no policy allows', async () => {
    const decision = await evaluatePolicy(
      anyOf(requireScope('admin'), sourceIpAllowList(['192.0.2.0/24'])),
      context('items:read', { sourceIp: '10.0.0.1' }),
    );

    expect(decision).toEqual(
      deny(
        'anyOf(requireScope(admin), sourceIpAllowList(192.0.2.0/24))',
        'none_allowed(scope_missing:admin, source_ip_not_allowed)',
      ),
    );
  });

  test('still allows through a later policy when an earlier one throws', async () => {
    const decision = await evaluatePolicy(anyOf(throwing, authenticated()), context());

    expect(decision).toEqual(allow('authenticated()', 'authenticated'));
  });

  test('lists policy_error among the reasons when a policy throws and none allows', async () => {
    const decision = await evaluatePolicy(anyOf(requireScope('admin'), throwing), context());

    expect(decision).toEqual(
      failedDeny('anyOf(requireScope(admin), throws())', 'none_allowed(scope_missing:admin, policy_error)'),
    );
  });

  test('fails without a policy', () => {
    expect(() => anyOf()).toThrow(/anyOf needs at least one policy/);
  });
});

describe('not', () => {
  test('denies when the inner policy allows', async () => {
    const decision = await evaluatePolicy(not(requireScope('suspended')), context('items:read suspended'));

    expect(decision).toEqual(deny('not(requireScope(suspended))', 'not:scope_present'));
  });

  test('allows when the inner policy denies', async () => {
    const decision = await evaluatePolicy(not(requireScope('suspended')), context('items:read'));

    expect(decision).toEqual(allow('not(requireScope(suspended))', 'not:scope_missing:suspended'));
  });

  test('keeps the deny of a throwing policy a deny', async () => {
    const decision = await evaluatePolicy(not(throwing), context());

    expect(decision).toEqual(failedDeny('throws()', 'policy_error'));
  });

  test('keeps the deny of a rejecting async policy a deny', async () => {
    const decision = await evaluatePolicy(not(rejecting), context());

    expect(decision).toEqual(failedDeny('rejects()', 'policy_error'));
  });

  test('keeps a deny that a failing policy took part in a deny', async () => {
    const decision = await evaluatePolicy(not(anyOf(requireScope('admin'), throwing)), context());

    expect(decision.allow).toBe(false);
  });

  test('keeps a copied policy_error deny a deny', async () => {
    const copying: Policy = async (ctx) => ({ ...(await evaluatePolicy(throwing, ctx)) });

    const decision = await evaluatePolicy(not(copying), context());

    expect(decision).toEqual(failedDeny('throws()', 'policy_error'));
  });

  test('fails on a policy that is not a function', () => {
    expect(() => not(null as unknown as Policy)).toThrow(/not: policy 0 must be a function, got object/);
  });
});

describe('nested combinators', () => {
  // Admins from anywhere, or readers from the office network; never a suspended account.
  const policy = allOf(
    anyOf(requireScope('admin'), allOf(requireScope('items:read'), sourceIpAllowList(['10.0.0.0/8']))),
    not(requireScope('suspended')),
  );

  test('name the whole tree', () => {
    expect(policyName(policy)).toBe(
      'allOf(anyOf(requireScope(admin), allOf(requireScope(items:read), sourceIpAllowList(10.0.0.0/8))), ' +
        'not(requireScope(suspended)))',
    );
  });

  test('allow a reader on the office network under the outer name', async () => {
    const decision = await evaluatePolicy(policy, context('items:read', { sourceIp: '10.4.4.4' }));

    expect(decision).toEqual(allow(policyName(policy), 'all_allowed'));
  });

  test('deny a reader elsewhere with the reasons of every branch', async () => {
    const decision = await evaluatePolicy(policy, context('items:read', { sourceIp: '192.0.2.1' }));

    expect(decision).toEqual(
      deny(
        'anyOf(requireScope(admin), allOf(requireScope(items:read), sourceIpAllowList(10.0.0.0/8)))',
        'none_allowed(scope_missing:admin, source_ip_not_allowed)',
      ),
    );
  });

  test('deny a suspended admin naming the not', async () => {
    const decision = await evaluatePolicy(policy, context('admin suspended', { sourceIp: '192.0.2.1' }));

    expect(decision).toEqual(deny('not(requireScope(suspended))', 'not:scope_present'));
  });
});

describe('request facts', () => {
  /** A policy that reports the source IP it was handed, declaring the facts given. */
  function seesSourceIp(reads?: readonly RequestFact[]): Policy {
    return definePolicy(
      'seesSourceIp()',
      ({ request }) => ({ allow: request.sourceIp !== undefined, reason: `ip:${request.sourceIp}` }),
      reads === undefined ? {} : { reads },
    );
  }

  test('sourceIpAllowList declares the source IP', () => {
    expect(policyReads(sourceIpAllowList(['10.0.0.0/8']))).toEqual(['sourceIp']);
  });

  test('a policy that declares nothing reads nothing', () => {
    expect(policyReads(requireScope('admin'))).toEqual([]);
    expect(policyReads(authenticated())).toEqual([]);
    expect(policyReads(() => ({ allow: true, policy: 'plain', reason: 'plain' }))).toEqual([]);
  });

  test('combinators read what their policies read, once', () => {
    const office = sourceIpAllowList(['10.0.0.0/8']);
    expect(policyReads(allOf(requireScope('admin'), office))).toEqual(['sourceIp']);
    expect(policyReads(anyOf(office, allOf(office, requireScope('a'))))).toEqual(['sourceIp']);
    expect(policyReads(not(office))).toEqual(['sourceIp']);
    expect(policyReads(anyOf(requireScope('a'), not(requireScope('b'))))).toEqual([]);
  });

  test('requestFactsOf a route table is the union of its policies', () => {
    const routes = [
      { policy: requireScope('admin') },
      { policy: anyOf(requireScope('admin'), sourceIpAllowList(['10.0.0.0/8'])) },
      { policy: seesSourceIp(['sourceIp']) },
    ];
    expect(requestFactsOf(routes)).toEqual(['sourceIp']);
    expect(requestFactsOf([{ policy: authenticated() }])).toEqual([]);
  });

  test('a policy that declares a fact is handed it', async () => {
    const decision = await evaluatePolicy(seesSourceIp(['sourceIp']), context('', { sourceIp: '10.9.9.9' }));
    expect(decision).toEqual(allow('seesSourceIp()', 'ip:10.9.9.9'));
  });

  test('a policy that reads a fact it did not declare sees undefined, and so fails closed', async () => {
    const request = { sourceIp: '10.9.9.9' };
    // Through evaluatePolicy (as the authorizer runs it), called directly, and as a plain function
    await expect(evaluatePolicy(seesSourceIp(), context('', request))).resolves.toEqual(
      deny('seesSourceIp()', 'ip:undefined'),
    );
    expect(await seesSourceIp()(context('', request))).toEqual(deny('seesSourceIp()', 'ip:undefined'));
    const plain: Policy = ({ request: facts }) => ({
      allow: facts.sourceIp !== undefined,
      policy: 'plain',
      reason: 'plain',
    });
    await expect(evaluatePolicy(plain, context('', request))).resolves.toEqual(deny('plain', 'plain'));
  });

  test('an inner policy of a combinator sees only its own facts', async () => {
    // anyOf reads sourceIp (for the allow-list), but the undeclared inner policy is still handed none
    const policy = anyOf(seesSourceIp(), sourceIpAllowList(['192.0.2.0/24']));
    const decision = await evaluatePolicy(policy, context('', { sourceIp: '10.9.9.9' }));
    expect(decision).toEqual(
      deny(
        'anyOf(seesSourceIp(), sourceIpAllowList(192.0.2.0/24))',
        'none_allowed(ip:undefined, source_ip_not_allowed)',
      ),
    );
    const office = await evaluatePolicy(policy, context('', { sourceIp: '192.0.2.7' }));
    expect(office).toEqual(allow('sourceIpAllowList(192.0.2.0/24)', 'source_ip_allowed'));
  });

  test('fails on reads that are not a list of fact names', () => {
    const decide = () => ({ allow: true, reason: 'ok' });
    expect(() => definePolicy('x()', decide, { reads: 'sourceIp' as unknown as RequestFact[] })).toThrow(
      /definePolicy\(x\(\)\): reads must list request fact names .*, got "sourceIp"/,
    );
    expect(() => definePolicy('x()', decide, { reads: ['source ip' as RequestFact] })).toThrow(
      /reads must list request fact names/,
    );
  });
});
