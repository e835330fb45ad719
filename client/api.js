// REST calls (docs/protocol.md). Every failure is thrown as an ApiError with the server's code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || text);
  }
  return data;
}

const enc = encodeURIComponent;

/** Creates a planning; the caller becomes its facilitator. */
export function createPlanning(title, name) {
  return request('POST', '/api/plannings', { body: { title, name } });
}

/** Joins with an invite (the invite decides the role). */
export function join(planning, invite, name) {
  return request('POST', `/api/plannings/${enc(planning)}/join`, { body: { invite, name } });
}

/** The planning as this token sees it: {planning, head, you, online, state}. */
export function readPlanning(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}`, { token });
}

/** A command over REST (used when no socket is wanted). */
export function command(planning, token, clientOpId, cmd) {
  return request('POST', `/api/plannings/${enc(planning)}/commands`, {
    token,
    body: { client_op_id: clientOpId, command: cmd },
  });
}
