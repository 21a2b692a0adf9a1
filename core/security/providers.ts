/**
 * Security providers: where an identity's certificate, private key and CA come from, checked
 * before anything uses them.
 *
 * - {@linkcode fileProvider}: three explicit paths.
 * - {@linkcode puppetProvider}: Puppet's ssl directory (`certs/<certname>.pem`,
 *   `private_keys/<certname>.pem`, `certs/ca.pem`), as `chorale enroll` also writes it. As Choria
 *   does, the directory is `/etc/puppetlabs/puppet/ssl` for root and `~/.puppetlabs/etc/puppet/ssl`
 *   for other users, and the certname of a user is `<user>.mcollective`.
 *
 * Loading checks that the files exist, the certificate parses, the key is the certificate's, the
 * certificate was issued by the CA (any certificate in a CA bundle) and is within its validity
 * dates; a private key other users may read is loaded with a warning.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { defaultClientName } from "./identity.ts";
import { fileMode, readPemFile } from "./pem_files.ts";

/** Where an identity's material lives. */
export interface MaterialPaths {
  /** The identity's certificate (PEM). */
  certificate: string;
  /** Its private key (PEM, PKCS#8 or PKCS#1). */
  key: string;
  /** The CA certificate or bundle it must chain to (PEM). */
  ca: string;
}

/** An identity's checked material. */
export interface SecurityMaterial {
  /** The certificate's common name. */
  certname: string;
  /** The certificate, PEM. */
  certPem: string;
  /** The private key, PEM. */
  keyPem: string;
  /** The CA certificate or bundle, PEM. */
  caPem: string;
  /** The end of the certificate's validity. */
  notAfter: Date;
  /** Where each came from. */
  paths: MaterialPaths;
  /** Problems that do not stop its use, such as a private key other users may read. */
  warnings: string[];
}

/** Options for {@linkcode SecurityProvider.load}. */
export interface LoadOptions {
  /** The time validity is checked at. @default now */
  now?: Date;
}

/** Resolves and checks an identity's material. */
export interface SecurityProvider {
  /** The provider's name. */
  readonly name: "file" | "puppet";
  /** Where the material is read from. */
  readonly paths: MaterialPaths;
  /** Reads and checks the material; throws a {@linkcode SecurityProviderError} or a file error. */
  load(options?: LoadOptions): Promise<SecurityMaterial>;
}

/** Options for {@linkcode fileProvider}. */
export interface FileProviderOptions extends MaterialPaths {
  /** The certname the certificate must have. @default whatever its common name is */
  certname?: string;
}

/** Options for {@linkcode puppetProvider}. */
export interface PuppetProviderOptions {
  /** Puppet's ssl directory. @default defaultPuppetSslDir() */
  sslDir?: string;
  /** The certname. @default `<user>.mcollective` */
  certname?: string;
  /** The user whose client certname is the default. @default the USER environment variable */
  user?: string;
  /** The home directory for a user's default ssl directory. @default the HOME environment variable */
  home?: string;
  /** Whether to use root's ssl directory by default. @default Deno.uid() === 0 */
  root?: boolean;
}

/** Input to {@linkcode verifyMaterial}: PEM text and the paths it came from, for messages. */
export interface MaterialInput {
  certPem: string;
  keyPem: string;
  caPem: string;
  paths: MaterialPaths;
}

/** Options for {@linkcode verifyMaterial}. */
export interface MaterialCheckOptions extends LoadOptions {
  /** The certname the certificate must have. */
  certname?: string;
}

/** Security material that cannot be used, or a provider that cannot be set up. */
export class SecurityProviderError extends Error {
  override name = "SecurityProviderError";
}

/** A certificate, key or CA that does not parse. */
export class InvalidMaterialError extends SecurityProviderError {
  override name = "InvalidMaterialError";
}

/** A private key that is not the certificate's. */
export class KeyMismatchError extends SecurityProviderError {
  override name = "KeyMismatchError";
}

/** A certificate not issued by the CA. */
export class UntrustedCertificateError extends SecurityProviderError {
  override name = "UntrustedCertificateError";
}

/** A certificate for another name than the one asked for. */
export class CertnameMismatchError extends SecurityProviderError {
  override name = "CertnameMismatchError";
}

/** A certificate (or CA) whose validity has ended. */
export class MaterialExpiredError extends SecurityProviderError {
  override name = "MaterialExpiredError";
  /** When it expired. */
  readonly notAfter: Date;

