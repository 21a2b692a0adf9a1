/**
 * Verification on receipt of a signed message: the signer's certificate (the `pubcert`, possibly
 * a chain) must chain to a trusted CA and be within its validity dates, its name must be an
 * allowed client's (or a privileged signer's), its name must be the caller id's unless it is
 * privileged, and the signature must be its over the exact message bytes.
 *
 * Certificates that pass are cached by the SHA-256 of the `pubcert` text in a bounded LRU, so
 * repeated requests skip parsing and the chain check; the cache never skips the validity dates
 * (checked against the whole chain on every use) nor the signature.
 *
 * @module
 */
import { createHash, type KeyObject, X509Certificate } from "node:crypto";
import {
  compilePatterns,
  DEFAULT_CLIENT_PATTERNS,
  DEFAULT_PRIVILEGED_PATTERNS,
  type IdentityPatterns,
} from "./identity.ts";
import {
  certificateName,
  type KeyType,
  keyTypeOf,
  splitPemCertificates,
  verifyBytes,
} from "./signing.ts";

/** Any failure to verify a signed message; the subclasses tell which check failed. */
export class VerificationError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VerificationError";
  }
}

/** The `pubcert` is not a PEM certificate, or cannot be parsed, or uses an unsupported key. */
export class CertificateParseError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateParseError";
  }
}

/** The certificate does not chain to a trusted CA. */
export class CertificateChainError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateChainError";
  }
}

/** The certificate, or one in its chain, has expired. */
export class CertificateExpiredError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateExpiredError";
  }
}

/** The certificate, or one in its chain, is not valid yet. */
export class CertificateNotYetValidError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateNotYetValidError";
  }
}

/** The certificate's name matches none of the allowed client or privileged patterns. */
export class CertificateNameError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateNameError";
  }
}

/** The caller id (or a reply's sender id) is not the certificate's and the signer is not privileged. */
export class CallerMismatchError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CallerMismatchError";
  }
}

/** The signature is not the certificate's over the message bytes. */
export class SignatureError extends VerificationError {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SignatureError";
  }
}

/** Options for {@linkcode CertificateVerifier}. */
export interface VerifierOptions {
  /** PEM of the trusted CA certificates: one or more roots or intermediates (a Puppet CA bundle). */
  ca: string;
  /** Regular expressions for client certificate names. @default DEFAULT_CLIENT_PATTERNS */
  clientPatterns?: readonly string[];
  /** Regular expressions for privileged signers. @default DEFAULT_PRIVILEGED_PATTERNS */
  privilegedPatterns?: readonly string[];
  /** How many verified certificates to keep; 0 disables the cache. @default 1024 */
  cacheSize?: number;
  /** How many intermediates a `pubcert` may carry between the signer and a CA. @default 4 */
  maxIntermediates?: number;
}

/** A certificate that chains to a trusted CA. */
export interface VerifiedCertificate {
  /** The common name of the certificate. */
  readonly certname: string;
  /** Whether the name matches the allowed client patterns. */
  readonly client: boolean;
  /** Whether the name matches the privileged patterns: it may sign for other callers. */
  readonly privileged: boolean;
  /** The type of the certificate's key. */
  readonly keyType: KeyType;
  /** The SHA-256 fingerprint of the certificate, colon-separated hex as node:crypto prints it. */
  readonly fingerprint: string;
  /** The certificate's public key. */
  readonly publicKey: KeyObject;
  /** Start of validity of the whole chain (the latest start), ms since the epoch. */
  readonly notBefore: number;
  /** End of validity of the whole chain (the earliest end), ms since the epoch. */
  readonly notAfter: number;
}

/** A message with its signature and the signer's certificate, as a secure request carries them. */
export interface SignedMessage {
  /** The request id, for messages. */
  id: string;
  /** The caller id the message claims: `choria=<certname>`. */
  callerid: string;
  /** The signer's PEM certificate, possibly followed by intermediates. */
  pubcert: string;
  /** The exact bytes that were signed. */
  message: Uint8Array;
  /** The signature. */
  signature: Uint8Array;
}

/** A reply signed by the server that sent it (a Chorale extension of protocol v1). */
export interface SignedReply {
  /** The request id, for messages. */
  id: string;
  /** The identity of the server that sent the reply: its certificate's name. */
  senderid: string;
  /** The server's PEM certificate, possibly followed by intermediates. */
  pubcert: string;
  /** The exact bytes that were signed. */
  message: Uint8Array;
  /** The signature. */
  signature: Uint8Array;
}

/** Options for one verification. */
export interface VerifyOptions {
  /** The time to check validity dates at, ms since the epoch. @default Date.now() */
  now?: number;
}

interface ChainWindow {
  notBefore: number;
  notBeforeSubject: string;
  notAfter: number;
  notAfterSubject: string;
}

