// Live updates over the WebSocket /api/v1/push.
//
// The server numbers what it sends with a cursor. We keep the last one and reconnect with
// ?cursor= after a drop, so the server replays everything we missed and nothing twice.
// Reconnects back off exponentially (with jitter, so a restarted server is not hit by every
// console at the same instant) and reset once the server says hello again.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;

export class Push {
  /**
   * @param {object} handlers
   *   onFrame(frame)   every frame, in order (hello, event, message, presence)
   *   onState(state)   'connecting' | 'live' | 'offline'
   *   onDropped(n)     after the n-th failed attempt in a row (to check the session)
   */
  constructor({ onFrame, onState = () => {}, onDropped = () => {} }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.onDropped = onDropped;
    this.cursor = null;
    this.socket = null;
    this.failures = 0;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, 'logout');
    }
    this.cursor = null;
    this.failures = 0;
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const cursor = this.cursor ? `?cursor=${encodeURIComponent(this.cursor)}` : '';
    return `${scheme}//${location.host}/api/v1/push${cursor}`;
  }

  connect() {
    if (this.stopped) return;
    this.onState('connecting');
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('message', (e) => this.receive(socket, e.data));
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return; // an old socket we already let go
      this.socket = null;
      this.retry();
    });
  }

  receive(socket, data) {
    if (this.socket !== socket) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // not ours to understand; the next frame may be fine
    }
    if (frame.type === 'hello') {
      this.failures = 0;
      this.onState('live');
    }
    // Presence frames carry no cursor; everything else moves it forward.
    if (frame.cursor) this.cursor = frame.cursor;
    this.onFrame(frame);
  }

  retry() {
    if (this.stopped) return;
    this.failures += 1;
    this.onState('offline');
    this.onDropped(this.failures);
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (this.failures - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
