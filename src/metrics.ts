import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What Mekong ID tells Prometheus. One registry per server (not prom-client's global one), so two
 * servers in one process (the tests) count apart. Gauges read their sources when scraped.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Password sign-ins by outcome: success, invalid_credentials, inactive, throttled, busy. */
  readonly logins: Counter<'outcome'>;
  /** Tokens issued at the token endpoint, by grant type. */
  readonly tokensIssued: Counter<'grant_type'>;
  /** Back-channel logout deliveries: delivered, failed. */
  readonly backchannelDeliveries: Counter<'outcome'>;
}

export interface MetricSources {
  /** Password hashes waiting for a slot. */
  readonly passwordQueueDepth: () => number;
  /** The database pool; null for the embedded database, which has one connection and no pool. */
  readonly databasePool: () => { total: number; idle: number; waiting: number } | null;
}

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mekong_' });

  new Gauge({
    name: 'mekong_password_hash_queue_depth',
    help: 'Password hashes (argon2id) waiting for a free slot',
    registers: [registry],
    collect() {
      this.set(sources.passwordQueueDepth());
    },
  });
  new Gauge({
    name: 'mekong_database_pool_connections',
    help: 'Database pool connections by state (total, idle, and requests waiting for one)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const pool = sources.databasePool();
      if (!pool) return;
      this.set({ state: 'total' }, pool.total);
      this.set({ state: 'idle' }, pool.idle);
      this.set({ state: 'waiting' }, pool.waiting);
    },
  });

  return {
    registry,
    httpDuration: new Histogram({
      name: 'mekong_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    logins: new Counter({ name: 'mekong_logins_total', help: 'Password sign-ins by outcome', labelNames: ['outcome'], registers: [registry] }),
    tokensIssued: new Counter({ name: 'mekong_tokens_issued_total', help: 'Token endpoint grants by grant type', labelNames: ['grant_type'], registers: [registry] }),
    backchannelDeliveries: new Counter({
      name: 'mekong_backchannel_logout_deliveries_total',
      help: 'Back-channel logout deliveries to apps by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
