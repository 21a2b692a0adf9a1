/**
 * A throwaway PKI for tests: a CA, a broker certificate for localhost, client and server
 * certificates on demand, plus a foreign CA's certificate and an expired one for rejection tests.
 * Everything is written to a temporary directory that disposal removes.
 *
 * @module
 */
import { join } from "node:path";
import { CertificateAuthority, type CertificateKind } from "../../core/security/ca.ts";

/** Paths and PEM text of one issued certificate. */
export interface CertFiles {
  /** The certificate's common name. */
  name: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A temporary PKI; `await using` removes its files. */
export interface TestPki extends AsyncDisposable {
  /** The directory holding every file. */
  dir: string;
  /** The CA certificate file and its PEM text. */
  caFile: string;
  caPem: string;
  /** The broker's certificate: `localhost`, with 127.0.0.1 and ::1 as IP SANs. */
  broker: CertFiles;
  /** A client certificate `alice.mcollective`. */
  client: CertFiles;
  /** Issues (and caches by kind and name) another certificate signed by the CA. */
  issue(kind: CertificateKind, name: string): Promise<CertFiles>;
  /** A client certificate `mallory.mcollective` signed by an unrelated CA. */
  foreign(): Promise<CertFiles>;
  /** A client certificate `late.mcollective` from the right CA whose validity ended yesterday. */
  expired(): Promise<CertFiles>;
}

async function writeCert(
  dir: string,
  name: string,
  issued: { cert: string; key: string },
): Promise<CertFiles> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await Deno.writeTextFile(certFile, issued.cert);
  await Deno.writeTextFile(keyFile, issued.key, { mode: 0o600 });
  return { name, certFile, keyFile, ...issued };
}

/** Makes a temporary PKI. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-pki-" });
  const ca = await CertificateAuthority.create({ name: "Chorale Test CA" });
  const caFile = join(dir, "ca.pem");
  await Deno.writeTextFile(caFile, ca.certPem);
  const cache = new Map<string, Promise<CertFiles>>();
  const once = (key: string, make: () => Promise<CertFiles>): Promise<CertFiles> => {
    let found = cache.get(key);
    if (!found) {
      found = make();
      cache.set(key, found);
    }
    return found;
  };
  const issue = (kind: CertificateKind, name: string) =>
    once(`${kind}:${name}`, async () => writeCert(dir, name, await ca.issue(kind, name)));
  const broker = await once(
    "server:localhost",
    async () =>
      writeCert(
        dir,
        "localhost",
        await ca.issue("server", "localhost", { ipAddresses: ["127.0.0.1", "::1"] }),
      ),
  );
  return {
    dir,
    caFile,
    caPem: ca.certPem,
    broker,
    client: await issue("client", "alice.mcollective"),
    issue,
    foreign: () =>
      once("foreign", async () => {
        const other = await CertificateAuthority.create({ name: "Foreign CA" });
        return writeCert(
          dir,
          "mallory.mcollective",
          await other.issue("client", "mallory.mcollective"),
        );
      }),
    expired: () =>
      once("expired", async () => {
        const notBefore = new Date(Date.now() - 10 * 86_400_000);
        const notAfter = new Date(Date.now() - 86_400_000);
        return writeCert(
          dir,
          "late.mcollective",
          await ca.issue("client", "late.mcollective", { notBefore, notAfter }),
        );
      }),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
