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

/** The default registry: a browser client `web` and a native client `native`. */
export const DEFAULT_CLIENTS: readonly ClientConfig[] = [
  { clientId: 'web', refreshTokenDelivery: 'cookie', allowedOrigins: [] },
  { clientId: 'native', refreshTokenDelivery: 'body' },
];

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
}
