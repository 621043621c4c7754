import type { Context } from 'aws-lambda';
import { createLogger } from '../../lambda/adapters/logger';

const parsed = (lines: readonly string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('createLogger', () => {
  test('one JSON line per call, every level, flat fields at the top, undefined and empty fields dropped', () => {
    const lines: string[] = [];
    const logger = createLogger('authorizer', (line) => lines.push(line));
    logger.info('authorizer decision', {
      route: 'GET /api/me',
      latencyMs: 1.5,
      cacheHit: false,
      sid: undefined,
    });
    logger.warn('published key refused', { kid: 'k-1', reason: '' });
    logger.error('issuer not ready', { cause: 'keys' });
    expect(lines.every((line) => !line.includes('\n'))).toBe(true);
    expect(parsed(lines)).toEqual([
      {
        level: 'INFO',
        message: 'authorizer decision',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        service: 'authorizer',
        sampling_rate: 0,
        route: 'GET /api/me',
        latencyMs: 1.5,
        cacheHit: false,
      },
      expect.objectContaining({ level: 'WARN', message: 'published key refused', kid: 'k-1' }),
      expect.objectContaining({ level: 'ERROR', message: 'issuer not ready', cause: 'keys' }),
    ]);
    expect(parsed(lines)[1]).not.toHaveProperty('reason');
  });

  test('redacts every field whose name suggests a credential, whatever the caller passes', () => {
    const lines: string[] = [];
    const logger = createLogger('issuer', (line) => lines.push(line));
    logger.info('x', {
      refresh_token: 'rt',
      accessToken: 'at',
      clientSecret: 's',
      password: 'p',
      Authorization: 'Bearer a.b.c',
      cookie: 'c',
      d: 'private key part',
      apiKey: 'k',
      kid: 'kept',
      keyId: 'kept too',
      sub: 'kept',
    });
    expect(parsed(lines)[0]).toMatchObject({
      refresh_token: '[redacted]',
      accessToken: '[redacted]',
      clientSecret: '[redacted]',
      password: '[redacted]',
      Authorization: '[redacted]',
      cookie: '[redacted]',
      d: '[redacted]',
      apiKey: '[redacted]',
      kid: 'kept',
      keyId: 'kept too',
      sub: 'kept',
    });
    for (const secret of ['"rt"', '"at"', '"s"', '"p"', 'a.b.c', '"c"', 'private key part', '"k"']) {
      expect(lines[0]).not.toContain(secret);
    }
  });

  test("forRequest puts the invocation's facts on every line until the next request", () => {
    const lines: string[] = [];
    const logger = createLogger('authorizer', (line) => lines.push(line));
    const context = {
      awsRequestId: 'req-1',
      functionName: 'fn',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:111111111111:function:fn',
      memoryLimitInMB: '512',
      functionVersion: '$LATEST',
    } as unknown as Context;
    logger.forRequest(context, 'api-req-1');
    logger.info('one');
    logger.info('two');
    logger.forRequest(undefined, 'api-req-2');
    logger.info('three');
    const [one, two, three] = parsed(lines);
    expect(one).toMatchObject({
      correlation_id: 'api-req-1',
      function_request_id: 'req-1',
      function_name: 'fn',
    });
    expect(two).toMatchObject({ correlation_id: 'api-req-1', function_request_id: 'req-1' });
    expect(three).toMatchObject({ correlation_id: 'api-req-2' });
  });

  test('by default writes each line to stdout, every level (not WARN and ERROR to stderr)', () => {
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const logger = createLogger('issuer');
      logger.info('a');
      logger.warn('b');
      logger.error('c');
      const written = stdout.mock.calls.map(([chunk]) => String(chunk));
      expect(
        written.map((chunk) => chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1),
      ).toEqual([true, true, true]);
      expect(parsed(written.map((chunk) => chunk.trimEnd())).map((line) => line.message)).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  });

  test("lines Powertools logs while it is constructed go to the caller's write too", () => {
    const saved = process.env.POWERTOOLS_LOGGER_SAMPLE_RATE;
    process.env.POWERTOOLS_LOGGER_SAMPLE_RATE = '1';
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const lines: string[] = [];
      createLogger('issuer', (line) => lines.push(line));
      expect(parsed(lines)).toEqual([
        expect.objectContaining({
          level: 'DEBUG',
          message: 'Setting log level to DEBUG due to sampling rate',
        }),
      ]);
      expect(stdout).not.toHaveBeenCalled();
    } finally {
      stdout.mockRestore();
      if (saved === undefined) delete process.env.POWERTOOLS_LOGGER_SAMPLE_RATE;
      else process.env.POWERTOOLS_LOGGER_SAMPLE_RATE = saved;
    }
  });

  test('POWERTOOLS_LOG_LEVEL sets the level', () => {
    const saved = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
    try {
      const lines: string[] = [];
      const logger = createLogger('issuer', (line) => lines.push(line));
      logger.info('dropped');
      logger.warn('kept');
      expect(parsed(lines).map((line) => line.message)).toEqual(['kept']);
    } finally {
      if (saved === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = saved;
    }
  });
});
