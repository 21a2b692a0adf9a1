/**
 * Enrollment of a node or user without Puppet, into Puppet's ssl directory layout so that
 * {@linkcode puppetProvider} reads the result:
 *
 * 1. {@linkcode createEnrollment} makes `private_keys/<name>.pem` (mode 0600) and
 *    `certificate_requests/<name>.pem`; the request goes to the CA (`chorale ca sign`).
 * 2. {@linkcode installCertificate} checks the signed certificate against the key on disk and
 *    the CA, then writes `certs/<name>.pem` and `certs/ca.pem` and removes the request.
 *
 * @module
 */
import { dirname } from "node:path";
import {
  type CertificateKind,
  type CertificateRequestOptions,
  type CertnameOptions,
  checkCertname,
  createCertificateRequest,
  describeCertificate,
} from "./ca.ts";
import { ensureDir, FileExistsError, pathExists, readPemFile, writePemFile } from "./pem_files.ts";
import { type PuppetLayout, puppetLayout, puppetProvider, verifyMaterial } from "./providers.ts";

/** Options for {@linkcode createEnrollment}. */
export interface EnrollOptions extends CertificateRequestOptions, CertnameOptions {
  /** What the certificate will be for; the name must fit it unless `force` is set. */
  kind: CertificateKind;
  /** Replace an existing key and request for the name. @default false */
  force?: boolean;
}

/** A key and request made for enrollment. */
export interface Enrollment {
  certname: string;
  kind: CertificateKind;
  /** Where everything for the name lives. */
  layout: PuppetLayout;
  /** The request, PEM. */
  csr: string;
}

/** What the CA sent back: the signed certificate and the CA certificate, both PEM. */
export interface SignedMaterial {
  certPem: string;
  caPem: string;
}

/** Options for {@linkcode installCertificate}. */
export interface InstallOptions {
  /** Where the certificate and CA came from, for messages. @default "the certificate", "the CA" */
  sources?: { certificate?: string; ca?: string };
  /** Replace a different CA already in `certs/ca.pem`. @default false */
  force?: boolean;
  /** The time validity is checked at. @default now */
  now?: Date;
}

/** An installed certificate. */
export interface Installation {
  certname: string;
  layout: PuppetLayout;
  notAfter: Date;
  /** Problems that did not stop the installation. */
  warnings: string[];
}

/** A certificate that cannot be installed. */
export class EnrollmentError extends Error {
  override name = "EnrollmentError";
}

/**
 * Makes a private key and a certificate request for `certname` in the Puppet layout under
 * `sslDir`, refusing to replace an existing key unless `force` is set.
 *
 * @example Enroll a node
 * ```ts
 * import { createEnrollment } from "./enroll.ts";
 * const sslDir = await Deno.makeTempDir();
 * const enrollment = await createEnrollment(sslDir, "n1.example.net", { kind: "server" });
 * console.log(enrollment.layout.csr.endsWith("certificate_requests/n1.example.net.pem")); // true
 * await Deno.remove(sslDir, { recursive: true });
 * ```
 */
export async function createEnrollment(
  sslDir: string,
  certname: string,
  options: EnrollOptions,
): Promise<Enrollment> {
  checkCertname(options.kind, certname, options);
  const layout = puppetLayout(sslDir, certname);
  const force = options.force ?? false;
  if (!force) {
    for (const [what, path] of [["private key", layout.key], ["request", layout.csr]] as const) {
      if (await pathExists(path)) throw new FileExistsError(what, path);
    }
  }
  const { csr, key } = await createCertificateRequest(certname, options);
  await ensureDir(sslDir, 0o755);
  await ensureDir(dirname(layout.key), 0o700);
  await ensureDir(dirname(layout.csr), 0o755);
  await writePemFile(layout.key, key, { what: "private key", secret: true, force });
  await writePemFile(layout.csr, csr, { what: "certificate request", force });
  return { certname, kind: options.kind, layout, csr };
}

/**
 * Installs a signed certificate for a key made by {@linkcode createEnrollment}: the certificate's
 * public key must equal the key on disk, it must be issued by `caPem` and be valid now. Then it
 * writes `certs/<name>.pem` and `certs/ca.pem`, removes the request, and loads the result through
 * the Puppet provider as a last check.
 *
 * @example Enroll, sign and install
 * ```ts
 * import { CertificateAuthority } from "./ca.ts";
 * import { createEnrollment, installCertificate } from "./enroll.ts";
 * const sslDir = await Deno.makeTempDir();
 * const ca = await CertificateAuthority.create();
 * const { csr } = await createEnrollment(sslDir, "n1.example.net", { kind: "server" });
 * const { cert } = await ca.signRequest(csr);
 * const installed = await installCertificate(sslDir, { certPem: cert, caPem: ca.certPem });
 * console.log(installed.certname); // n1.example.net
 * await Deno.remove(sslDir, { recursive: true });
 * ```
 */
export async function installCertificate(
  sslDir: string,
  signed: SignedMaterial,
  options: InstallOptions = {},
): Promise<Installation> {
  const { certPem, caPem } = signed;
  let certname: string;
  try {
    certname = describeCertificate(certPem).name;
  } catch (cause) {
    throw new EnrollmentError(
      `Cannot install ${options.sources?.certificate ?? "the certificate"} as it is not a PEM ` +
        "X.509 certificate",
      { cause },
    );
  }
  const layout = puppetLayout(sslDir, certname);
  const keyPem = await readPemFile("private key", layout.key);
  verifyMaterial({
    certPem,
    keyPem,
    caPem,
    paths: {
      certificate: options.sources?.certificate ?? "the certificate",
      key: layout.key,
      ca: options.sources?.ca ?? "the CA",
    },
  }, options.now ? { now: options.now } : {});
  if (!options.force && await pathExists(layout.ca)) {
    const current = await Deno.readTextFile(layout.ca);
    if (current.trim() !== caPem.trim()) {
      throw new EnrollmentError(
        `Cannot install the CA into ${layout.ca} as it holds a different CA`,
      );
    }
  }
  await ensureDir(dirname(layout.certificate), 0o755);
  await writePemFile(layout.certificate, certPem, { what: "certificate", force: true });
  await writePemFile(layout.ca, caPem, { what: "CA certificate", force: true });
  try {
    await Deno.remove(layout.csr);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const material = await puppetProvider({ sslDir, certname }).load(
    options.now ? { now: options.now } : {},
  );
  return { certname, layout, notAfter: material.notAfter, warnings: material.warnings };
}
