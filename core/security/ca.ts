/**
 * A certificate authority for fleets without Puppet: makes a CA, loads one back from PEM, issues
 * server and client certificates (Ed25519 by default), signs certificate requests after checking
 * their signature and name, and makes keys with certificate requests for nodes that enroll.
 *
 * Everything here works on PEM text and does no file I/O; `ca_store.ts` keeps a CA on disk.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { isIP } from "node:net";
import { compilePatterns, DEFAULT_CLIENT_PATTERNS, identityKind } from "./identity.ts";

/** Web Crypto key generation parameters of one key algorithm. */
export type KeyAlgorithmParams =
  | { readonly name: "Ed25519" }
  | {
    readonly name: "RSASSA-PKCS1-v1_5";
    readonly hash: "SHA-256";
    readonly publicExponent: Uint8Array;
    readonly modulusLength: number;
  }
  | { readonly name: "ECDSA"; readonly namedCurve: "P-256"; readonly hash: "SHA-256" };

/** Key algorithms Chorale can issue certificates for. */
export const KeyAlgorithms: {
  readonly ed25519: KeyAlgorithmParams;
  readonly rsa: KeyAlgorithmParams;
  readonly ecdsa: KeyAlgorithmParams;
} = {
  ed25519: { name: "Ed25519" },
  rsa: {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  },
  ecdsa: { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" },
} as const;

/** The name of a key algorithm in {@linkcode KeyAlgorithms}. */
export type KeyAlgorithm = keyof typeof KeyAlgorithms;

/** The key algorithm names, for command-line choices. */
export const KEY_ALGORITHM_NAMES: readonly KeyAlgorithm[] = ["ed25519", "rsa", "ecdsa"];

/** Days a new CA is valid for unless told otherwise. */
export const DEFAULT_CA_DAYS = 3650;

/** Days an issued certificate is valid for unless told otherwise. */
export const DEFAULT_CERTIFICATE_DAYS = 365;

/** A certificate and its private key, both PEM. */
export interface IssuedCertificate {
  /** The certificate, PEM encoded. */
  cert: string;
  /** The PKCS#8 private key, PEM encoded. */
  key: string;
}

/** Options for {@linkcode CertificateAuthority.create}. */
export interface CreateCaOptions {
  /** The CA's common name. @default "Chorale CA" */
  name?: string;
  /** The CA's key algorithm. @default "ed25519" */
  algorithm?: KeyAlgorithm;
  /** Validity in days. @default 3650 */
  days?: number;
}

/** What a certificate is for: a server (node or broker) or a client (a person or tool). */
export type CertificateKind = "server" | "client";

/** Validity and subject alternative names of a certificate to issue. */
export interface ValidityOptions {
  /** DNS names in the subject alternative names; the common name is always one. @default [] */
  dnsNames?: string[];
  /** IP addresses in the subject alternative names. @default [] */
  ipAddresses?: string[];
  /** Start of validity. @default one minute ago */
  notBefore?: Date;
  /** End of validity; it may not pass the CA's own. @default 365 days after notBefore */
  notAfter?: Date;
}

/** Options for {@linkcode CertificateAuthority.issue}. */
export interface IssueOptions extends ValidityOptions {
  /** Key algorithm of the new certificate. @default "ed25519" */
  algorithm?: KeyAlgorithm;
}

/** Options for the name rules of {@linkcode checkCertname}. */
export interface CertnameOptions {
  /** Patterns that make a name a client's. @default DEFAULT_CLIENT_PATTERNS */
  clientPatterns?: readonly string[];
  /** Skip the rule that the name's kind must match its patterns (the syntax still counts). @default false */
  force?: boolean;
}

/** Options for {@linkcode CertificateAuthority.signRequest}. */
export interface SignRequestOptions extends CertnameOptions {
  /** What to sign the certificate as. @default the kind its name has under the client patterns */
  kind?: CertificateKind;
  /** Start of validity. @default one minute ago */
  notBefore?: Date;
  /** End of validity. @default 365 days after notBefore */
  notAfter?: Date;
}

/** A certificate signed from a request. */
export interface SignedRequest {
  /** The certificate name (the request's common name). */
  name: string;
  /** What the certificate was signed as. */
  kind: CertificateKind;
  /** The certificate, PEM encoded. */
  cert: string;
  /** DNS names the request asked for besides its name. */
  dnsNames: string[];
  /** IP addresses the request asked for. */
  ipAddresses: string[];
}

/** Options for {@linkcode createCertificateRequest}. */
export interface CertificateRequestOptions {
  /** Key algorithm of the new key. @default "ed25519" */
  algorithm?: KeyAlgorithm;
  /** DNS names to ask for besides the name. @default [] */
  dnsNames?: string[];
  /** IP addresses to ask for. @default [] */
  ipAddresses?: string[];
}

/** A new private key and a certificate request signed with it, both PEM. */
export interface CertificateRequest {
  /** The PKCS#10 certificate request, PEM encoded. */
  csr: string;
  /** The PKCS#8 private key, PEM encoded. */
  key: string;
}

/** What a certificate says about itself, for listings and checks. */
export interface CertificateSummary {
  /** The common name. */
  name: string;
  /** `server` when it may authenticate TLS servers, `client` otherwise. */
  kind: CertificateKind;
  /** Key algorithm and size: `ed25519`, `ecdsa-p256`, `rsa-2048`, ... */
  algorithm: string;
  /** Serial number, hexadecimal. */
  serial: string;
  /** The issuer's distinguished name. */
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** DNS subject alternative names. */
  dnsNames: string[];
  /** IP subject alternative names. */
  ipAddresses: string[];
  /** Whether it is a CA certificate. */
  isCa: boolean;
}

/** A CA that cannot be loaded, or a certificate it cannot issue. */
export class CertificateAuthorityError extends Error {
  override name = "CertificateAuthorityError";
}

/** A certificate request that cannot be read or must not be signed. */
export class CertificateRequestError extends Error {
  override name = "CertificateRequestError";
}

/** A certificate name that breaks the naming rules. */
export class CertnameError extends Error {
  override name = "CertnameError";
  /** Whether `force` would let the name through (its syntax is fine, its kind is not). */
  readonly overridable: boolean;

  constructor(message: string, overridable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.overridable = overridable;
  }
}

const DAY_MS = 86_400_000;
const OID_CN = "2.5.4.3";
const OID_SAN = "2.5.29.17";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

// Web Crypto parameters as @peculiar/x509 takes them (RSA needs its public exponent and size).
type Algorithm = Parameters<typeof crypto.subtle.generateKey>[0] & { name: string };

function algorithmOf(name: KeyAlgorithm): Algorithm {
  return KeyAlgorithms[name] as unknown as Algorithm;
}

async function generateKeys(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(algorithmOf(algorithm), true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // keep the serial positive
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function commonName(name: string): x509.JsonName {
  // A JSON name, not "CN=..." text, so a comma or equals sign in a CA name cannot add attributes.
  return [{ [OID_CN]: [name] }];
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The key algorithm of a public key, or null when Chorale does not issue for it. */
function keyAlgorithmOf(algorithm: Algorithm): KeyAlgorithm | null {
  const a = algorithm as Algorithm & { namedCurve?: string; modulusLength?: number };
  if (a.name === "Ed25519") return "ed25519";
  if (a.name === "ECDSA" && a.namedCurve === "P-256") return "ecdsa";
  if (a.name === "RSASSA-PKCS1-v1_5" && (a.modulusLength ?? 0) >= 2048) return "rsa";
  return null;
}

function describeAlgorithm(algorithm: Algorithm): string {
  const a = algorithm as Algorithm & { namedCurve?: string; modulusLength?: number };
  if (a.name === "Ed25519") return "ed25519";
  if (a.name === "ECDSA") {
    return `ecdsa-${(a.namedCurve ?? "unknown").toLowerCase().replace("-", "")}`;
  }
  if (a.name.startsWith("RSA")) return `rsa-${a.modulusLength ?? "unknown"}`;
  return a.name.toLowerCase();
}

function altNamesOf(extensions: readonly x509.Extension[]): x509.JsonGeneralNames {
  const san = extensions.find((e) => e.type === OID_SAN);
  return san instanceof x509.SubjectAlternativeNameExtension ? san.names.toJSON() : [];
}

const CERTNAME = /^[a-z0-9](?:[a-z0-9._-]{0,251}[a-z0-9])?$/;
const DNS_NAME =
  /^(?:\*\.)?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/i;

/**
 * Checks a certificate name against Chorale's rules, throwing a {@linkcode CertnameError}: its
 * syntax (lowercase letters, digits, `.`, `-` and `_`, no `..`, not `ca`, which names the CA's own
 * file in the Puppet layout), and unless `force` is set, that its kind agrees with the client
 * patterns: a client's name must match one (or servers refuse its requests) and a server's must not
 * (or the broker treats it as a client).
 *
 * @example Client names end in .mcollective or .choria
 * ```ts
 * import { checkCertname } from "./ca.ts";
 * checkCertname("client", "alice.mcollective");
 * try {
 *   checkCertname("client", "alice");
 * } catch (error) {
 *   console.log((error as Error).name); // CertnameError
 * }
 * ```
 */
export function checkCertname(
  kind: CertificateKind,
  name: string,
  options: CertnameOptions = {},
): void {
  if (!CERTNAME.test(name) || name.includes("..")) {
    throw new CertnameError(
      `Cannot use '${name}' as a certificate name: use lowercase letters, digits, '.', '-' and '_', ` +
        "starting and ending with a letter or digit",
      false,
    );
  }
  if (name === "ca") {
    throw new CertnameError(
      "Cannot use 'ca' as a certificate name as it is the CA's own: choose another name",
      false,
    );
  }
  if (options.force) return;
  const clientPatterns = options.clientPatterns ?? DEFAULT_CLIENT_PATTERNS;
  const actual = identityKind(name, compilePatterns(clientPatterns));
  if (kind === "client" && actual !== "client") {
    throw new CertnameError(
      `Cannot use '${name}' as a client certificate name as it matches none of the client patterns ` +
        `${clientPatterns.map((p) => `'${p}'`).join(", ")}: servers would refuse its requests`,
      true,
    );
  }
  if (kind === "server" && actual !== "server") {
    throw new CertnameError(
      `Cannot use '${name}' as a server certificate name as it matches a client pattern ` +
        `(${
          clientPatterns.map((p) => `'${p}'`).join(", ")
        }): the broker would treat it as a client`,
      true,
    );
  }
}

/** The kind a name has under the client patterns. */
export function certnameKind(
  name: string,
  clientPatterns: readonly string[] = DEFAULT_CLIENT_PATTERNS,
): CertificateKind {
  return identityKind(name, compilePatterns(clientPatterns));
}

/**
 * Makes a private key and a certificate request for `name`, as a node does when it enrolls.
 *
 * @example Make a key and a request
 * ```ts
 * import { createCertificateRequest } from "./ca.ts";
 * const { csr, key } = await createCertificateRequest("n1.example.net");
 * console.log(csr.startsWith("-----BEGIN CERTIFICATE REQUEST-----"), key.includes("PRIVATE KEY"));
 * ```
 */
export async function createCertificateRequest(
  name: string,
  options: CertificateRequestOptions = {},
): Promise<CertificateRequest> {
  const algorithm = options.algorithm ?? "ed25519";
  const keys = await generateKeys(algorithm);
  const altNames = altNamesFor(name, options.dnsNames ?? [], options.ipAddresses ?? []);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: commonName(name),
    keys,
    signingAlgorithm: algorithmOf(algorithm),
    extensions: [new x509.SubjectAlternativeNameExtension(altNames, false)],
  });
  return { csr: csr.toString("pem"), key: await exportKeyPem(keys.privateKey) };
}

/**
 * Checks subject alternative names before they go into a certificate or request, throwing a
 * {@linkcode CertificateAuthorityError} for a DNS name that is not a host name (a leading `*.` is
 * allowed) or an IP address that is neither IPv4 nor IPv6.
 *
 * @example A bad address
 * ```ts
 * import { checkAltNames } from "./ca.ts";
 * checkAltNames(["nats.example.net"], ["192.0.2.10", "::1"]);
 * try {
 *   checkAltNames([], ["300.1.1.1"]);
 * } catch (error) {
 *   console.log((error as Error).message); // Cannot use '300.1.1.1' as an IP address: not IPv4 or IPv6
 * }
 * ```
 */
export function checkAltNames(dnsNames: readonly string[], ipAddresses: readonly string[]): void {
  for (const dns of dnsNames) {
    if (!DNS_NAME.test(dns)) {
      throw new CertificateAuthorityError(`Cannot use '${dns}' as a DNS name: not a host name`);
    }
  }
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) {
      throw new CertificateAuthorityError(`Cannot use '${ip}' as an IP address: not IPv4 or IPv6`);
    }
  }
}

