/**
 * The errors of the protocol v1 codecs and of request receipt: one class per failure, all
 * subclasses of {@linkcode ProtocolError}.
 *
 * @module
 */

/** Any failure to build, decode or accept a protocol v1 message. */
export class ProtocolError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** A message larger than the configured limit; refused before it is parsed. */
export class MessageSizeError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MessageSizeError";
  }
}

/** A message that is not UTF-8 JSON text of an object. */
export class MessageJsonError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MessageJsonError";
  }
}

/** A message whose `protocol` is not the one expected (say a reply where a request belongs). */
export class ProtocolMismatchError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolMismatchError";
  }
}

/** A message with a missing field, or a field of the wrong type or out of range. */
export class MessageFieldError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MessageFieldError";
  }
}

/** A field that should be base64 and is not. */
export class Base64Error extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Base64Error";
  }
}

/** A request received after its time plus its TTL. */
export class RequestExpiredError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestExpiredError";
  }
}

/** A request whose time is further in the future than the allowed clock skew. */
export class RequestFromFutureError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestFromFutureError";
  }
}

/** A request (caller id and request id) already accepted within its TTL window. */
export class ReplayedRequestError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplayedRequestError";
  }
}

/** A secure reply whose `hash` is not the SHA-256 of its message. */
export class ReplyHashError extends ProtocolError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplyHashError";
  }
}
