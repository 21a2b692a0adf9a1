/**
 * A certificate authority kept in a directory:
 *
 * ```
 * <dir>/ca.pem              the CA certificate
 * <dir>/ca.key              its private key, mode 0600
 * <dir>/issued/<name>.pem   every certificate it issued or signed, by name
 * <dir>/replaced-<time>/    what `init` with `force` moved aside
 * ```
 *
 * The directory is made with mode 0700. The issued certificates are the index: `list` reads them
 * back, so nothing can drift out of step.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  CertificateAuthority,
  type CertificateSummary,
  type CreateCaOptions,
  describeCertificate,
} from "./ca.ts";
import { ensureDir, MissingFileError, pathExists, readPemFile, writePemFile } from "./pem_files.ts";

/** The files of a CA directory. */
export interface CaPaths {
  /** The directory itself. */
  dir: string;
  /** The CA certificate: `<dir>/ca.pem`. */
  cert: string;
  /** The CA private key: `<dir>/ca.key`. */
  key: string;
  /** The issued certificates: `<dir>/issued`. */
  issued: string;
}

/** Options for {@linkcode initCaStore}. */
export interface InitCaOptions extends CreateCaOptions {
  /** Replace an existing CA, moving its files into `<dir>/replaced-<time>/`. @default false */
  force?: boolean;
}

/** Options for {@linkcode CaStore.record}. */
export interface RecordOptions {
  /** Replace a certificate already recorded under the name. @default false */
  force?: boolean;
}

/** One issued certificate as `list` shows it. */
export interface IssuedEntry extends CertificateSummary {
  /** Where its copy is kept. */
  path: string;
}

/** What `list` found: the certificates, and files in `issued/` it could not read. */
export interface IssuedListing {
  entries: IssuedEntry[];
  /** One message per unreadable file. */
  problems: string[];
}

/** There is already a CA where one would be made. */
export class CaExistsError extends Error {
  override name = "CaExistsError";
  /** The CA directory. */
  readonly dir: string;

  constructor(dir: string, options?: ErrorOptions) {
    super(`Cannot make a CA in ${dir} as one already exists there`, options);
    this.dir = dir;
  }
}

/** There is no CA in a directory that should hold one. */
export class CaNotFoundError extends Error {
  override name = "CaNotFoundError";
  /** The CA directory. */
  readonly dir: string;

  constructor(dir: string, options?: ErrorOptions) {
    super(`Cannot open the CA in ${dir} as ${join(dir, "ca.pem")} does not exist`, options);
    this.dir = dir;
  }
}

/** The file layout of the CA in `dir`. */
export function caPaths(dir: string): CaPaths {
  return {
    dir,
    cert: join(dir, "ca.pem"),
    key: join(dir, "ca.key"),
    issued: join(dir, "issued"),
  };
}

/**
 * Makes a new CA in `dir` (created with mode 0700 if missing). Refuses when `dir` already holds a
 * CA unless `force` is set, in which case the old CA's files are moved aside, not deleted.
 *
 * @example Make a CA and issue from it
 * ```ts
 * import { initCaStore } from "./ca_store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await initCaStore(`${dir}/ca`, { name: "Example CA" });
 * const { cert } = await store.ca.issue("client", "alice.mcollective");
 * await store.record("alice.mcollective", cert);
 * console.log((await store.list()).entries.map((e) => e.name)); // [ "alice.mcollective" ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function initCaStore(dir: string, options: InitCaOptions = {}): Promise<CaStore> {
  const paths = caPaths(dir);
  const existing = await pathExists(paths.cert) || await pathExists(paths.key);
  if (existing && !options.force) throw new CaExistsError(dir);
  const ca = await CertificateAuthority.create(options);
  await ensureDir(dir, 0o700);
  let replaced: string | null = null;
  if (existing) {
    replaced = join(dir, `replaced-${new Date().toISOString().replaceAll(":", "")}`);
    await Deno.mkdir(replaced, { mode: 0o700 });
    for (const path of [paths.cert, paths.key, paths.issued]) {
      if (await pathExists(path)) await Deno.rename(path, join(replaced, basename(path)));
    }
  }
  await writePemFile(paths.key, await ca.keyPem(), { what: "CA private key", secret: true });
  await writePemFile(paths.cert, ca.certPem, { what: "CA certificate" });
  await ensureDir(paths.issued, 0o700);
  return new CaStore(paths, ca, replaced);
}

/**
 * Opens the CA in `dir`, checking that its key belongs to its certificate.
 *
 * @example Open a CA that does not exist
 * ```ts
 * import { openCaStore } from "./ca_store.ts";
 * try {
 *   await openCaStore("/nonexistent/ca");
 * } catch (error) {
 *   console.log((error as Error).name); // CaNotFoundError
 * }
 * ```
 */
export async function openCaStore(dir: string): Promise<CaStore> {
  const paths = caPaths(dir);
  let certPem: string;
  try {
    certPem = await readPemFile("CA certificate", paths.cert);
  } catch (error) {
    if (error instanceof MissingFileError) throw new CaNotFoundError(dir, { cause: error });
    throw error;
  }
  const keyPem = await readPemFile("CA private key", paths.key);
  return new CaStore(paths, await CertificateAuthority.load(certPem, keyPem), null);
}

/** A CA on disk: the CA itself and the record of what it issued. */
export class CaStore {
  /** The CA's files. */
  readonly paths: CaPaths;
  /** The CA, loaded. */
  readonly ca: CertificateAuthority;
  /** Where `init` with `force` moved the previous CA, if it did. */
  readonly replaced: string | null;

  /** Use {@linkcode initCaStore} or {@linkcode openCaStore}. */
  constructor(paths: CaPaths, ca: CertificateAuthority, replaced: string | null) {
    this.paths = paths;
    this.ca = ca;
    this.replaced = replaced;
  }

  /** Where the copy of the certificate issued to `name` is kept. */
  issuedPath(name: string): string {
    return join(this.paths.issued, `${name}.pem`);
  }

  /** Whether a certificate was recorded under `name`. */
  has(name: string): Promise<boolean> {
    return pathExists(this.issuedPath(name));
  }

  /**
   * Keeps a copy of a certificate issued to `name`. Refuses to replace an earlier one unless
   * `force` is set.
   */
  async record(name: string, certPem: string, options: RecordOptions = {}): Promise<string> {
    await ensureDir(this.paths.issued, 0o700);
    const path = this.issuedPath(name);
    await writePemFile(path, certPem, {
      what: "issued certificate",
      force: options.force ?? false,
    });
    return path;
  }

  /** The recorded certificates, by name. */
  async list(): Promise<IssuedListing> {
    const entries: IssuedEntry[] = [];
    const problems: string[] = [];
    let names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.paths.issued)) {
        if (entry.isFile && entry.name.endsWith(".pem")) names.push(entry.name);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    names = names.sort();
    for (const name of names) {
      const path = join(this.paths.issued, name);
      try {
        entries.push({ ...describeCertificate(await Deno.readTextFile(path)), path });
      } catch (error) {
        problems.push(`Cannot read issued certificate ${path}: ${(error as Error).message}`);
      }
    }
    return { entries, problems };
  }
}