  constructor(message: string, notAfter: Date, options?: ErrorOptions) {
    super(message, options);
    this.notAfter = notAfter;
  }
}

/** A certificate (or CA) whose validity has not begun. */
export class MaterialNotYetValidError extends SecurityProviderError {
  override name = "MaterialNotYetValidError";
  /** When it becomes valid. */
  readonly notBefore: Date;

  constructor(message: string, notBefore: Date, options?: ErrorOptions) {
    super(message, options);
    this.notBefore = notBefore;
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function parseCertificate(pem: string, what: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new InvalidMaterialError(
      `Cannot use ${what} ${path} as it is not a PEM X.509 certificate`,
      { cause },
    );
  }
}

function checkDates(cert: X509Certificate, what: string, path: string, now: Date): Date {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now.getTime() > notAfter.getTime()) {
    throw new MaterialExpiredError(
      `Cannot use ${what} ${path} as it expired on ${notAfter.toISOString()}`,
      notAfter,
    );
  }
  if (now.getTime() < notBefore.getTime()) {
    throw new MaterialNotYetValidError(
      `Cannot use ${what} ${path} as it is not valid until ${notBefore.toISOString()}`,
      notBefore,
    );
  }
  return notAfter;
}

function commonNameOf(cert: X509Certificate): string {
  for (const line of cert.subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return "";
}

/**
 * Checks security material without touching the disk: the certificate and key parse, the key is
 * the certificate's, the certificate was issued by a certificate in the CA bundle, and both are
 * within their validity dates.
 *
 * @example Check what a CA issued
 * ```ts
 * import { CertificateAuthority } from "./ca.ts";
 * import { verifyMaterial } from "./providers.ts";
 * const ca = await CertificateAuthority.create();
 * const { cert, key } = await ca.issue("client", "alice.mcollective");
 * const paths = { certificate: "alice.pem", key: "alice.key", ca: "ca.pem" };
 * const checked = verifyMaterial({ certPem: cert, keyPem: key, caPem: ca.certPem, paths });
 * console.log(checked.certname); // alice.mcollective
 * ```
 */
export function verifyMaterial(
  input: MaterialInput,
  options: MaterialCheckOptions = {},
): { certname: string; notAfter: Date } {
  const { paths } = input;
  const now = options.now ?? new Date();
  const cert = parseCertificate(input.certPem, "certificate", paths.certificate);
  const cas = (input.caPem.match(PEM_CERT) ?? []).map((pem) =>
    parseCertificate(pem, "CA certificate", paths.ca)
  );
  if (cas.length === 0) {
    throw new InvalidMaterialError(
      `Cannot use CA certificate ${paths.ca} as it holds no PEM X.509 certificate`,
    );
  }
  let keySpki: Uint8Array;
  try {
    keySpki = new Uint8Array(
      createPublicKey(createPrivateKey(input.keyPem)).export({ type: "spki", format: "der" }),
    );
  } catch (cause) {
    throw new InvalidMaterialError(
      `Cannot use private key ${paths.key} as it is not a PEM private key`,
      { cause },
    );
  }
  const certSpki = new Uint8Array(cert.publicKey.export({ type: "spki", format: "der" }));
  if (!equalBytes(keySpki, certSpki)) {
    throw new KeyMismatchError(
      `Cannot use private key ${paths.key} as it does not belong to certificate ${paths.certificate}`,
    );
  }
  const certname = commonNameOf(cert);
  if (options.certname !== undefined && certname !== options.certname) {
    throw new CertnameMismatchError(
      `Cannot use certificate ${paths.certificate} for '${options.certname}' as it is for '${certname}'`,
    );
  }
  const issuer = cas.find((ca) => ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) {
    throw new UntrustedCertificateError(
      `Cannot use certificate ${paths.certificate} as it was not issued by the CA in ${paths.ca} ` +
        `(it names '${cert.issuer.replaceAll("\n", ", ")}' as its issuer)`,
    );
  }
  checkDates(issuer, "CA certificate", paths.ca, now);
  const notAfter = checkDates(cert, "certificate", paths.certificate, now);
  return { certname, notAfter };
}

async function loadMaterial(
  paths: MaterialPaths,
  options: MaterialCheckOptions,
): Promise<SecurityMaterial> {
  const [certPem, keyPem, caPem] = [
    await readPemFile("certificate", paths.certificate),
    await readPemFile("private key", paths.key),
    await readPemFile("CA certificate", paths.ca),
  ];
  const { certname, notAfter } = verifyMaterial({ certPem, keyPem, caPem, paths }, options);
  const warnings: string[] = [];
  const mode = await fileMode(paths.key);
  if (mode !== null && (mode & 0o007) !== 0) {
    warnings.push(
      `Private key ${paths.key} is open to other users (mode ${
        mode.toString(8).padStart(4, "0")
      }): run chmod 600 ${paths.key}`,
    );
  }
  return { certname, certPem, keyPem, caPem, notAfter, paths, warnings };
}

/**
 * A provider reading three explicit files.
 *
 * @example Load a certificate, key and CA
 * ```ts ignore
 * import { fileProvider } from "./providers.ts";
 * const provider = fileProvider({ certificate: "n1.pem", key: "n1.key", ca: "ca.pem" });
 * const { certname, warnings } = await provider.load();
 * ```
 */
export function fileProvider(options: FileProviderOptions): SecurityProvider {
  const paths = { certificate: options.certificate, key: options.key, ca: options.ca };
  return {
    name: "file",
    paths,
    load: (load = {}) =>
      loadMaterial(paths, {
        ...load,
        ...(options.certname === undefined ? {} : { certname: options.certname }),
      }),
  };
}

/** Options for {@linkcode defaultPuppetSslDir}. */
export interface PuppetDirOptions {
  /** Whether the user is root. @default Deno.uid() === 0 */
  root?: boolean;
  /** The home directory. @default the HOME environment variable */
  home?: string;
}

/**
 * Puppet's ssl directory: `/etc/puppetlabs/puppet/ssl` for root, `~/.puppetlabs/etc/puppet/ssl`
 * for other users.
 *
 * @example A user's directory
 * ```ts
 * import { defaultPuppetSslDir } from "./providers.ts";
 * console.log(defaultPuppetSslDir({ root: false, home: "/home/alice" }));
 * // /home/alice/.puppetlabs/etc/puppet/ssl
 * ```
 */
export function defaultPuppetSslDir(options: PuppetDirOptions = {}): string {
  const root = options.root ?? Deno.uid() === 0;
  if (root) return "/etc/puppetlabs/puppet/ssl";
  const home = options.home ?? Deno.env.get("HOME");
  if (!home) {
    throw new SecurityProviderError(
      "Cannot find the Puppet ssl directory as HOME is not set: give the ssl directory",
    );
  }
  return join(home, ".puppetlabs", "etc", "puppet", "ssl");
}

/** The files of one certname in a Puppet ssl directory. */
export interface PuppetLayout extends MaterialPaths {
  /** The certificate request: `certificate_requests/<certname>.pem`. */
  csr: string;
}

/** Where Puppet keeps the material of `certname` under `sslDir`. */
export function puppetLayout(sslDir: string, certname: string): PuppetLayout {
  return {
    certificate: join(sslDir, "certs", `${certname}.pem`),
    key: join(sslDir, "private_keys", `${certname}.pem`),
    ca: join(sslDir, "certs", "ca.pem"),
    csr: join(sslDir, "certificate_requests", `${certname}.pem`),
  };
}

/**
 * A provider reading Puppet's ssl directory. The certificate must be for the certname.
 *
 * @example A user's client identity
 * ```ts
 * import { puppetProvider } from "./providers.ts";
 * const provider = puppetProvider({ user: "alice", home: "/home/alice", root: false });
 * console.log(provider.paths.certificate);
 * // /home/alice/.puppetlabs/etc/puppet/ssl/certs/alice.mcollective.pem
 * ```
 */
export function puppetProvider(options: PuppetProviderOptions = {}): SecurityProvider {
  const sslDir = options.sslDir ?? defaultPuppetSslDir({
    ...(options.root === undefined ? {} : { root: options.root }),
    ...(options.home === undefined ? {} : { home: options.home }),
  });
  let certname = options.certname;
  if (certname === undefined) {
    const user = options.user ?? Deno.env.get("USER");
    if (!user) {
      throw new SecurityProviderError(
        "Cannot choose a certname as USER is not set: give the certname",
      );
    }
    certname = defaultClientName(user);
  }
  const { certificate, key, ca } = puppetLayout(sslDir, certname);
  const paths = { certificate, key, ca };
  const wanted = certname;
  return {
    name: "puppet",
    paths,
    load: (load = {}) => loadMaterial(paths, { ...load, certname: wanted }),
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
