/** Reads conmon's k8s-file log format: `<time> <stream> <P|F> <text>` per line. Pure. */

/**
 * Returns the container's output as it was written: partial (P) chunks joined, full (F) lines
 * ended with a newline. When `truncatedStart` is set the first (possibly cut) line is dropped.
 */
export function parseK8sLog(text: string, truncatedStart = false): string {
  const lines = text.split('\n');
  if (truncatedStart) lines.shift();
  let out = '';
  for (const line of lines) {
    const m = /^\S+ (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (!m) continue;
    out += m[2] === 'F' ? `${m[3]}\n` : m[3];
  }
  return out;
}
