// Live server status and catalog changes over /graphql/ws
// (graphql-transport-ws): two subscriptions on one socket. While the socket
// is down it reconnects with exponential back-off and meanwhile polls
// through the `poll` callback every 5 s.

const SUBSCRIPTIONS = {
  status: `subscription ServerStatus {
  serverStatusChanged { id name status toolCount connectedAt lastError retryAt reconnects protocolVersion oauth }
}`,
  catalog: `subscription Catalog {
  catalogChanged { kind id action }
}`,
};
const POLL_MS = 5000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;

export class LiveStatus {
  /**
   * `token()`: the credential; `onChange(change)`: one serverStatusChanged;
   * `onCatalog(change)`: one catalogChanged; `onResync()`: the socket (re)opened, refresh everything once;
   * `poll()`: refresh while not live; `onMode('live'|'polling')`;
   * `onRejected()`: the gateway refused the credential;
   * `extra`: more subscriptions on the same socket, `{ id: { query, next(data), up(bool) } }`
   * — one that errors (a gateway without it) reports `up(false)` and leaves the socket alone.
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.stopped = true;
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer = null;
    this.pollTimer = null;
    this.mode = null;
  }

  start() {
    this.stopped = false;
    this.setMode('polling');
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, 'signed out');
  }

  setMode(mode) {
    if (mode === 'live') {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    } else if (!this.pollTimer && !this.stopped) {
      this.pollTimer = setInterval(() => this.handlers.poll(), POLL_MS);
    }
    if (this.mode !== mode) {
      this.mode = mode;
      this.handlers.onMode(mode);
    }
  }

  open() {
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/graphql/ws`, 'graphql-transport-ws');
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.send(socket, {
        type: 'connection_init',
        payload: this.handlers.token() ? { Authorization: `Bearer ${this.handlers.token()}` } : {},
      });
    });
    socket.addEventListener('message', (event) => this.receive(socket, event.data));
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4401 || event.code === 4403) this.handlers.onRejected();
      this.retry();
    });
  }

  send(socket, message) {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  receive(socket, data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message.type) {
      case 'connection_ack':
        this.retryMs = FIRST_RETRY_MS;
        for (const [id, query] of Object.entries(SUBSCRIPTIONS)) {
          this.send(socket, { id, type: 'subscribe', payload: { query } });
        }
        for (const [id, extra] of Object.entries(this.handlers.extra ?? {})) {
          this.send(socket, { id, type: 'subscribe', payload: { query: extra.query } });
          extra.up(true);
        }
        this.setMode('live');
        this.handlers.onResync();
        break;
      case 'ping':
        this.send(socket, { type: 'pong' });
        break;
      case 'next': {
        const data = message.payload?.data;
        const extra = this.handlers.extra?.[message.id];
        if (extra) {
          if (data) extra.next(data);
          break;
        }
        if (message.id === 'status' && data?.serverStatusChanged) this.handlers.onChange(data.serverStatusChanged);
        else if (message.id === 'catalog' && data?.catalogChanged) this.handlers.onCatalog(data.catalogChanged);
        break;
      }
      case 'error':
      case 'complete':
        if (this.handlers.extra?.[message.id]) {
          this.handlers.extra[message.id].up(false);
          break;
        }
        // A subscription ended: start over on a fresh socket.
        socket.close(1000, 'resubscribe');
        break;
      default:
        break;
    }
  }

  retry() {
    if (this.stopped) return;
    this.setMode('polling');
    for (const extra of Object.values(this.handlers.extra ?? {})) extra.up(false);
    clearTimeout(this.retryTimer);
    const delay = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }
}
