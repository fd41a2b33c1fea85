/** In-memory stand-in for chrome.storage.local (values are JSON-cloned like the real one). */
export class MemoryStorage {
  constructor(initial = {}) { this.data = JSON.parse(JSON.stringify(initial)); this.writes = 0; }
  async get(keys) {
    const list = keys === null || keys === undefined ? Object.keys(this.data) : Array.isArray(keys) ? keys : [keys];
    const out = {};
    for (const k of list) if (k in this.data) out[k] = JSON.parse(JSON.stringify(this.data[k]));
    return out;
  }
  async set(obj) { this.writes++; for (const [k, v] of Object.entries(obj)) this.data[k] = JSON.parse(JSON.stringify(v)); }
  async remove(keys) { for (const k of [].concat(keys)) delete this.data[k]; }
}
