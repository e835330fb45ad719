// The planning's websocket with resume (docs/protocol.md, "Resume algorithm").
//
// - keeps `last`, the highest seq applied (or a snapshot's `at`); drops event frames with
//   `seq <= last`; reconnects with `since=last` on a gap or any disconnect, with backoff;
// - commands get an `op` (client_op_id); they are queued while offline and every command not yet
//   acknowledged is re-sent with its original `op` after a reconnect (the server applies it once),
//   and one refused as `busy` or `unavailable` is sent again after a growing delay;
// - `state` is 'connecting' | 'online' | 'reconnecting' | 'offline' | 'closed'.

import { CLOSE } from './protocol.js';

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const PING_MS = 25000;
// Refusals after which the same command is sent again (docs/protocol.md: nothing was written,
// and the same `op` applies once), and the delays before each try; then the error is shown.
const RETRIED = new Set(['busy', 'unavailable']);
const RETRY_MS = [200, 400, 800, 1600, 3200];

let opCounter = 0;
export function newOp() {
  opCounter += 1;
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `c-${Date.now().toString(36)}-${rand[0].toString(36)}${rand[1].toString(36)}-${opCounter}`;
}

export class PlanningSocket {
  /**
   * handlers: onHello(frame), onEvent(frame), onSnapshot(frame), onCaughtUp(frame),
   * onView(frame) (a kept view's frame; false: it could not be applied), onPresence(frame), onError(frame) (errors not tied to a pending command), onState(state),
   * onQueue(count) (commands sent but not yet acknowledged, e.g. while offline).
   */
  constructor({ planning, token, since = 0, handlers = {} }) {
    this.planning = planning;
    this.token = token;
    this.last = since;
    this.handlers = handlers;
    this.state = 'connecting';
    this.pending = new Map(); // op -> {frame, resolve, reject}
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.ping = null;
    this.stopped = false;
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ token: this.token, since: String(this.last), view: 'true' });
    return `${proto}//${location.host}/ws/plannings/${encodeURIComponent(this.planning)}?${q}`;
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.handlers.onState?.(s);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      // Everything not yet acknowledged goes (again) with its original op.
      for (const p of this.pending.values()) ws.send(JSON.stringify(p.frame));
      clearInterval(this.ping);
      this.ping = setInterval(() => this.sendRaw({ type: 'ping' }), PING_MS);
    };
    ws.onmessage = (msg) => {
      let f;
      try {
        f = JSON.parse(msg.data);
      } catch {
        return;
      }
      this.receive(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      clearInterval(this.ping);
      this.ws = null;
      if (ev.code === CLOSE.REVOKED) {
        this.stop();
        this.handlers.onError?.({ code: 'revoked', message: 'Your access to this planning was revoked.' });
        return;
      }
      this.scheduleReconnect();
    };
  }

  receive(f) {
    switch (f.type) {
      case 'hello':
        this.handlers.onHello?.(f);
        break;
      case 'snapshot':
        this.last = f.at;
        this.handlers.onSnapshot?.(f);
        break;
      case 'event':
        if (f.seq <= this.last) return; // already applied
        if (f.seq > this.last + 1) {
          // A gap: resume from what we have.
          this.ws?.close(CLOSE.GAP, 'gap');
          return;
        }
        this.last = f.seq;
        this.handlers.onEvent?.(f);
        break;
      case 'caught_up':
        this.attempt = 0;
        this.setState('online');
        this.handlers.onCaughtUp?.(f);
        break;
      case 'ack': {
        const p = this.pending.get(f.op);
        if (p) {
          this.pending.delete(f.op);
          this.handlers.onQueue?.(this.pending.size);
          p.resolve(f);
        }
        break;
      }
      case 'error': {
        const p = f.op ? this.pending.get(f.op) : null;
        if (p && RETRIED.has(f.code) && p.tries < RETRY_MS.length) {
          // Nothing was written: the same frame again, later, applies once.
          this.retryLater(p);
        } else if (p) {
          this.pending.delete(f.op);
          this.handlers.onQueue?.(this.pending.size);
          p.reject(Object.assign(new Error(f.message || f.code), { code: f.code }));
        } else {
          this.handlers.onError?.(f);
        }
        break;
      }
      case 'presence':
        this.handlers.onPresence?.(f);
        break;
      case 'view':
      case 'mine':
      case 'view_patch':
      case 'mine_patch':
        // A patch this client cannot apply: reconnect, the whole view comes again.
        if (this.handlers.onView?.(f) === false) this.ws?.close(CLOSE.GAP, 'view');
        break;
      default:
        break;
    }
  }

  retryLater(p) {
    const delay = RETRY_MS[p.tries] * (0.75 + Math.random() * 0.5);
    p.tries += 1;
    setTimeout(() => {
      if (this.pending.get(p.frame.op) === p) this.sendRaw(p.frame);
    }, delay);
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setState(navigator.onLine === false || this.attempt > 3 ? 'offline' : 'reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() * 0.5));
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  sendRaw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  /** Sends a command; resolves with its ack, rejects with its error. Queued while offline. */
  send(command) {
    const op = newOp();
    const frame = { type: 'command', op, command };
    return new Promise((resolve, reject) => {
      this.pending.set(op, { frame, resolve, reject, tries: 0 });
      this.handlers.onQueue?.(this.pending.size);
      this.sendRaw(frame);
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    window.removeEventListener('online', this.onOnline);
    const ws = this.ws;
    this.ws = null;
    ws?.close(CLOSE.NORMAL);
    this.setState('closed');
  }
}