interface CacheEntry extends VerifiedCertificate {
  window: ChainWindow;
}

const CALLER_ID = /^choria=(.+)$/;

/**
 * Verifies signers' certificates and signatures against one set of trusted CAs.
 *
 * @example Verify a signed request
 * ```ts
 * import { CertificateAuthority } from "./ca.ts";
 * import { createSigner } from "./signing.ts";
 * import { CertificateVerifier } from "./verify.ts";
 * const ca = await CertificateAuthority.create();
 * const issued = await ca.issue("client", "alice.mcollective");
 * const signer = createSigner(issued.cert, issued.key);
 * const message = new TextEncoder().encode('{"protocol":"choria:request:1"}');
 * const verifier = new CertificateVerifier({ ca: ca.certPem });
 * const cert = verifier.verifyMessage({
 *   id: "0123456789abcdef0123456789abcdef",
 *   callerid: "choria=alice.mcollective",
 *   pubcert: signer.certificate,
 *   message,
 *   signature: await signer.sign(message),
 * });
 * console.log(cert.certname); // alice.mcollective
 * ```
 */
export class CertificateVerifier {
  readonly #anchors: X509Certificate[];
  readonly #patterns: IdentityPatterns;
  readonly #clientPatterns: readonly string[];
  readonly #cacheSize: number;
  readonly #maxIntermediates: number;
  readonly #cache = new Map<string, CacheEntry>();

