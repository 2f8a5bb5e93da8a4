// A small MCP client for "Try it": calls tools through the gateway's own
// /mcp (streamable HTTP) as the signed-in user. It opens one MCP session
// (initialize, then notifications/initialized), reuses it for every call,
// opens a new one when the gateway answers 404 (the session expired or
// another replica forgot it), and reads both `application/json` and
// `text/event-stream` answers.

const PATH = '/mcp';
const PROTOCOL = '2025-11-25';
const CLIENT = { name: 'manifold-admin-page', title: 'Manifold admin page', version: '1' };

/** A JSON-RPC error from /mcp: `code`, `message`, `data` (with `data.code`). */
export class RpcError extends Error {
  constructor(error, status) {
    super(error?.message || `The gateway answered HTTP ${status}`);
    this.name = 'RpcError';
    this.rpcCode = error?.code ?? null;
    this.data = error?.data ?? null;
    this.status = status;
  }
}

export class McpClient {
  /** `token()`: the credential; `onUnauthorized()`: the gateway refused it. */
  constructor({ token, onUnauthorized = () => {} }) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.sessionId = null;
    this.protocol = PROTOCOL;
    this.opening = null;
    this.nextId = 1;
  }

  /**
   * Calls `tools/call` for `name` with `args`. Resolves with
   * `{ result, ms }` (the tool's result and how long the call took, the
   * handshake left out); rejects with an RpcError.
   */
  async callTool(name, args) {
    for (let attempt = 0; ; attempt += 1) {
      await this.open();
      const started = performance.now();
      try {
        const result = await this.request('tools/call', { name, arguments: args });
        return { result, ms: performance.now() - started };
      } catch (error) {
        // An expired MCP session: open a new one and send the call again, once.
        if (error.status === 404 && attempt === 0) {
          this.sessionId = null;
          continue;
        }
        throw error;
      }
    }
  }

  /** Opens the MCP session unless one is open (concurrent callers share it). */
  open() {
    if (this.sessionId) return Promise.resolve();
    if (!this.opening) {
      this.opening = this.handshake().finally(() => {
        this.opening = null;
      });
    }
    return this.opening;
  }

  async handshake() {
    const init = await this.request('initialize', {
      protocolVersion: PROTOCOL,
      capabilities: {},
      clientInfo: CLIENT,
    }, { opening: true });
    if (init?.protocolVersion) this.protocol = init.protocolVersion;
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  /** Ends the MCP session (best effort; on sign-out). */
  close() {
    const id = this.sessionId;
    this.sessionId = null;
    if (!id) return;
    fetch(PATH, { method: 'DELETE', headers: this.headers(id), cache: 'no-store' }).catch(() => {});
  }

  headers(sessionId = this.sessionId) {
    const headers = {
      Accept: 'application/json, text/event-stream',
      'Content-Type': 'application/json',
      'MCP-Protocol-Version': this.protocol,
    };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (sessionId) headers['Mcp-Session-Id'] = sessionId;
    return headers;
  }

  async post(message) {
    let response;
    try {
      response = await fetch(PATH, {
        method: 'POST', headers: this.headers(), body: JSON.stringify(message), cache: 'no-store',
      });
    } catch {
      throw new RpcError({ message: 'Cannot reach the gateway. Check your connection and try again.' }, 0);
    }
    if (response.status === 401) this.onUnauthorized();
    return response;
  }

  /** One JSON-RPC request; resolves with its `result`. */
  async request(method, params, { opening = false } = {}) {
    const id = this.nextId;
    this.nextId += 1;
    const response = await this.post({ jsonrpc: '2.0', id, method, params });
    if (opening) {
      const sessionId = response.headers.get('Mcp-Session-Id');
      if (sessionId) this.sessionId = sessionId;
    }
    const type = response.headers.get('Content-Type') ?? '';
    let message = null;
    if (type.startsWith('text/event-stream')) {
      message = await readEvents(response, id);
    } else {
      const text = await response.text();
      try {
        message = text ? JSON.parse(text) : null;
      } catch {
        message = null;
      }
    }
    if (message?.error) throw new RpcError(message.error, response.status);
    if (!response.ok) {
      // REST-style errors (401, 403, 429) carry {"error":{"code","message"}}.
      const detail = message && typeof message.error === 'object' ? message.error : null;
      throw new RpcError(detail ?? { message: `The gateway answered HTTP ${response.status}` }, response.status);
    }
    if (!message || !('result' in message)) {
      throw new RpcError({ message: `No answer to ${method} in the gateway's response` }, response.status);
    }
    return message.result;
  }
}

/**
 * Reads a server-sent event stream until the JSON-RPC answer with `id`;
 * notifications before it (progress, logging) are skipped.
 */
async function readEvents(response, id) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (!data) continue;
        let message;
        try {
          message = JSON.parse(data);
        } catch {
          continue;
        }
        if (message && message.id === id) return message;
      }
      if (done) return null;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