function altNamesFor(
  name: string,
  dnsNames: readonly string[],
  ipAddresses: readonly string[],
): x509.JsonGeneralName[] {
  checkAltNames(dnsNames, ipAddresses);
  const dns = [...new Set([name, ...dnsNames])];
  return [
    ...dns.map((value) => ({ type: "dns" as const, value })),
    ...[...new Set(ipAddresses)].map((value) => ({ type: "ip" as const, value })),
  ];
}

/**
 * Summarizes a PEM certificate: name, kind, algorithm, validity and alternative names.
 *
 * @example Summarize an issued certificate
 * ```ts
 * import { CertificateAuthority, describeCertificate } from "./ca.ts";
 * const ca = await CertificateAuthority.create();
 * const { cert } = await ca.issue("server", "n1.example.net");
 * console.log(describeCertificate(cert).kind); // server
 * ```
 */
export function describeCertificate(pem: string): CertificateSummary {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pem);
  } catch (cause) {
    throw new CertificateAuthorityError(
      "Cannot read the certificate: not a PEM X.509 certificate",
      {
        cause,
      },
    );
  }
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const names = altNamesOf(cert.extensions);
  return {
    name: cert.subjectName.getField(OID_CN)[0] ?? "",
    kind: eku?.usages.map(String).includes(OID_SERVER_AUTH) ? "server" : "client",
    algorithm: describeAlgorithm(cert.publicKey.algorithm as Algorithm),
    serial: cert.serialNumber,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    isCa: basic?.ca ?? false,
  };
}

