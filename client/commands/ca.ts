/**
 * `chorale ca`: a certificate authority on disk for fleets without Puppet.
 *
 * - `ca init`: make the CA (`ca.pem`, `ca.key` with mode 0600, `issued/`).
 * - `ca issue server|client NAME`: a certificate and key for a broker, node or user.
 * - `ca list`: what the CA issued, with expiry.
 * - `ca sign CSR`: sign a request made by `chorale enroll`.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { basename, join, resolve } from "node:path";
import {
  CertificateAuthorityError,
  type CertificateKind,
  CertificateRequestError,
  CertnameError,
  checkAltNames,
  checkCertname,
  DEFAULT_CA_DAYS,
  DEFAULT_CERTIFICATE_DAYS,
  describeCertificate,
  KEY_ALGORITHM_NAMES,
  type KeyAlgorithm,
} from "../../core/security/ca.ts";
import {
  CaExistsError,
  CaNotFoundError,
  type CaStore,
  initCaStore,
  openCaStore,
} from "../../core/security/ca_store.ts";
import {
  ensureDir,
  FileExistsError,
  pathExists,
  readPemFile,
  writePemFile,
} from "../../core/security/pem_files.ts";
import {
  caDir,
  type CliContext,
  CliError,
  collect,
  formatDate,
  formatTable,
  parseDays,
  say,
  UsageError,
  warn,
  withHint,
} from "../cli.ts";

const DAY_MS = 86_400_000;
// Certificates start a minute early so a node whose clock is a little behind accepts them.
const CLOCK_SKEW_MS = 60_000;

const DIR_HELP = "CA directory (default: $CHORALE_CA_DIR, else $XDG_CONFIG_HOME/chorale/ca, " +
  "else ~/.config/chorale/ca)";

function algorithmOption() {
  return new Option("--algorithm <name>", "key algorithm")
    .choices(KEY_ALGORITHM_NAMES as readonly KeyAlgorithm[])
    .default("ed25519" as KeyAlgorithm);
}

function daysOption(fallback: number) {
  return new Option("--days <n>", "validity in days").argParser(parseDays).default(fallback);
}

/**
 * Whole days until `notAfter`, rounded up while it is valid (a certificate issued for 365 days
 * shows 365); for an expired one, minus the whole days since it expired (0 on the day itself).
 */
export function daysLeft(notAfter: Date, now: number): { daysLeft: number; expired: boolean } {
  const ms = notAfter.getTime() - now;
  if (ms >= 0) return { daysLeft: Math.ceil(ms / DAY_MS), expired: false };
  return { daysLeft: -Math.floor(-ms / DAY_MS), expired: true };
}

async function openStore(dir: string): Promise<CaStore> {
  try {
    return await openCaStore(dir);
  } catch (error) {
    if (error instanceof CaNotFoundError) {
      throw withHint(error, "run 'chorale ca init' first, or pass --dir");
    }
    throw error;
  }
}

/** Checks a name and alternative names given on the command line: a bad one is a usage error. */
export function checkNames(
  kind: CertificateKind,
  name: string,
  options: { dns?: readonly string[]; ip?: readonly string[]; force: boolean },
): void {
  try {
    checkCertname(kind, name, { force: options.force });
    checkAltNames(options.dns ?? [], options.ip ?? []);
  } catch (error) {
    if (error instanceof CertificateAuthorityError) {
      throw new UsageError(error.message, { cause: error });
    }
    if (error instanceof CertnameError) {
      throw error.overridable
        ? withHint(error, "pass --force to use it anyway", 2)
        : new UsageError(error.message, { cause: error });
    }
    throw error;
  }
}

function namesOf(dnsNames: readonly string[], ipAddresses: readonly string[]): string {
  return [...dnsNames.map((d) => `DNS ${d}`), ...ipAddresses.map((i) => `IP ${i}`)].join(", ");
}

async function refuseExisting(
  store: CaStore,
  name: string,
  force: boolean,
): Promise<void> {
  if (!force && await store.has(name)) {
    throw new CliError(
      `Cannot issue a certificate for '${name}' as the CA already issued one ` +
        `(${store.issuedPath(name)})`,
      1,
      { hint: "pass --force to issue another" },
    );
  }
}

