import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';

/**
 * The demo page's Content-Security-Policy: everything from this origin only, no inline script or style,
 * no plugins, no `<base>`, no framing, forms post only here.
 */
export const DEMO_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/** The headers of every demo asset. */
export const DEMO_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DEMO_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'Cache-Control': 'no-store',
};

/** The request paths of the demo page and its assets, with the file each is made from. */
const ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo/demo.js': { file: 'app.ts', type: 'text/javascript; charset=utf-8' },
  '/demo/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
  '/demo/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

const DEMO_DIR = __dirname;

/** Serves the demo page; build with {@link createDemoAssets}. */
export interface DemoAssets {
  /** Whether a request path is one of the demo's. */
  handles(path: string): boolean;
  /** Answers a request for a path {@link handles} accepted: 200 for GET and HEAD, else 405. */
  serve(method: string, path: string, response: ServerResponse): Promise<void>;
}

/**
 * The demo page's assets: the HTML and CSS as written in `local/demo/`, the script bundled from
 * `local/demo/app.ts` by esbuild on the first request (and kept), each with {@link DEMO_SECURITY_HEADERS}.
 *
 * @param bundle builds the script; injectable for tests. @default esbuild, ES2022, minified
 */
export function createDemoAssets(bundle: () => Promise<string> = bundleDemoScript): DemoAssets {
  const cache = new Map<string, Promise<Buffer>>();
  const load = (path: string, file: string): Promise<Buffer> => {
    let loading = cache.get(path);
    if (loading === undefined) {
      loading =
        file === 'app.ts'
          ? bundle().then((code) => Buffer.from(code, 'utf8'))
          : readFile(join(DEMO_DIR, file));
      // A failed build or read is not cached: the next request tries again.
      loading.catch(() => cache.delete(path));
      cache.set(path, loading);
    }
    return loading;
  };
  return {
    handles: (path) => Object.hasOwn(ASSETS, path),
    serve: async (method, path, response) => {
      const asset = ASSETS[path];
      if (asset === undefined) throw new Error(`not a demo path: ${path}`);
      if (method !== 'GET' && method !== 'HEAD') {
        response.writeHead(405, {
          ...DEMO_SECURITY_HEADERS,
          Allow: 'GET, HEAD',
          'Content-Type': 'application/json',
        });
        response.end(
          JSON.stringify({
            error: 'invalid_request',
            error_description: `method ${method} is not allowed here`,
          }),
        );
        return;
      }
      const body = await load(path, asset.file);
      response.writeHead(200, {
        ...DEMO_SECURITY_HEADERS,
        'Content-Type': asset.type,
        'Content-Length': String(body.length),
      });
      response.end(method === 'HEAD' ? undefined : body);
    },
  };
}

/** Bundles `local/demo/app.ts` for the browser with esbuild (loaded only when the page is first asked for). */
async function bundleDemoScript(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(DEMO_DIR, 'app.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (output === undefined) throw new Error('esbuild produced no demo bundle');
  return output.text;
}
