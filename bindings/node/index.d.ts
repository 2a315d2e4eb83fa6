// Type definitions of the polystat Node package.
//
// Every operation that touches a backend returns a Promise. Records are plain
// objects: `id`, `version`, the creation and update instants (RFC 3339
// strings), then the entity's fields, named as in the Rust core. Users,
// catalogs, controls, scopes, secrets and service accounts use snake_case
// (`created_at`); computations, guarantee points, mashups, datasources,
// linkers and folders use camelCase (`createdAt`).
// Integers beyond Number.MAX_SAFE_INTEGER come back as BigInt; every
// integer argument accepts a number or a BigInt.

export type Record = { id: string; version: number | bigint; [field: string]: unknown };
export type Filter = { [field: string]: unknown };
export type Sort = { [field: string]: 1 | -1 };

/** Stable codes of the error kinds, the same in Rust, Python and Node. */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'VALIDATION'
  | 'REFERENCE'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'TRANSFORM'
  | 'UNAUTHORIZED'
  | 'RATE_LIMITED'
  | 'CONFIGURATION';

/** Every rejection of a polystat Promise is a PolystatError. */
export class PolystatError extends Error {
  /** Builds an error from the structured details the addon sends. */
  constructor(details: { code: ErrorCode; message: string; [field: string]: unknown });
  readonly code: ErrorCode;
  /** Text of the underlying driver or I/O error, when there is one. */
  readonly cause?: string;
  /** Offending field or path (VALIDATION). */
  readonly field?: string;
  readonly reason?: string;
  /** Entity and id of the record concerned (NOT_FOUND, CONFLICT, REFERENCE). */
  readonly entity?: string;
  readonly id?: string;
  /** Backend that failed (UNAVAILABLE). */
  readonly backend?: string;
  /** Seconds to wait (RATE_LIMITED). */
  readonly retryAfter?: number;
  /** Operation that timed out and the seconds after which it stopped (TIMEOUT). */
  readonly operation?: string;
  readonly after?: number;
  /** Transform module and the limit it hit (TRANSFORM). */
  readonly module?: string;
  readonly limit?: string | null;
}

export type EntityName =
  | 'users'
  | 'catalogs'
  | 'controls'
  | 'scopes'
  | 'secrets'
  | 'service_accounts'
  | 'computations'
  | 'guarantee_points'
  | 'mashups'
  | 'datasources'
  | 'linkers'
  | 'folders';

export interface OpenOptions {
  /** `sqlite://FILE` or `postgres://...`; default POLYSTAT_RELATIONAL_URL or sqlite://polystat.db. */
  relationalUrl?: string;
  /** `sqlite://FILE`, `postgres://...` or `mongodb://...`; default POLYSTAT_DOCUMENTS_URL, else `relationalUrl` when given, else sqlite://polystat.db. */
  documentsUrl?: string;
  /** `memory` or `redis://...`; default POLYSTAT_CACHE_URL or memory. */
  cacheUrl?: string;
  /** 32 bytes in base64; default POLYSTAT_MASTER_KEY. */
  masterKey?: string;
  /** Folder that `file` datasource paths stay inside. */
  dataRoot?: string;
}

export interface ListOptions {
  filter?: Filter;
  sort?: Sort;
  /** Page size, 1 to 10,000; default 100. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface Page<T = Record> {
  items: T[];
  /** Null on the last page. */
  nextCursor: string | null;
}

export class Repository<T = Record> {
  readonly entity: EntityName;
  /** Validates and stores a new record with version 1. */
  create(data: object): Promise<T>;
  /** Stores all items in one transaction, or none. */
  bulkInsert(items: object[]): Promise<T[]>;
  /** Rejects with NOT_FOUND when there is no such record. */
  get(id: string): Promise<T>;
  /** Resolves to null when there is no such record. */
  find(id: string): Promise<T | null>;
  /** Replaces the fields if the stored version is `expectedVersion`; else CONFLICT. */
  update(id: string, expectedVersion: number | bigint, data: object): Promise<T>;
  /** Deletes the record, optionally only at `expectedVersion`. */
  delete(id: string, expectedVersion?: number | bigint | null): Promise<void>;
  /** One page of matching records. */
  list(options?: ListOptions | null): Promise<Page<T>>;
  /** Every matching record. */
  listAll(options?: Omit<ListOptions, 'limit' | 'cursor'> | null): Promise<T[]>;
  /** Every page, following the cursors. */
  pages(options?: Omit<ListOptions, 'cursor'>): AsyncGenerator<Page<T>>;
  /** Every matching record, a page at a time. */
  [Symbol.asyncIterator](): AsyncIterator<T>;
  iterate(options?: Omit<ListOptions, 'cursor'>): AsyncGenerator<T>;
  count(filter?: Filter): Promise<number>;
  /** The first matching record in id order, or null. */
  findOne(filter?: Filter): Promise<T | null>;
}

