import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** A timestamp column: read as Date, written as Date or an SQL expression, defaulted by the database. */
type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;
type Json<T> = ColumnType<T, T, T>;

export type UserStatus = 'pending_activation' | 'active' | 'suspended' | 'disabled';

export interface UsersTable {
  id: Generated<string>;
  username: string;
  email: string | null;
  email_verified: Generated<boolean>;
  phone: string | null;
  full_name: string;
  password_hash: string | null;
  status: Generated<UserStatus>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  last_login_at: Date | null;
}

export interface RoleAssignmentsTable {
  id: Generated<string>;
  user_id: string;
  role: string;
  created_at: CreatedAt;
}

export type ClientStatus = 'active' | 'disabled';

/** OIDC client metadata as oidc-provider knows it (snake_case keys), minus the secret. */
export type ClientMetadata = Record<string, unknown> & { client_id: string };

export interface ClientsTable {
  client_id: string;
  /** SHA-256 of the secret, hex; null for public clients. */
  client_secret_hash: string | null;
  metadata: Json<ClientMetadata>;
  first_party: Generated<boolean>;
  /** May obtain tokens for the admin API ($ISSUER/api/v1): service clients and the admin console only. */
  admin_api_access: Generated<boolean>;
  status: Generated<ClientStatus>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface OidcPayloadsTable {
  model: string;
  id: string;
  payload: Json<Record<string, unknown>>;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}

export type SigningAlgorithm = 'RS256' | 'ES256';

export interface SigningKeysTable {
  kid: string;
  alg: SigningAlgorithm;
  /** The public half in clear, so that keys can be inspected or published without MASTER_KEY. */
  public_jwk: Json<Record<string, unknown>>;
  /** The private JWK, sealed with MASTER_KEY (AES-256-GCM). */
  private_jwk_sealed: string;
  created_at: CreatedAt;
  /** Before this instant the key is published in JWKS but does not sign. */
  activates_at: Date;
}

export interface Database {
  users: UsersTable;
  role_assignments: RoleAssignmentsTable;
  clients: ClientsTable;
  oidc_payloads: OidcPayloadsTable;
  signing_keys: SigningKeysTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Client = Selectable<ClientsTable>;
export type NewClient = Insertable<ClientsTable>;
export type SigningKey = Selectable<SigningKeysTable>;
export type NewSigningKey = Insertable<SigningKeysTable>;
