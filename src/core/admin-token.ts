/** How strong a chosen admin token must be: it opens every user's containers. */

/** Fewest characters an admin token may have (16 random bytes in hex). */
export const ADMIN_TOKEN_MIN_LENGTH = 32;
/** Fewest different characters in it: rules out `aaaa…` and `abababab…`. */
export const ADMIN_TOKEN_MIN_DISTINCT = 8;

/** Why a chosen admin token is too weak to use, or undefined when it is fine. */
export function adminTokenWeakness(token: string): string | undefined {
  const rule = `it must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters, with at least ${ADMIN_TOKEN_MIN_DISTINCT} different ones, visible ASCII and no spaces (e.g. \`openssl rand -hex 32\`)`;
  // a bearer token is one run of visible characters: anything else could never authenticate
  if (!/^[\x21-\x7e]*$/.test(token)) return `it holds spaces, control or non-ASCII characters; ${rule}`;
  if (token.length < ADMIN_TOKEN_MIN_LENGTH) return `it is ${token.length} characters long; ${rule}`;
  const distinct = new Set(token).size;
  if (distinct < ADMIN_TOKEN_MIN_DISTINCT) return `it uses only ${distinct} different character${distinct === 1 ? '' : 's'}; ${rule}`;
  return undefined;
}
