/**
 * Reading and writing certificates and keys on disk: private keys are created with mode 0600 and
 * nothing is overwritten unless asked, and errors name the file and what it was for.
 *
 * @module
 */
import { dirname } from "node:path";

/** A file that should hold security material does not exist. */
export class MissingFileError extends Error {
  override name = "MissingFileError";
  /** The path that does not exist. */
  readonly path: string;

  constructor(what: string, path: string, options?: ErrorOptions) {
    super(`Cannot read ${what} ${path} as it does not exist`, options);
    this.path = path;
  }
}

/** A file that exists where Chorale would write and was not told to replace it. */
export class FileExistsError extends Error {
  override name = "FileExistsError";
  /** The path that exists. */
  readonly path: string;

  constructor(what: string, path: string, options?: ErrorOptions) {
    super(`Cannot write ${what} ${path} as it already exists`, options);
    this.path = path;
  }
}

/** A file that exists but cannot be read or written (permissions, a directory in the way, ...). */
export class FileAccessError extends Error {
  override name = "FileAccessError";
  /** The path that cannot be used. */
  readonly path: string;

  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

/** Options for {@linkcode writePemFile}. */
export interface WritePemOptions {
  /** What the file holds, for messages: "private key", "certificate", ... */
  what: string;
  /** Create the file with mode 0600 (for private keys) instead of 0644. @default false */
  secret?: boolean;
  /** Replace an existing file. @default false */
  force?: boolean;
}

/**
 * Reads a text file, turning "not found" into a {@linkcode MissingFileError} that says what the
 * file was for, and other failures into a {@linkcode FileAccessError}.
 *
 * @example Say what is missing
 * ```ts
 * import { readPemFile } from "./pem_files.ts";
 * try {
 *   await readPemFile("certificate", "/nonexistent/c.pem");
 * } catch (error) {
 *   console.log((error as Error).message); // Cannot read certificate /nonexistent/c.pem as it does not exist
 * }
 * ```
 */
export async function readPemFile(what: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) throw new MissingFileError(what, path, { cause });
    throw new FileAccessError(
      `Cannot read ${what} ${path}: ${(cause as Error).message}`,
      path,
      { cause },
    );
  }
}

/** Whether `path` exists (as anything). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The permission bits of `path`, or null where the platform has none. */
export async function fileMode(path: string): Promise<number | null> {
  const info = await Deno.stat(path);
  return info.mode === null ? null : info.mode & 0o777;
}

/** Makes a directory and its parents; a new leaf directory gets `mode`. */
export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  if (await pathExists(path)) return;
  await Deno.mkdir(path, { recursive: true, mode });
  await Deno.chmod(path, mode);
}

/**
 * Writes PEM text to `path`, refusing to replace an existing file unless `force` is set. Secret
 * files are created with mode 0600 and never exist with wider permissions: a replaced file is
 * removed first rather than written through.
 *
 * @example Write a private key
 * ```ts
 * import { writePemFile } from "./pem_files.ts";
 * const dir = await Deno.makeTempDir();
 * await writePemFile(`${dir}/k.pem`, "-----BEGIN PRIVATE KEY-----\n", { what: "private key", secret: true });
 * console.log(((await Deno.stat(`${dir}/k.pem`)).mode! & 0o777).toString(8)); // 600
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writePemFile(
  path: string,
  text: string,
  options: WritePemOptions,
): Promise<void> {
  const { what } = options;
  const mode = options.secret ? 0o600 : 0o644;
  if (options.force) {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new FileAccessError(
          `Cannot replace ${what} ${path}: ${(error as Error).message}`,
          path,
          { cause: error },
        );
      }
    }
  }
  try {
    await Deno.writeTextFile(path, text, { createNew: true, mode });
    // The umask can only narrow the mode; set it exactly so a key is never wider than 0600.
    await Deno.chmod(path, mode);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new FileExistsError(what, path, { cause: error });
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new FileAccessError(
        `Cannot write ${what} ${path} as its directory ${dirname(path)} does not exist`,
        path,
        { cause: error },
      );
    }
    throw new FileAccessError(`Cannot write ${what} ${path}: ${(error as Error).message}`, path, {
      cause: error,
    });
  }
}
