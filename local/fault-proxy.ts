import { connect, createServer, type Socket } from 'node:net';

/** Whether a {@link FaultProxy} passes connections through (`up`) or refuses them (`down`). */
export type FaultProxyState = 'up' | 'down';

/** Settings of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where connections go while the proxy is up: the `http://host:port` of a DynamoDB Local server. */
  readonly target: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
}

/** A running fault proxy: one region's table endpoint, which the fault control can take down and bring up. */
export interface FaultProxy {
  /** The endpoint clients use instead of the target's (`http://host:port`). */
  readonly endpoint: string;
  readonly state: FaultProxyState;
  /** Refuses new connections and destroys every open one, so a client's next call fails at once. */
  down(): void;
  /** Passes new connections through again. */
  up(): void;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of one region's DynamoDB Local, so that one region's table can fail while the other
 * regions' live: the region's platform and the replicator both reach the table through it, so a table that
 * is down is down for both. Down, it resets each new connection as it is accepted (the client sees
 * `ECONNRESET` before a byte of its request is read) and destroys the open ones; the listening socket stays,
 * so no other process can take its port in between. Local only: nothing in `lambda/` or `lib/` knows of it.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const targetPort = Number(target.port);
  const host = options.host ?? '127.0.0.1';
  const open = new Set<Socket>();
  let state: FaultProxyState = 'up';

  const server = createServer({ pauseOnConnect: true }, (client) => {
    if (state === 'down') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, target.hostname);
    open.add(client);
    open.add(upstream);
    const forget = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', forget);
    upstream.once('close', forget);
    // A failed side ends the other: the client sees the connection drop, as it would if the table went away.
    client.on('error', forget);
    upstream.on('error', forget);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('the fault proxy has no address');
  const destroyOpen = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };

  return {
    endpoint: `http://${host}:${address.port}`,
    get state() {
      return state;
    },
    down: () => {
      state = 'down';
      destroyOpen();
    },
    up: () => {
      state = 'up';
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        destroyOpen();
      }),
  };
}
