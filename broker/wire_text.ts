/**
 * Protocol text as NATS sees it: subjects, queue names and sids are bytes, not UTF-8 text. The
 * broker keeps them as "wire strings", one character per byte (latin1), so subjects that differ
 * only in invalid UTF-8 stay apart and go back out byte for byte. Names from configuration are
 * UTF-8 and are converted to wire strings once, at load.
 *
 * @module
 */

/** The wire string of `bytes[start, end)`: one character per byte. */
export function wireString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  // Short runs (subjects, sids) are the common case: fromCharCode over a view is the fastest path.
  if (end - start <= 1024) {
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  let out = "";
  for (let i = start; i < end; i += 1024) {
    out += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(end, i + 1024)) as unknown as number[],
    );
  }
  return out;
}

/** The bytes of a wire string. */
export function wireBytes(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire string of UTF-8 text, such as a subject from a configuration file. */
export function wireFromText(text: string): string {
  return wireString(encoder.encode(text));
}

/** Readable text of a wire string, for logs and monitoring (invalid UTF-8 shows as U+FFFD). */
export function textFromWire(wire: string): string {
  return decoder.decode(wireBytes(wire));
}
