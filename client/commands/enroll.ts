/**
 * `chorale enroll`: get a certificate onto a node (or a user's machine) without Puppet, into the
 * Puppet ssl directory layout that the Puppet security provider reads.
 *
 * - `chorale enroll NAME`: make `private_keys/NAME.pem` (mode 0600) and
 *   `certificate_requests/NAME.pem`, and say how to have it signed.
 * - `chorale enroll --install CERT --ca CA`: check the signed certificate against the key on
 *   disk and the CA, then install `certs/NAME.pem` and `certs/ca.pem`.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { basename, relative, resolve } from "node:path";
import { certnameKind, KEY_ALGORITHM_NAMES, type KeyAlgorithm } from "../../core/security/ca.ts";
import {
  createEnrollment,
  EnrollmentError,
  installCertificate,
} from "../../core/security/enroll.ts";
import { FileExistsError, MissingFileError, readPemFile } from "../../core/security/pem_files.ts";
import {
  type CliContext,
  collect,
  formatDate,
  say,
  sslDir,
  UsageError,
  warn,
  withHint,
} from "../cli.ts";
import { checkNames } from "./ca.ts";

const SSL_DIR_HELP = "ssl directory in Puppet's layout (default: $CHORALE_SSL_DIR, else " +
  "~/.puppetlabs/etc/puppet/ssl, or /etc/puppetlabs/puppet/ssl for root)";

interface EnrollFlags {
  sslDir?: string;
  kind?: "server" | "client";
  algorithm?: KeyAlgorithm;
  dns?: string[];
  ip?: string[];
  install?: string;
  ca?: string;
  force?: boolean;
}

async function request(ctx: CliContext, name: string, opts: EnrollFlags): Promise<void> {
  const force = opts.force ?? false;
  const dns = opts.dns ?? [];
  const ip = opts.ip ?? [];
  const kind = opts.kind ?? certnameKind(name);
  if (kind === "client" && dns.length + ip.length > 0) {
    throw new UsageError(
      "Cannot ask for --dns or --ip names in a client certificate: a client names only its user",
    );
  }
  checkNames(kind, name, { dns, ip, force });
  const dir = sslDir(ctx, opts.sslDir);
  let enrollment;
  try {
    enrollment = await createEnrollment(dir, name, {
      kind,
      algorithm: opts.algorithm ?? "ed25519",
      dnsNames: dns,
      ipAddresses: ip,
      force,
    });
  } catch (error) {
    if (error instanceof FileExistsError) {
      throw withHint(error, "pass --force to make a new key (the old one is lost)");
    }
    throw error;
  }
  const { layout } = enrollment;
  const shown = relative(ctx.cwd(), layout.csr).startsWith("..")
    ? layout.csr
    : relative(ctx.cwd(), layout.csr) || layout.csr;
  say(
    ctx,
    `Made a private key and a certificate request for ${kind} '${name}' (${
      opts.algorithm ?? "ed25519"
    })`,
  );
  say(ctx, `  private key  ${layout.key} (mode 0600)`);
  say(ctx, `  request      ${layout.csr}`);
  say(ctx);
  say(ctx, "Next, sign the request on the CA host (copy it there first if that is elsewhere):");
  say(ctx, `  chorale ca sign ${shown} --kind ${kind} --out ${name}.crt`);
  say(ctx, "then bring the certificate and the CA's ca.pem here and install them:");
  say(
    ctx,
    `  chorale enroll --install ${name}.crt --ca ca.pem${
      opts.sslDir === undefined ? "" : ` --ssl-dir ${dir}`
    }`,
  );
}

async function install(ctx: CliContext, opts: EnrollFlags & { install: string }): Promise<void> {
  if (opts.ca === undefined) {
    throw new UsageError("Cannot install a certificate without its CA: pass --ca CA.pem");
  }
  for (const flag of ["kind", "algorithm", "dns", "ip"] as const) {
    if (opts[flag] !== undefined) {
      throw new UsageError(
        `Cannot use --${flag} with --install: it only applies when making a key and request`,
      );
    }
  }
  const certPath = resolve(ctx.cwd(), opts.install);
  const caPath = resolve(ctx.cwd(), opts.ca);
  const dir = sslDir(ctx, opts.sslDir);
  const certPem = await readPemFile("certificate", certPath);
  const caPem = await readPemFile("CA certificate", caPath);
  let installed;
  try {
    installed = await installCertificate(dir, { certPem, caPem }, {
      sources: { certificate: certPath, ca: caPath },
      force: opts.force ?? false,
      now: ctx.now(),
    });
  } catch (error) {
    if (error instanceof MissingFileError) {
      const name = basename(error.path, ".pem");
      throw withHint(
        error,
        `the certificate is for a key made by 'chorale enroll ${name}': run that here first, ` +
          "or pass the --ssl-dir it was made in",
      );
    }
    if (error instanceof EnrollmentError && error.message.includes("different CA")) {
      throw withHint(error, "check which CA signed the certificate, or pass --force to replace it");
    }
    throw error;
  }
  for (const warning of installed.warnings) warn(ctx, warning);
  say(
    ctx,
    `Installed the certificate of '${installed.certname}', valid until ${
      formatDate(installed.notAfter)
    }`,
  );
  say(ctx, `  certificate  ${installed.layout.certificate}`);
  say(ctx, `  CA           ${installed.layout.ca}`);
  say(ctx, `  private key  ${installed.layout.key}`);
  say(ctx, "Checked: the key is the certificate's, the CA issued it and it is valid now.");
}

/** Adds `chorale enroll` to `program`. */
export function registerEnrollCommand(program: Command, ctx: CliContext): void {
  program.command("enroll")
    .description(
      "make a key and certificate request on this machine, or install the signed certificate",
    )
    .argument("[name]", "certificate name to enroll (not with --install)")
    .option("--ssl-dir <dir>", SSL_DIR_HELP)
    .addOption(
      new Option(
        "--kind <kind>",
        "what the certificate is for (default: client when the name " +
          "matches \\.mcollective$ or \\.choria$, else server)",
      ).choices(
        ["server", "client"] as const,
      ),
    )
    .addOption(
      new Option("--algorithm <name>", "key algorithm (default: ed25519)").choices(
        KEY_ALGORITHM_NAMES as readonly KeyAlgorithm[],
      ),
    )
    .option("--dns <name>", "another DNS name to ask for (repeatable)", collect)
    .option("--ip <address>", "an IP address to ask for (repeatable)", collect)
    .option("--install <cert>", "install this signed certificate (PEM)")
    .option("--ca <file>", "with --install: the CA certificate that signed it (PEM)")
    .option("--force", "replace an existing key, or a different CA in certs/ca.pem")
    .addHelpText(
      "after",
      `
Examples:
  chorale enroll n1.example.net --ip 192.0.2.21
  chorale enroll --install n1.example.net.crt --ca ca.pem`,
    )
    .action(async (name, opts) => {
      if (opts.install !== undefined) {
        if (name !== undefined) {
          throw new UsageError(
            `Cannot use a name ('${name}') with --install: the certificate names itself`,
          );
        }
        await install(ctx, { ...opts, install: opts.install });
        return;
      }
      if (opts.ca !== undefined) {
        throw new UsageError("Cannot use --ca without --install");
      }
      if (name === undefined) {
        throw new UsageError("Cannot enroll without a name: give NAME, or --install CERT --ca CA");
      }
      await request(ctx, name, opts);
    });
}
