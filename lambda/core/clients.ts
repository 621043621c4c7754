/** How a client receives its refresh token. */
export type RefreshTokenDelivery = 'cookie' | 'body';

/** One registered client. */
export interface ClientConfig {
  readonly clientId: string;
  /**
   * `cookie`: the refresh token travels only in an `HttpOnly; Secure; SameSite=Strict` cookie with a narrow
   * `Path`, never in a body, and cookie refreshes need an allowed `Origin` (browsers). `body`: in the JSON
   * body (native apps).
   */
  readonly refreshTokenDelivery: RefreshTokenDelivery;
  /** Origins allowed to use the cookie (exact `scheme://host[:port]`). Required for `cookie` clients. */
  readonly allowedOrigins?: readonly string[];
}

/**
 * The clients a deployment registers unless its configuration names others: a browser client `web` (refresh
 * token in a cookie) and a native client `native` (refresh token in the body). The CDK configuration and the
 * local platform both start from it.
 */
export const DEFAULT_CLIENTS: readonly ClientConfig[] = Object.freeze([
  Object.freeze({ clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: [] }),
  Object.freeze({ clientId: 'native', refreshTokenDelivery: 'body' }),
] satisfies ClientConfig[]);

/** The client registry: validated once at start-up. */
export class ClientRegistry {
  private readonly clients: ReadonlyMap<string, ClientConfig>;

  public constructor(clients: readonly ClientConfig[]) {
    const map = new Map<string, ClientConfig>();
    for (const client of clients) {
      if (!/^[a-z0-9_-]{1,64}$/.test(client.clientId)) {
        throw new TypeError(`client id must match [a-z0-9_-]{1,64}, got ${JSON.stringify(client.clientId)}`);
      }
      if (map.has(client.clientId)) throw new TypeError(`client id ${client.clientId} is registered twice`);
      for (const origin of client.allowedOrigins ?? []) {
        if (!/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i.test(origin)) {
          throw new TypeError(`allowed origin must be scheme://host[:port], got ${JSON.stringify(origin)}`);
        }
      }
      map.set(client.clientId, client);
    }
    this.clients = map;
  }

  /** The client with this id, or `undefined`. */
  public get(clientId: unknown): ClientConfig | undefined {
    return typeof clientId === 'string' ? this.clients.get(clientId) : undefined;
  }

  /**
   * The client a request means when it names none: the first registered client with this refresh-token
   * delivery (a request carrying the refresh cookie means the first cookie client; one with neither a
   * `client_id` nor the cookie means the first body client), in the order of the configuration. `undefined`
   * when no client delivers that way: the request must then name its client.
   */
  public implied(delivery: RefreshTokenDelivery): ClientConfig | undefined {
    for (const client of this.clients.values()) if (client.refreshTokenDelivery === delivery) return client;
    return undefined;
  }
}