  /** Makes a verifier; throws a TypeError when `ca` holds no readable certificate. */
  constructor(options: VerifierOptions) {
    const blocks = splitPemCertificates(options.ca);
    if (blocks.length === 0) {
      throw new TypeError("Cannot create verifier as 'ca' holds no PEM certificate");
    }
    try {
      this.#anchors = blocks.map((block) => new X509Certificate(block));
    } catch (cause) {
      throw new TypeError(
        "Cannot create verifier as 'ca' holds a certificate that cannot be read",
        {
          cause,
        },
      );
    }
    this.#clientPatterns = options.clientPatterns ?? DEFAULT_CLIENT_PATTERNS;
    this.#patterns = compilePatterns(
      this.#clientPatterns,
      options.privilegedPatterns ?? DEFAULT_PRIVILEGED_PATTERNS,
    );
    this.#cacheSize = options.cacheSize ?? 1024;
    this.#maxIntermediates = options.maxIntermediates ?? 4;
  }

  /** How many verified certificates are cached. */
  get cached(): number {
    return this.#cache.size;
  }

  /** Forgets every cached certificate (say after the CA bundle or a CRL changed). */
  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Checks that `pubcert` chains to a trusted CA and that it and its chain are valid at `now`;
   * does not check names. Throws a {@linkcode VerificationError} subclass.
   */
  verifyCertificate(pubcert: string, options: VerifyOptions = {}): VerifiedCertificate {
    const now = options.now ?? Date.now();
    const key = this.#cacheSize > 0 ? createHash("sha256").update(pubcert).digest("base64") : "";
    let entry = this.#cache.get(key);
    if (entry) {
      // Most recently used last: re-insert.
      this.#cache.delete(key);
      this.#cache.set(key, entry);
    } else {
      entry = this.#verifyChain(pubcert);
      if (this.#cacheSize > 0) {
        this.#cache.set(key, entry);
        if (this.#cache.size > this.#cacheSize) {
          this.#cache.delete(this.#cache.keys().next().value as string);
        }
      }
    }
    checkDates(entry.certname, entry.window, now);
    return entry;
  }

  /**
   * Verifies a signed request: the certificate (chain, dates), its name against the client and
   * privileged patterns, the caller id against the name (a privileged signer may sign for any
   * caller), and the signature over the exact message bytes. Returns the signer's certificate.
   */
  verifyMessage(signed: SignedMessage, options: VerifyOptions = {}): VerifiedCertificate {
    const cert = this.verifyCertificate(signed.pubcert, options);
    if (!cert.client && !cert.privileged) {
      throw new CertificateNameError(
        `Cannot verify request '${signed.id}' as certificate '${cert.certname}' matches no allowed client pattern: patterns are ${
          this.#clientPatterns.join(", ")
        }`,
      );
    }
    const caller = CALLER_ID.exec(signed.callerid)?.[1];
    if (caller === undefined) {
      throw new CallerMismatchError(
        `Cannot verify request '${signed.id}' as its caller id is not choria=<certname>: caller is ${signed.callerid}`,
      );
    }
    if (caller !== cert.certname && !cert.privileged) {
      throw new CallerMismatchError(
        `Cannot verify request '${signed.id}' as its caller id is not its certificate's: caller is ${signed.callerid}, signer is ${cert.certname}`,
      );
    }
    if (!verifyBytes(cert.publicKey, signed.message, signed.signature)) {
      throw new SignatureError(
        `Cannot verify request '${signed.id}' as its signature does not match: signer is ${cert.certname}`,
      );
    }
    return cert;
  }

  /**
   * Verifies a reply signed by the server that sent it: the certificate (chain, dates), its name
   * against the reply's sender id (no name patterns: servers are not clients), and the signature.
   */
  verifyReply(signed: SignedReply, options: VerifyOptions = {}): VerifiedCertificate {
    const cert = this.verifyCertificate(signed.pubcert, options);
    if (cert.certname !== signed.senderid) {
      throw new CallerMismatchError(
        `Cannot verify reply to '${signed.id}' as its sender id is not its certificate's: sender is ${signed.senderid}, signer is ${cert.certname}`,
      );
    }
    if (!verifyBytes(cert.publicKey, signed.message, signed.signature)) {
      throw new SignatureError(
        `Cannot verify reply to '${signed.id}' as its signature does not match: signer is ${cert.certname}`,
      );
    }
    return cert;
  }

  #verifyChain(pubcert: string): CacheEntry {
    const blocks = splitPemCertificates(pubcert);
    if (blocks.length === 0) {
      throw new CertificateParseError(
        "Cannot verify certificate as 'pubcert' is not PEM: no certificate",
      );
    }
    let certs: X509Certificate[];
    try {
      certs = blocks.map((block) => new X509Certificate(block));
    } catch (cause) {
      throw new CertificateParseError(
        "Cannot verify certificate as 'pubcert' holds a certificate that cannot be read",
        { cause },
      );
    }
    const leaf = certs[0] as X509Certificate;
    const certname = certificateName(leaf);
    let keyType: KeyType;
    try {
      keyType = keyTypeOf(leaf.publicKey);
    } catch (cause) {
      throw new CertificateParseError(
        `Cannot verify certificate '${certname}' as its key is not supported: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    if (leaf.ca) {
      // A CA certificate signs certificates, not requests; refusing it also stops a trusted
      // CA's own certificate from passing as a signer that "chains" to itself.
      throw new CertificateChainError(
        `Cannot verify certificate '${certname}' as it is a CA certificate: signers must be leaf certificates`,
      );
    }
    const path = [leaf];
    const intermediates = certs.slice(1);
    let current = leaf;
    for (;;) {
      const issuedBy = (issuer: X509Certificate) =>
        current.checkIssued(issuer) && current.verify(issuer.publicKey);
      const anchor = this.#anchors.find(issuedBy);
      if (anchor) {
        path.push(anchor);
        break;
      }
      const next = intermediates.find((c) => c.ca && !path.includes(c) && issuedBy(c));
      if (!next || path.length > this.#maxIntermediates) {
        throw new CertificateChainError(
          `Cannot verify certificate '${certname}' as it does not chain to a trusted CA: ${
            path.length > 1 ? `intermediate '${current.subject}'` : "it"
          } is issued by '${current.issuer.replaceAll("\n", ", ")}'`,
        );
      }
      path.push(next);
      current = next;
    }
    const window: ChainWindow = {
      notBefore: -Infinity,
      notBeforeSubject: "",
      notAfter: Infinity,
      notAfterSubject: "",
    };
    for (const [i, cert] of path.entries()) {
      const from = cert.validFromDate.getTime();
      const to = cert.validToDate.getTime();
      const who = i === 0 ? "" : cert.subject.replaceAll("\n", ", ");
      if (from > window.notBefore) {
        Object.assign(window, { notBefore: from, notBeforeSubject: who });
      }
      if (to < window.notAfter) Object.assign(window, { notAfter: to, notAfterSubject: who });
    }
    return {
      certname,
      client: this.#patterns.clients.some((p) => p.test(certname)),
      privileged: this.#patterns.privileged.some((p) => p.test(certname)),
      keyType,
      fingerprint: leaf.fingerprint256,
      publicKey: leaf.publicKey,
      notBefore: window.notBefore,
      notAfter: window.notAfter,
      window,
    };
  }
}

function checkDates(certname: string, window: ChainWindow, now: number): void {
  const at = new Date(now).toISOString();
  if (now > window.notAfter) {
    const what = window.notAfterSubject === ""
      ? "it expired"
      : `its chain expired ('${window.notAfterSubject}')`;
    throw new CertificateExpiredError(
      `Cannot verify certificate '${certname}' as ${what} at ${
        new Date(window.notAfter).toISOString()
      }: now is ${at}`,
    );
  }
  if (now < window.notBefore) {
    const what = window.notBeforeSubject === ""
      ? "it is not valid"
      : `its chain is not valid ('${window.notBeforeSubject}')`;
    throw new CertificateNotYetValidError(
      `Cannot verify certificate '${certname}' as ${what} until ${
        new Date(window.notBefore).toISOString()
      }: now is ${at}`,
    );
  }
}
