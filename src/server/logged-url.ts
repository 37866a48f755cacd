/**
 * The request URL as the log shows it: the path, and the query with the values of parameters
 * the route does not declare replaced. A token sent by mistake as `?access_token=...` (the API
 * takes it only in the Authorization header, and refuses the unknown parameter) stays out of the log.
 */

/** `url` with the value of each query parameter not named in `declared` replaced by `[redacted]`. */
export function loggedUrl(url: string, declared: Record<string, unknown> | undefined): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const known = (key: string): boolean => declared !== undefined && Object.hasOwn(declared, key);
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const raw = eq < 0 ? pair : pair.slice(0, eq);
      let key = raw;
      try {
        key = decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        // a key that does not decode is not one the route declares
      }
      return eq < 0 || known(key) ? pair : `${raw}=[redacted]`;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

/** The query parameters a route's schema declares (its `querystring.properties`), if any. */
export function declaredQuery(schema: unknown): Record<string, unknown> | undefined {
  const properties = (schema as { querystring?: { properties?: unknown } } | undefined)?.querystring?.properties;
  return properties !== null && typeof properties === 'object' ? (properties as Record<string, unknown>) : undefined;
}
