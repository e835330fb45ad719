// The planning as this browser sees it. The server does the projection: `snapshot` frames
// replace the state, and after a batch of event frames the client refetches
// `GET /api/plannings/{id}` (one fetch per batch, never two at once).

import { readPlanning } from './api.js';

export class PlanningStore {
  constructor(planning, token) {
    this.planning = planning;
    this.token = token;
    this.view = null; // {planning, head, you, online, state}
    this.listeners = new Set();
    this.fetching = false;
    this.again = false;
    this.timer = null;
    this.error = null;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  /** Fetches the projection now (coalesced: a request during a fetch causes one more). */
  async refresh() {
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = true;
    try {
      do {
        this.again = false;
        const view = await readPlanning(this.planning, this.token);
        // Never go back in time (a slower, older answer).
        if (!this.view || view.head >= this.view.head) this.view = view;
        this.error = null;
        this.emit();
      } while (this.again);
    } catch (e) {
      this.error = e;
      this.emit();
    } finally {
      this.fetching = false;
    }
  }

  /** An event frame arrived: refetch once the batch is over. */
  eventArrived() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 30);
  }

  applySnapshot(frame) {
    if (this.view) {
      this.view = { ...this.view, head: frame.at, state: frame.state };
      this.emit();
    } else {
      this.refresh();
    }
  }

  setOnline(online) {
    if (!this.view) return;
    this.view = { ...this.view, online };
    this.emit();
  }
}
