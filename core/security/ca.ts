/**
 * A small certificate authority for fleets without Puppet, for tests and for the demo: makes a CA
 * and issues server and client certificates, Ed25519 by default.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

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

/** Options for {@linkcode CertificateAuthority.issue}. */
export interface IssueOptions {
  /** Key algorithm of the new certificate. @default "ed25519" */
  algorithm?: KeyAlgorithm;
  /** DNS names in the subject alternative names; the common name is always one. @default [] */
  dnsNames?: string[];
  /** IP addresses in the subject alternative names. @default [] */
  ipAddresses?: string[];
  /** Start of validity. @default one minute ago */
  notBefore?: Date;
  /** End of validity. @default 365 days after notBefore */
  notAfter?: Date;
}

const DAY_MS = 86_400_000;

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
    const keys = await generateKeys(algorithm);
    const notBefore = new Date(Date.now() - 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${options.name ?? "Chorale CA"}`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.days ?? 3650) * DAY_MS),
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

  /** The CA certificate, PEM encoded. */
  get certPem(): string {
    return this.#cert.toString("pem");
  }

  /** The CA's private key, PKCS#8 PEM encoded. */
  keyPem(): Promise<string> {
    return exportKeyPem(this.#keys.privateKey);
  }

  /**
   * Issues a certificate for `name` (its common name and first DNS name). Server certificates
   * may authenticate both ends of TLS, since nodes and brokers also connect out as TLS clients.
   */
  async issue(
    kind: CertificateKind,
    name: string,
    options: IssueOptions = {},
  ): Promise<IssuedCertificate> {
    const keys = await generateKeys(options.algorithm ?? "ed25519");
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * DAY_MS);
    const usages = kind === "server"
      ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.clientAuth];
    const altNames: x509.JsonGeneralName[] = [
      { type: "dns", value: name },
      ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${name}`,
      issuer: this.#cert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.#keys.privateKey,
      signingAlgorithm: algorithmOf(this.#algorithm),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        new x509.SubjectAlternativeNameExtension(altNames, false),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert, false),
      ],
    });
    return { cert: cert.toString("pem"), key: await exportKeyPem(keys.privateKey) };
  }
}