/**
 * A certificate authority held in memory.
 *
 * @example Issue a client certificate
 * ```ts
 * import { CertificateAuthority } from "./ca.ts";
 * const ca = await CertificateAuthority.create({ name: "Example CA" });
 * const client = await ca.issue("client", "alice.mcollective");
 * console.log(client.cert.startsWith("-----BEGIN CERTIFICATE-----"));
 * ```
 */
export class CertificateAuthority {
  readonly #cert: x509.X509Certificate;
  readonly #keys: CryptoKeyPair;
  readonly #algorithm: KeyAlgorithm;

  private constructor(cert: x509.X509Certificate, keys: CryptoKeyPair, algorithm: KeyAlgorithm) {
    this.#cert = cert;
    this.#keys = keys;
    this.#algorithm = algorithm;
  }

  /** Makes a new self-signed CA. */
  static async create(options: CreateCaOptions = {}): Promise<CertificateAuthority> {
    const algorithm = options.algorithm ?? "ed25519";
    const days = options.days ?? DEFAULT_CA_DAYS;
    if (!(days > 0)) {
      throw new CertificateAuthorityError(
        `Cannot make a CA valid for ${days} days: days must be positive`,
      );
    }
    const keys = await generateKeys(algorithm);
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: commonName(options.name ?? "Chorale CA"),
      notBefore,
      notAfter: new Date(notBefore.getTime() + days * DAY_MS),
      keys,
      signingAlgorithm: algorithmOf(algorithm),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(cert, keys, algorithm);
  }