async function issue(
  ctx: CliContext,
  kind: CertificateKind,
  name: string,
  opts: {
    dir?: string;
    dns?: string[];
    ip?: string[];
    algorithm: KeyAlgorithm;
    days: number;
    out?: string;
    force?: boolean;
  },
): Promise<void> {
  const force = opts.force ?? false;
  checkNames(kind, name, { ...opts, force });
  const store = await openStore(caDir(ctx, opts.dir));
  const out = resolve(ctx.cwd(), opts.out ?? ".");
  const certPath = join(out, `${name}.pem`);
  const keyPath = join(out, `${name}.key`);
  const caPath = join(out, "ca.pem");
  // Every refusal comes before the first write, so a refused command changes nothing.
  await refuseExisting(store, name, force);
  if (!force) {
    for (const [what, path] of [["certificate", certPath], ["private key", keyPath]] as const) {
      if (await pathExists(path)) {
        throw withHint(new FileExistsError(what, path), "pass --force to replace it");
      }
    }
  }
  let copyCa = true;
  if (await pathExists(caPath)) {
    const current = await Deno.readTextFile(caPath);
    copyCa = current.trim() !== store.ca.certPem.trim();
    if (copyCa && !force) {
      throw new CliError(
        `Cannot copy the CA certificate to ${caPath} as a different CA certificate is there`,
        1,
        { hint: "pass --out to choose another directory, or --force to replace it" },
      );
    }
  }
  const now = ctx.now().getTime();
  const issued = await store.ca.issue(kind, name, {
    algorithm: opts.algorithm,
    dnsNames: opts.dns ?? [],
    ipAddresses: opts.ip ?? [],
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + opts.days * DAY_MS),
  });
  await ensureDir(out);
  await writePemFile(keyPath, issued.key, { what: "private key", secret: true, force });
  await writePemFile(certPath, issued.cert, { what: "certificate", force });
  if (copyCa) await writePemFile(caPath, store.ca.certPem, { what: "CA certificate", force });
  await store.record(name, issued.cert, { force });
  const summary = describeCertificate(issued.cert);
  say(
    ctx,
    `Issued ${kind} certificate '${name}' (${summary.algorithm}) from CA '${store.ca.name}', ` +
      `valid until ${formatDate(summary.notAfter)}`,
  );
  say(ctx, `  certificate  ${certPath}`);
  say(ctx, `  private key  ${keyPath} (mode 0600)`);
  say(ctx, `  CA           ${caPath}${copyCa ? "" : " (already there)"}`);
  say(ctx, `  names        ${namesOf(summary.dnsNames, summary.ipAddresses)}`);
}

function addIssueCommand(parent: Command, ctx: CliContext, kind: CertificateKind): void {
  const command = parent.command(kind)
    .description(
      kind === "server"
        ? "issue a server certificate (broker or node; serverAuth and clientAuth, since nodes " +
          "also connect out) and its key"
        : "issue a client certificate (a person or tool; clientAuth) and its key; the name " +
          "must match \\.mcollective$ or \\.choria$",
    )
    .argument("<name>", "certificate name (common name and first DNS name)")
    .option("--dir <dir>", DIR_HELP)
    .addOption(algorithmOption())
    .addOption(daysOption(DEFAULT_CERTIFICATE_DAYS))
    .option("--out <dir>", "where to write NAME.pem, NAME.key and ca.pem (default: .)")
    .option("--force", "allow a name that does not fit the kind, and replace existing files");
  if (kind === "server") {
    command
      .option("--dns <name>", "another DNS name (repeatable)", collect)
      .option("--ip <address>", "an IP address (repeatable)", collect)
      .action((name, opts) => issue(ctx, kind, name, opts));
  } else {
    command.action((name, opts) => issue(ctx, kind, name, opts));
  }
}

