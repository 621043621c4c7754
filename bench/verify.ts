import { createPublicKey } from 'node:crypto';
import { JwtVerifier } from 'aws-jwt-verify';
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify } from 'jose';
import type { SigningAlg } from '../lambda/core/keys';
import { AUDIENCE, ISSUER, rawVerify, tokenFixture } from './fixtures';
import { type CompareOptions, compare, type Figure, progress, ratioFigure, round3 } from './harness';

/** Benchmark 1: the verify hot path against the physical limit and the libraries a user would pick. */
export async function benchVerify(options: CompareOptions): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const alg of ['ES256', 'EdDSA'] as const satisfies readonly SigningAlg[]) {
    progress(`verify ${alg}`);
    const fixture = await tokenFixture(alg);
    const { token, verifier } = fixture;
    const jwk = fixture.jwks.keys[0];
    if (jwk === undefined) throw new Error('no public key');
    const joseKey = await importJWK(jwk, alg);
    const aws = JwtVerifier.create({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
    });
    aws.cacheJwks({ keys: [{ ...jwk, kty: String(jwk.kty), use: 'sig' }] });
    const pem = createPublicKey({ key: { ...jwk }, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const fast = createVerifier({
      key: pem,
      algorithms: [alg],
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
      cache: false,
    });
    // Every contender must accept the token, or the comparison means nothing.
    verifier.verify(token);
    await jwtVerify(token, joseKey, { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', algorithms: [alg] });
    aws.verifySync(token);
    fast(token);

    const results = await compare(
      [
        { name: 'raw crypto.verify', run: rawVerify(fixture) },
        { name: 'AccessTokenVerifier.verify', run: () => verifier.verify(token) },
        {
          name: 'jose jwtVerify',
          async: true,
          run: () =>
            jwtVerify(token, joseKey, {
              issuer: ISSUER,
              audience: AUDIENCE,
              typ: 'at+jwt',
              algorithms: [alg],
            }),
        },
        { name: 'aws-jwt-verify verifySync', run: () => aws.verifySync(token) },
        { name: 'fast-jwt (cache off)', run: () => fast(token) },
      ],
      options,
    );
    const [raw, ours, jose, awsResult, fastResult] = results;
    if (
      raw === undefined ||
      ours === undefined ||
      jose === undefined ||
      awsResult === undefined ||
      fastResult === undefined
    ) {
      throw new Error('missing results');
    }
    figures.push(
      { bench: '1 verify', name: `${alg} raw crypto.verify`, value: round3(raw.medianUs), unit: 'us/op' },
      { bench: '1 verify', name: `${alg} AccessTokenVerifier`, value: round3(ours.medianUs), unit: 'us/op' },
      ratioFigure('1 verify', `${alg} ours vs raw crypto.verify`, ours, 0.8),
      ratioFigure('1 verify', `${alg} jose jwtVerify vs raw`, jose),
      ratioFigure('1 verify', `${alg} aws-jwt-verify vs raw`, awsResult),
      ratioFigure('1 verify', `${alg} fast-jwt vs raw`, fastResult),
    );
  }
  return figures;
}
