// REST client for /api/v1: bearer credential, JSON bodies, error type,
// 401 → sign-out hook, 429 → wait Retry-After and retry.

import { sleep } from './dom.js';

const BASE = '/api/v1';
const MAX_RATE_RETRIES = 5;

/** An API error: `code`, `message`, `field` and `authorizationUrl` from the body. */
export class ApiError extends Error {
  constructor(status, detail = {}) {
    super(detail.message || `Request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = detail.code || 'http_error';
    this.field = detail.field || null;
    this.authorizationUrl = detail.authorization_url || null;
  }
}

const hooks = {
  token: () => null,
  onUnauthorized: () => {},
  onRateLimited: () => {},
};

/** Sets where the credential comes from and what 401/429 do. */
export function configure(next) {
  Object.assign(hooks, next);
}

/**
 * Calls the API. `options.auth === false` sends no credential;
 * `options.quiet401` reports a 401 as an ApiError instead of signing out.
 */
export async function request(method, path, body, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const headers = { Accept: 'application/json' };
    const token = options.token ?? hooks.token();
    if (token && options.auth !== false) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(BASE + path, init);
    } catch {
      throw new ApiError(0, {
        code: 'network_error',
        message: 'Cannot reach the gateway. Check your connection and try again.',
      });
    }
    if (response.status === 429 && attempt < MAX_RATE_RETRIES) {
      const seconds = Math.max(1, Number.parseInt(response.headers.get('Retry-After') ?? '1', 10) || 1);
      await hooks.onRateLimited(seconds);
      await sleep(seconds * 1000);
      continue;
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (response.ok) return data;
    const error = new ApiError(response.status, data?.error);
    if (response.status === 401 && !options.quiet401) hooks.onUnauthorized(error);
    throw error;
  }
}

/** Every item of a paginated list. */
export async function listAll(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const query = `limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await request('GET', `${path}${sep}${query}`);
    items.push(...(page?.items ?? []));
    cursor = page?.next_cursor ?? null;
  } while (cursor);
  return items;
}

const seg = (id) => encodeURIComponent(id);

export const api = {
  me: (options) => request('GET', '/me', undefined, options),
  categories: () => listAll('/categories'),
  createCategory: (body) => request('POST', '/categories', body),
  updateCategory: (id, body) => request('PATCH', `/categories/${seg(id)}`, body),
  deleteCategory: (id) => request('DELETE', `/categories/${seg(id)}`),
  servers: () => listAll('/servers'),
  server: (id) => request('GET', `/servers/${seg(id)}`),
  createServer: (body) => request('POST', '/servers', body),
  updateServer: (id, body) => request('PATCH', `/servers/${seg(id)}`, body),
  deleteServer: (id) => request('DELETE', `/servers/${seg(id)}`),
  sessionServers: () => listAll('/session/servers'),
  sessionTools: () => request('GET', '/session/tools'),
  toolsets: () => request('GET', '/toolsets?limit=200'),
  createToolset: (body) => request('POST', '/toolsets', body),
  deleteToolset: (id) => request('DELETE', `/toolsets/${seg(id)}`),
  sessionToolFilter: () => request('GET', '/session/tool-filter'),
  setSessionToolFilter: (filter) => request('PUT', '/session/tool-filter', filter),
  langchainConfig: () => request('GET', '/session/langchain-config'),
  connect: (id) => request('POST', `/servers/${seg(id)}/connect`),
  disconnect: (id) => request('POST', `/servers/${seg(id)}/disconnect`),
  authorize: (id) => request('POST', `/servers/${seg(id)}/oauth/authorize`),
  forgetAuthorization: (id) => request('DELETE', `/servers/${seg(id)}/oauth`),
  keys: () => request('GET', '/keys'),
  createKey: (body) => request('POST', '/keys', body),
  revokeKey: (id) => request('DELETE', `/keys/${seg(id)}`),
  audit: (query) => request('GET', `/audit?${new URLSearchParams(query)}`),
  importServers: (body, dryRun) => request('POST', `/import${dryRun ? '?dry_run=true' : ''}`, body),
  exportCatalog: (format) => request('GET', `/export?format=${encodeURIComponent(format)}`),
};