export class Users extends Repository {
  /** Creates a user from username, email, password and optional role; the password is hashed. */
  register(data: { username: string; email: string; password: string; role?: string }): Promise<Record>;
  /** The user whose password matches; UNAUTHORIZED otherwise. */
  verifyPassword(username: string, password: string): Promise<Record>;
  enableTwoFactor(id: string, expectedVersion: number | bigint, totpSecret: string): Promise<Record>;
}

export class Secrets extends Repository {
  /** Stores a secret from name, value and optional type, environment, owner. */
  createSecret(data: { name: string; value: string; [field: string]: unknown }): Promise<Record>;
  /** Decrypts and returns the plaintext value. */
  reveal(id: string): Promise<string>;
  rotate(id: string, expectedVersion: number | bigint, value: string): Promise<Record>;
}

export class ServiceAccounts extends Repository {
  /** Creates an account and returns it with its API key, shown only here. */
  createAccount(data: object): Promise<{ account: Record; apiKey: string }>;
  /** The account of an enabled, unexpired key; UNAUTHORIZED otherwise. */
  authenticate(apiKey: string): Promise<Record>;
}

export class Datasources extends Repository {
  /** The linkers and mashups that read the datasource. */
  usage(id: string): Promise<{ linkers: string[]; mashups: string[] }>;
}

/** A change to records, made through this store or, with a Redis cache, by another process. */
export interface ChangeEvent {
  /** `created`, `updated`, `deleted`, `changed` (another process wrote; the kind is unknown) or `missed` (events were dropped: reload). */
  kind: 'created' | 'updated' | 'deleted' | 'changed' | 'missed';
  entity: EntityName | null;
  ids: string[];
  /** `local` for writes through this store, `remote` for other processes. */
  origin: 'local' | 'remote';
  /** Events dropped before this one (`missed`). */
  missed: number;
}

export interface ChangeSubscription {
  /** Stops the events; the listener is not called again. */
  close(): void;
  readonly closed: boolean;
}

export interface StateSubscription extends ChangeSubscription {
  readonly channel: string;
}

/** Tokens of `issueTokens` and `refresh`; instants are RFC 3339 strings. */
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  access_expires_at: string;
  refresh_expires_at: string;
  /** Shared by every pair refreshed from one `issueTokens` call. */
  family_id: string;
}

/** Subject, claims, family and expiry of a verified access token. */
export interface TokenClaims {
  subject: string;
  /** The `claims` value passed to `issueTokens`. */
  claims: unknown;
  family_id: string;
  expires_at: string;
}

/** A server-side session; `id` is a bearer secret. */
export interface Session {
  id: string;
  data: { [key: string]: unknown };
  expires_at: string;
}

/** Result of `testDatasource`; a failed test resolves, with `code` and `message` set. */
export interface DatasourceTest {
  status: 'ok' | 'failed';
  message: string | null;
  code: ErrorCode | null;
  tested_at: string;
  /** Seconds the test took. */
  elapsed: number;
}

export class State {
  /** `accessTtl` and `refreshTtl` in seconds. */
  issueTokens(subject: string, claims: unknown, accessTtl: number, refreshTtl: number): Promise<TokenPair>;
  verifyAccess(accessToken: string): Promise<TokenClaims>;
  refresh(refreshToken: string): Promise<TokenPair>;
  revokeFamily(familyId: string): Promise<boolean>;
  revokeToken(token: string): Promise<boolean>;
  /** `ttl` in seconds. */
  createSession(data: object, ttl: number): Promise<Session>;
  getSession(id: string): Promise<Session | null>;
  updateSession(id: string, data: object): Promise<Session | null>;
  touchSession(id: string, ttl: number): Promise<Session | null>;
  deleteSession(id: string): Promise<boolean>;
  /** `window` in seconds; the result's delays are in seconds too. */
  rateLimit(
    key: string,
    limit: number,
    window: number,
  ): Promise<{ allowed: boolean; remaining: number; retry_after: number | null; reset_after: number }>;
  checkRateLimit(key: string, limit: number, window: number): Promise<void>;
  publish(channel: string, message: unknown): Promise<void>;
  /**
   * Calls `listener` with each message; the subscription does not keep the process alive.
   * Delivery is at most once: while 4,096 messages wait for a busy event loop, later ones are dropped.
   */
  subscribe(channel: string, listener: (message: unknown) => void): Promise<StateSubscription>;
  setTemp(key: string, value: unknown, ttl: number): Promise<void>;
  getTemp(key: string): Promise<unknown>;
  deleteTemp(key: string): Promise<boolean>;
}

