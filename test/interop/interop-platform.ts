import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PlatformProcess, startPlatformProcess } from '../support/platform-process';

/** The local platform for an interoperability test file, as `npm start` runs it, with its own data dir. */
export interface InteropPlatform {
  readonly url: string;
  /** The discovery document (`/.well-known/openid-configuration`). */
  readonly discovery: Readonly<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** The session cache TTL the interop platforms run with, seconds; revocation shows within it plus 1 s. */
export const SESSION_CACHE_TTL_SECONDS = 1;

/** Starts the platform and reads its discovery document. */
export async function startInteropPlatform(): Promise<InteropPlatform> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hybrid-auth-interop-'));
  let platform: PlatformProcess | undefined;
  try {
    platform = await startPlatformProcess({
      dataDir,
      env: { SESSION_CACHE_TTL_SECONDS: String(SESSION_CACHE_TTL_SECONDS) },
    });
    const response = await fetch(`${platform.url}/.well-known/openid-configuration`);
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    const discovery = (await response.json()) as Record<string, unknown>;
    const started = platform;
    return {
      url: started.url,
      discovery,
      stop: async () => {
        await started.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The tokens of a login as the `native` client (refresh token in the body). */
export interface NativeTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
}

/** `POST /auth/login` as the `native` client. */
export async function nativeLogin(
  url: string,
  user: { readonly username: string; readonly password: string } = {
    username: 'demo',
    password: 'demo-password',
  },
): Promise<NativeTokens> {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...user, client_id: 'native' }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  const { access_token: accessToken, refresh_token: refreshToken } = body;
  if (response.status !== 200 || typeof accessToken !== 'string' || typeof refreshToken !== 'string') {
    throw new Error(`login failed: ${response.status} ${String(body.error)}`);
  }
  return { accessToken, refreshToken };
}

/** `GET /api/me` with a bearer token: the status the platform's authorizer answers. */
export async function apiStatus(url: string, accessToken: string): Promise<number> {
  const response = await fetch(`${url}/api/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Polls `GET /api/me` until it answers `status`, for at most `withinMs`; returns the last status. */
export async function apiStatusBecomes(
  url: string,
  accessToken: string,
  status: number,
  withinMs: number,
): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const current = await apiStatus(url, accessToken);
    if (current === status || Date.now() > deadline) return current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A string field of the discovery document. */
export function discoveryField(platform: InteropPlatform, name: string): string {
  const value = platform.discovery[name];
  if (typeof value !== 'string') throw new Error(`the discovery document has no ${name}`);
  return value;
}