/** Adds `chorale ca` and its subcommands to `program`. */
export function registerCaCommand(program: Command, ctx: CliContext): void {
  const ca = program.command("ca")
    .description("a certificate authority for fleets without Puppet")
    .addHelpText(
      "after",
      `
Examples:
  chorale ca init
  chorale ca issue server broker.example.net --dns nats.example.net --ip 192.0.2.10
  chorale ca issue client alice.mcollective --out ~/.chorale
  chorale ca list
  chorale ca sign n1.example.net.csr --out n1.example.net.crt`,
    );

  ca.command("init")
    .description("make a CA: ca.pem, ca.key (mode 0600) and issued/ in the CA directory")
    .option("--dir <dir>", DIR_HELP)
    .option("--name <name>", "the CA's common name", "Chorale CA")
    .addOption(algorithmOption())
    .addOption(daysOption(DEFAULT_CA_DAYS))
    .option("--force", "replace an existing CA (its files are moved to replaced-<time>/)")
    .action(async (opts) => {
      const dir = caDir(ctx, opts.dir);
      let store: CaStore;
      try {
        store = await initCaStore(dir, {
          name: opts.name,
          algorithm: opts.algorithm,
          days: opts.days,
          force: opts.force ?? false,
        });
      } catch (error) {
        if (error instanceof CaExistsError) {
          throw withHint(error, "pass --force to replace it (its files are moved aside)");
        }
        throw error;
      }
      say(
        ctx,
        `Made CA '${store.ca.name}' (${store.ca.algorithm}), valid until ${
          formatDate(store.ca.notAfter)
        }`,
      );
      say(ctx, `  certificate  ${store.paths.cert}`);
      say(ctx, `  private key  ${store.paths.key} (mode 0600)`);
      say(ctx, `  issued       ${store.paths.issued}/`);
      if (store.replaced) say(ctx, `  the previous CA was moved to ${store.replaced}`);
      say(ctx);
      say(ctx, "Next, issue certificates, for example:");
      say(ctx, "  chorale ca issue server broker.example.net --ip 192.0.2.10");
      say(ctx, "  chorale ca issue client alice.mcollective");
    });

  const issueCommand = ca.command("issue")
    .description("issue a certificate and key for a server or a client");
  addIssueCommand(issueCommand, ctx, "server");
  addIssueCommand(issueCommand, ctx, "client");

  ca.command("list")
    .description("list the certificates the CA issued, with expiry")
    .option("--dir <dir>", DIR_HELP)
    .option("--json", "print JSON for machines")
    .action(async (opts) => {
      const store = await openStore(caDir(ctx, opts.dir));
      const { entries, problems } = await store.list();
      for (const problem of problems) warn(ctx, problem);
      const now = ctx.now().getTime();
      const rows = entries.map((e) => ({ ...e, ...daysLeft(e.notAfter, now) }));
      if (opts.json) {
        say(
          ctx,
          JSON.stringify(
            rows.map((r) => ({
              name: r.name,
              kind: r.kind,
              algorithm: r.algorithm,
              serial: r.serial,
              notBefore: r.notBefore.toISOString(),
              notAfter: r.notAfter.toISOString(),
              daysLeft: r.daysLeft,
              expired: r.expired,
              dnsNames: r.dnsNames,
              ipAddresses: r.ipAddresses,
              path: r.path,
            })),
            null,
            2,
          ),
        );
        return;
      }
      say(
        ctx,
        `CA '${store.ca.name}' in ${store.paths.dir}, valid until ${formatDate(store.ca.notAfter)}`,
      );
      if (rows.length === 0) {
        say(ctx, "No certificates issued yet: see 'chorale ca issue --help'");
        return;
      }
      say(ctx);
      say(
        ctx,
        formatTable(
          ["NAME", "KIND", "ALGORITHM", "NOT AFTER", "DAYS LEFT"],
          rows.map((r) => [
            r.name,
            r.kind,
            r.algorithm,
            formatDate(r.notAfter),
            r.expired
              ? `EXPIRED ${r.daysLeft === 0 ? "today" : `${-r.daysLeft} days ago`}`
              : String(r.daysLeft),
          ]),
        ),
      );
      const expired = rows.filter((r) => r.expired).length;
      if (expired > 0) say(ctx, `\n${expired} of ${rows.length} expired`);
    });

  ca.command("sign")
    .description("sign a certificate request made by 'chorale enroll'")
    .argument("<csr>", "the request (PEM)")
    .option("--dir <dir>", DIR_HELP)
    .addOption(
      new Option(
        "--kind <kind>",
        "what to sign it as (default: client when the name matches " +
          "\\.mcollective$ or \\.choria$, else server)",
      ).choices(["server", "client"] as const),
    )
    .addOption(daysOption(DEFAULT_CERTIFICATE_DAYS))
    .option("--out <file>", "write the certificate here instead of printing it")
    .option("--force", "allow a name that does not fit the kind, and replace existing files")
    .action(async (csrPath, opts) => {
      const force = opts.force ?? false;
      const csr = await readPemFile("certificate request", resolve(ctx.cwd(), csrPath));
      const store = await openStore(caDir(ctx, opts.dir));
      const out = opts.out === undefined ? null : resolve(ctx.cwd(), opts.out);
      if (out !== null && !force && await pathExists(out)) {
        throw withHint(new FileExistsError("certificate", out), "pass --force to replace it");
      }
      const now = ctx.now().getTime();
      let signed;
      try {
        signed = await store.ca.signRequest(csr, {
          ...(opts.kind ? { kind: opts.kind } : {}),
          notBefore: new Date(now - CLOCK_SKEW_MS),
          notAfter: new Date(now + opts.days * DAY_MS),
          force,
        });
      } catch (error) {
        if (error instanceof CertnameError && error.overridable) {
          throw withHint(error, "pass --kind, or --force to sign it anyway");
        }
        if (error instanceof CertificateRequestError || error instanceof CertnameError) {
          throw new CliError(error.message, 1, { cause: error });
        }
        throw error;
      }
      await refuseExisting(store, signed.name, force);
      if (out !== null) await writePemFile(out, signed.cert, { what: "certificate", force });
      await store.record(signed.name, signed.cert, { force });
      const summary = describeCertificate(signed.cert);
      const report = `Signed ${signed.kind} certificate '${signed.name}' (${summary.algorithm}), ` +
        `valid until ${formatDate(summary.notAfter)}; names ${
          namesOf(summary.dnsNames, summary.ipAddresses)
        }`;
      if (out === null) {
        // The certificate goes to standard output so it can be piped; the report to stderr.
        ctx.stderr(`${report}\n`);
        ctx.stdout(signed.cert);
      } else {
        say(ctx, report);
        say(ctx, `  certificate  ${out}`);
        say(ctx, `  CA           ${store.paths.cert}`);
        say(ctx);
        say(ctx, "Next, copy both to the node and run there:");
        say(ctx, `  chorale enroll --install ${basename(out)} --ca ca.pem`);
      }
    });
}