/** Per-call limits stored with a transform version; unset ones take the store's defaults. */
export interface TransformLimits {
  fuel?: number;
  deadlineMs?: number;
  memoryBytes?: number;
  outputBytes?: number;
}

/** Metadata of one stored transform version. */
export interface TransformInfo {
  id: string;
  name: string;
  version: number;
  /** SHA-256 of the module bytes, lowercase hex. */
  digest: string;
  sizeBytes: number;
  abiVersion: number;
  limits: TransformLimits;
  createdAt: string;
}

/** The WebAssembly transform registry: versioned modules by name. */
export class Transforms {
  /** Validates and stores a module (bytes or a file path); identical bytes return the existing version. */
  upload(name: string, wasm: Uint8Array | string, limits?: TransformLimits | null): Promise<TransformInfo>;
  /** Every version of every transform, by name then version, without the bytes. */
  list(): Promise<TransformInfo[]>;
  /** The versions of one transform, oldest first. */
  versions(name: string): Promise<TransformInfo[]>;
  /** A version's metadata and bytes; the latest when `version` is omitted. */
  get(name: string, version?: number | null): Promise<{ info: TransformInfo; wasm: Buffer }>;
  /** Deletes one version, or every version; REFERENCE while a linker uses it. */
  delete(name: string, version?: number | null): Promise<TransformInfo[]>;
  /** Ids of the linkers whose steps would run this version (or any version). */
  usage(name: string, version?: number | null): Promise<string[]>;
  /** Runs a version (the latest by default) over one batch of records. */
  call(name: string, records: object[], params?: unknown, version?: number | null): Promise<object[]>;
}

export interface EvaluateControlInput {
  /** Control record id. */
  controlId: string;
  /** Linked records, as `runLinker` returns them in `records`. */
  records: object[];
  /** Transform name to WebAssembly file; must name `transform`. */
  transforms: { [name: string]: string };
  /** Name of the rule transform that turns the records into `{key, value, result}` evidences. */
  transform: string;
  params?: object;
  period: { from: string; to: string };
  scope?: object;
}

export class Store {
  /** Opens a store and applies migrations; unset options come from POLYSTAT_* or the defaults. */
  static open(options?: OpenOptions): Promise<Store>;
  /** The store of the POLYSTAT_* variables, or ./polystat.db. */
  static openDefault(): Promise<Store>;
  readonly users: Users;
  readonly catalogs: Repository;
  readonly controls: Repository;
  readonly scopes: Repository;
  readonly secrets: Secrets;
  readonly serviceAccounts: ServiceAccounts;
  readonly computations: Repository;
  readonly guaranteePoints: Repository;
  readonly mashups: Repository;
  readonly datasources: Datasources;
  readonly linkers: Repository;
  readonly folders: Repository;
  readonly state: State;
  readonly transforms: Transforms;
  /** The repository named as in Rust and Python (`service_accounts`, ...). */
  repository(entity: EntityName): Repository;
  readonly closed: boolean;
  /** Closes the pools; later calls reject with CONFIGURATION. */
  close(): Promise<void>;
  /** Hits, misses and loads of both cache tiers. */
  cacheStats(): {
    tier1: { hits: number; misses: number; fills: number; evictions: number };
    tier2: { hits: number; misses: number; fills: number; evictions: number };
    loads: { count: number; mean_micros: number; p99_micros: number; max_micros: number };
    invalidations: number;
    stale_fills_dropped: number;
    flushes: number;
    coalesced_loads: number;
    lease_waits: number;
    redis_errors: number;
    tier2_available: boolean;
  };
  /** Runs a stored linker and records its status; resolves to `{records, diagnostics}`. */
  runLinker(linkerId: string, transforms?: { [name: string]: string }): Promise<{ records: object[]; diagnostics: object[] }>;
  /** Runs a linker on a sample of each source and writes nothing. */
  testLinker(linkerId: string, transforms?: { [name: string]: string }, sampleSize?: number): Promise<object>;
  /** A linker's output through the cache; writes nothing. */
  linkerResult(linkerId: string, transforms?: { [name: string]: string }, sampleSize?: number): Promise<object>;
  testDatasource(datasourceId: string): Promise<DatasourceTest>;
  /** Imports an OSCAL catalog from a file path or a parsed document. */
  importOscal(catalog: string | object): Promise<object>;
  /** Runs a job file as `polystat evaluate` does. */
  evaluateJob(jobPath: string, dataDir?: string): Promise<object>;
  /** Evaluates one control over linked records; resolves to the computation fields, not stored. */
  evaluateControl(input: EvaluateControlInput): Promise<object>;
  /** Calls `listener` for each change to the named entities (all when omitted). Does not keep the process alive. */
  changes(listener: (event: ChangeEvent) => void, entities?: EntityName[] | null): ChangeSubscription;
}