  /**
   * Loads a CA from its certificate and private key (PKCS#8 or PKCS#1 PEM), checking that the
   * certificate is a CA's and that the key is its key.
   *
   * @example Save and load a CA
   * ```ts
   * import { CertificateAuthority } from "./ca.ts";
   * const made = await CertificateAuthority.create({ name: "Saved CA" });
   * const loaded = await CertificateAuthority.load(made.certPem, await made.keyPem());
   * console.log(loaded.name); // Saved CA
   * ```
   */
  static async load(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (cause) {
      throw new CertificateAuthorityError(
        "Cannot load the CA as its certificate is not a PEM X.509 certificate",
        { cause },
      );
    }
    if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw new CertificateAuthorityError(
        `Cannot load the CA as '${cert.subject}' is not a CA certificate`,
      );
    }
    const publicAlgorithm = cert.publicKey.algorithm as Algorithm;
    const algorithm = keyAlgorithmOf(publicAlgorithm);
    if (algorithm === null) {
      throw new CertificateAuthorityError(
        `Cannot load the CA as its key algorithm ${
          describeAlgorithm(publicAlgorithm)
        } is not one of ${KEY_ALGORITHM_NAMES.join(", ")}`,
      );
    }
    let pkcs8: Uint8Array<ArrayBuffer>;
    try {
      const key = createPrivateKey(keyPem);
      const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
      if (!equalBytes(spki, new Uint8Array(cert.publicKey.rawData))) {
        throw new CertificateAuthorityError(
          `Cannot load the CA as its private key does not belong to its certificate '${cert.subject}'`,
        );
      }
      pkcs8 = new Uint8Array(key.export({ type: "pkcs8", format: "der" }));
    } catch (cause) {
      if (cause instanceof CertificateAuthorityError) throw cause;
      throw new CertificateAuthorityError(
        "Cannot load the CA as its private key is not a PEM private key",
        { cause },
      );
    }
    const params = publicAlgorithm.name === "RSASSA-PKCS1-v1_5"
      ? { name: publicAlgorithm.name, hash: "SHA-256" }
      : publicAlgorithm.name === "ECDSA"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : { name: publicAlgorithm.name };
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, params, true, ["sign"]);
    const publicKey = await cert.publicKey.export();
    return new CertificateAuthority(cert, { privateKey, publicKey }, algorithm);
  }

  /** The CA certificate, PEM encoded. */
  get certPem(): string {
    return this.#cert.toString("pem");
  }

  /** The CA's common name. */
  get name(): string {
    return this.#cert.subjectName.getField(OID_CN)[0] ?? this.#cert.subject;
  }

  /** The CA's key algorithm. */
  get algorithm(): KeyAlgorithm {
    return this.#algorithm;
  }

  /** The end of the CA's validity. */
  get notAfter(): Date {
    return this.#cert.notAfter;
  }

  /** The CA's private key, PKCS#8 PEM encoded. */
  keyPem(): Promise<string> {
    return exportKeyPem(this.#keys.privateKey);
  }

  /**
   * Issues a certificate for `name` (its common name and first DNS name) with a new key. Server
   * certificates may authenticate both ends of TLS, since nodes and brokers also connect out as
   * TLS clients; client certificates only the client end.
   */
  async issue(
    kind: CertificateKind,
    name: string,
    options: IssueOptions = {},
  ): Promise<IssuedCertificate> {
    const keys = await generateKeys(options.algorithm ?? "ed25519");
    const cert = await this.#sign(kind, name, keys.publicKey, options);
    return { cert, key: await exportKeyPem(keys.privateKey) };
  }

  /**
   * Signs a PEM certificate request after checking its self-signature (so it was made with the key
   * it carries and not altered), its key algorithm and its name (see {@linkcode checkCertname}).
   * DNS and IP alternative names it asks for are kept for servers; a client's request may ask for
   * none besides its name.
   *
   * @example Sign a node's request
   * ```ts
   * import { CertificateAuthority, createCertificateRequest } from "./ca.ts";
   * const ca = await CertificateAuthority.create();
   * const { csr } = await createCertificateRequest("n1.example.net");
   * const signed = await ca.signRequest(csr, { kind: "server" });
   * console.log(signed.name, signed.kind); // n1.example.net server
   * ```
   */
  async signRequest(csrPem: string, options: SignRequestOptions = {}): Promise<SignedRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (cause) {
      throw new CertificateRequestError(
        "Cannot read the certificate request: not a PEM PKCS#10 request",
        { cause },
      );
    }
    const names = csr.subjectName.getField(OID_CN);
    const name = names[0];
    if (name === undefined || names.length !== 1) {
      throw new CertificateRequestError(
        `Cannot sign the request for '${csr.subject}' as it must have exactly one common name`,
      );
    }
    let verified = false;
    try {
      verified = await csr.verify();
    } catch (cause) {
      throw new CertificateRequestError(
        `Cannot sign the request for '${name}' as its signature cannot be checked: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    if (!verified) {
      throw new CertificateRequestError(
        `Cannot sign the request for '${name}' as its signature does not verify: ` +
          "it was altered or not made with the key it carries",
      );
    }
    const keyAlgorithm = csr.publicKey.algorithm as Algorithm;
    if (keyAlgorithmOf(keyAlgorithm) === null) {
      throw new CertificateRequestError(
        `Cannot sign the request for '${name}' as its key is ${
          describeAlgorithm(keyAlgorithm)
        }: use ed25519, ecdsa-p256 or rsa of 2048 bits or more`,
      );
    }
    const kind = options.kind ?? certnameKind(name, options.clientPatterns);
    checkCertname(kind, name, options);
    const requested = altNamesOf(csr.extensions);
    const other = requested.filter((n) => n.type !== "dns" && n.type !== "ip");
    if (other.length > 0) {
      throw new CertificateRequestError(
        `Cannot sign the request for '${name}' as it asks for ${
          other[0]!.type
        } alternative names: ` +
          "only DNS names and IP addresses are allowed",
      );
    }
    const dnsNames = requested.filter((n) => n.type === "dns" && n.value !== name).map((n) =>
      n.value
    );
    const ipAddresses = requested.filter((n) => n.type === "ip").map((n) => n.value);
    if (kind === "client" && dnsNames.length + ipAddresses.length > 0) {
      throw new CertificateRequestError(
        `Cannot sign the client request for '${name}' as it asks for other names ` +
          `(${[...dnsNames, ...ipAddresses].join(", ")}): a client certificate names only its user`,
      );
    }
    const validity: ValidityOptions = { dnsNames, ipAddresses };
    if (options.notBefore) validity.notBefore = options.notBefore;
    if (options.notAfter) validity.notAfter = options.notAfter;
    const cert = await this.#sign(kind, name, csr.publicKey, validity);
    return { name, kind, cert, dnsNames, ipAddresses };
  }

  async #sign(
    kind: CertificateKind,
    name: string,
    publicKey: CryptoKey | x509.PublicKey,
    options: ValidityOptions,
  ): Promise<string> {
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = options.notAfter ??
      new Date(notBefore.getTime() + DEFAULT_CERTIFICATE_DAYS * DAY_MS);
    if (notAfter.getTime() <= notBefore.getTime()) {
      throw new CertificateAuthorityError(
        `Cannot issue a certificate for '${name}' that ends (${notAfter.toISOString()}) ` +
          `before it starts (${notBefore.toISOString()})`,
      );
    }
    if (notAfter.getTime() > this.#cert.notAfter.getTime()) {
      throw new CertificateAuthorityError(
        `Cannot issue a certificate for '${name}' valid until ${
          day(notAfter)
        } as the CA '${this.name}' ` +
          `expires on ${day(this.#cert.notAfter)}: ask for fewer days`,
      );
    }
    const usages = kind === "server"
      ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.clientAuth];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: commonName(name),
      issuer: this.#cert.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.#keys.privateKey,
      signingAlgorithm: algorithmOf(this.#algorithm),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        new x509.SubjectAlternativeNameExtension(
          altNamesFor(name, options.dnsNames ?? [], options.ipAddresses ?? []),
          false,
        ),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert, false),
      ],
    });
    return cert.toString("pem");
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
