// JSON Patch (RFC 6902), the operations the server's kept views are pushed as
// (docs/protocol.md, "Kept views"), and the rule that puts a view's two parts together.
// A failed operation throws: the caller reconnects and gets the whole view again.

/** The parent container and last key of a JSON Pointer (RFC 6901) in `doc`. */
function locate(doc, pointer) {
  if (pointer === '') return { parent: null, key: null };
  const keys = pointer
    .split('/')
    .slice(1)
    .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
  let parent = doc;
  for (const k of keys.slice(0, -1)) {
    parent = Array.isArray(parent) ? parent[Number(k)] : parent?.[k];
    if (parent === null || typeof parent !== 'object') throw new Error(`no path ${pointer}`);
  }
  return { parent, key: keys[keys.length - 1] };
}

function get(doc, pointer) {
  const { parent, key } = locate(doc, pointer);
  if (parent === null) return doc;
  const v = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (v === undefined) throw new Error(`no value at ${pointer}`);
  return v;
}

/** Sets `value` at `pointer` (inserting into arrays); returns the new document. */
function add(doc, pointer, value) {
  const { parent, key } = locate(doc, pointer);
  if (parent === null) return value;
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw new Error(`bad index ${pointer}`);
    parent.splice(i, 0, value);
  } else {
    parent[key] = value;
  }
  return doc;
}

function remove(doc, pointer) {
  const { parent, key } = locate(doc, pointer);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw new Error(`bad index ${pointer}`);
    parent.splice(i, 1);
  } else {
    if (!(key in parent)) throw new Error(`no value at ${pointer}`);
    delete parent[key];
  }
  return doc;
}

const clone = (v) => (v === undefined ? v : structuredClone(v));

/** Applies `ops` to `doc` in place where it can; returns the patched document. */
export function applyPatch(doc, ops) {
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        doc = add(doc, op.path, clone(op.value));
        break;
      case 'remove':
        doc = remove(doc, op.path);
        break;
      case 'replace':
        get(doc, op.path);
        doc = op.path === '' ? clone(op.value) : add(remove(doc, op.path), op.path, clone(op.value));
        break;
      case 'move': {
        const v = get(doc, op.from);
        doc = add(remove(doc, op.from), op.path, v);
        break;
      }
      case 'copy':
        doc = add(doc, op.path, clone(get(doc, op.from)));
        break;
      case 'test':
        if (JSON.stringify(get(doc, op.path)) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
        break;
      default:
        throw new Error(`unknown op ${op.op}`);
    }
  }
  return doc;
}

/**
 * The viewer's full view: the shared part with their own part laid over it (their cards into
 * their votes, their questions into the comments, whole webhook URLs for a facilitator).
 */
export function overlay(view, mine) {
  const out = structuredClone(view);
  const me = mine.participant;
  for (const [round, items] of Object.entries(mine.cards || {})) {
    for (const [item, card] of Object.entries(items)) {
      const vote = out.rounds?.[round]?.votes?.[item]?.[me];
      if (vote) vote.card = card;
    }
  }
  out.comments = { ...(out.comments || {}), ...(mine.comments || {}) };
  if (mine.webhooks) out.webhooks = mine.webhooks;
  return out;
}
