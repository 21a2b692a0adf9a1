/**
 * The bytes waiting to go out on one connection (a client or a route) until the next flush: one
 * growable buffer, handed to the socket whole and replaced, so many small messages cost one write.
 *
 * @module
 */

const MIN_BUFFER = 256;
const MAX_BUFFER_HINT = 65_536;

/**
 * A write buffer that starts small and is sized by the last flush.
 *
 * @example Gather two writes into one
 * ```ts
 * import { OutBuffer } from "./out_buffer.ts";
 * const out = new OutBuffer();
 * out.append(new TextEncoder().encode("PING\r\n"));
 * out.append(new TextEncoder().encode("PONG\r\n"));
 * console.log(out.take()?.length); // 12
 * ```
 */
export class OutBuffer {
  #out: Uint8Array | null = null;
  #length = 0;
  #hint = MIN_BUFFER;

  /** Bytes buffered now. */
  get length(): number {
    return this.#length;
  }

  /**
   * Makes room for `extra` more bytes and returns the buffer; write from {@linkcode length} on,
   * then call {@linkcode commit} with the new length.
   */
  reserve(extra: number): Uint8Array {
    const needed = this.#length + extra;
    if (!this.#out) {
      this.#out = new Uint8Array(Math.max(this.#hint, needed));
    } else if (this.#out.length < needed) {
      const grown = new Uint8Array(Math.max(this.#out.length * 2, needed));
      grown.set(this.#out.subarray(0, this.#length));
      this.#out = grown;
    }
    return this.#out;
  }

  /** Records that the buffer now holds `length` bytes. */
  commit(length: number): void {
    this.#length = length;
  }

  /** Copies `bytes` in. */
  append(bytes: Uint8Array): void {
    this.reserve(bytes.length).set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /**
   * Returns what is buffered and starts a new buffer: the socket may hold on to the bytes until
   * written. The next buffer is sized by this one, so a busy connection does not grow from scratch.
   */
  take(): Uint8Array | null {
    const out = this.#out;
    if (!out || this.#length === 0) return null;
    const data = out.subarray(0, this.#length);
    this.#hint = Math.min(MAX_BUFFER_HINT, Math.max(MIN_BUFFER, this.#length));
    this.#out = null;
    this.#length = 0;
    return data;
  }

  /**
   * Appends one message frame: its control line in five parts (`MSG `, subject, ` <sid>`,
   * ` <reply>`, ` <sizes>\r\n`, or the route's equivalents; any may be empty), the payload and
   * CRLF, in one copy each.
   */
  appendMessage(
    head: Uint8Array,
    subject: Uint8Array,
    middle: Uint8Array,
    reply: Uint8Array,
    sizes: Uint8Array,
    data: Uint8Array,
  ): void {
    const length = head.length + subject.length + middle.length + reply.length + sizes.length +
      data.length + 2;
    const buffer = this.reserve(length);
    let at = this.#length;
    at = put(buffer, at, head);
    at = put(buffer, at, subject);
    at = put(buffer, at, middle);
    at = put(buffer, at, reply);
    at = put(buffer, at, sizes);
    buffer.set(data, at);
    at += data.length;
    buffer[at++] = 0x0d;
    buffer[at++] = 0x0a;
    this.#length = at;
  }

  /** Drops what is buffered. */
  clear(): void {
    this.#out = null;
    this.#length = 0;
  }
}

/**
 * Copies `bytes` into `buffer` at `at`; returns the end. The pieces of a control line are a few
 * bytes each, where a loop beats `TypedArray.set`'s fixed cost.
 */
function put(buffer: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n > 32) {
    buffer.set(bytes, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) buffer[at + i] = bytes[i]!;
  return at + n;
}
