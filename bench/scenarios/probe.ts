import type autocannon from 'autocannon';

/**
 * Sends a scenario's request once before the load and checks the answer, so a scenario that would
 * measure only errors (a wrong credential, a missing feature) stops with the server's own words.
 * Answers the parsed JSON body for further checks.
 */
export async function probe(origin: string, request: autocannon.Request, what: string): Promise<unknown> {
  const response = await fetch(new URL(request.path ?? '/', origin), {
    method: request.method ?? 'GET',
    headers: request.headers as Record<string, string> | undefined,
    ...(typeof request.body === 'string' ? { body: request.body } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: the probe request answered HTTP ${response.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what}: the probe request answered something that is not JSON: ${text.slice(0, 300)}`);
  }
}
