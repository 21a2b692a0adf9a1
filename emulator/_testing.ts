/**
 * A throwaway PKI for emulator tests and the fleet benchmark, shaped like the test harness's
 * {@linkcode TestPki} so the harness's brokers take it, but kept in a `chorale ca` directory so
 * the emulator can issue its servers' certificates from the same CA. The broker's certificate
 * names `localhost` and 127.0.0.1 ... 127.0.0.<addresses>, so connections spread over loopback
 * addresses pass the client's host check.
 *
 * @module
 */
import { join } from "node:path";
import type { CertificateKind } from "../core/security/ca.ts";
import { initCaStore } from "../core/security/ca_store.ts";
import type { CertFiles, TestPki } from "../tests/harness/pki.ts";

/** A test PKI whose CA lives in a `chorale ca` directory. */
export interface EmulatorPki extends TestPki {
  /** The `chorale ca` directory (ca.pem, ca.key) for `--ca-dir`. */
  caDir: string;
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

/** Makes the PKI; `addresses` loopback addresses go into the broker's certificate. */
export async function makeEmulatorPki(addresses = 1): Promise<EmulatorPki> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-emulator-pki-" });
  const caDir = join(dir, "ca");
  const store = await initCaStore(caDir, { name: "Chorale Emulator Test CA" });
  const ca = store.ca;
  const caFile = join(caDir, "ca.pem");
  const certs = join(dir, "certs");
  await Deno.mkdir(certs);
  const cache = new Map<string, Promise<CertFiles>>();
  const issue = (kind: CertificateKind, name: string): Promise<CertFiles> => {
    let found = cache.get(`${kind}:${name}`);
    if (!found) {
      found = (async () => writeCert(certs, name, await ca.issue(kind, name)))();
      cache.set(`${kind}:${name}`, found);
    }
    return found;
  };
  const ipAddresses = ["::1", ...Array.from({ length: addresses }, (_, i) => `127.0.0.${i + 1}`)];
  const broker = await writeCert(
    certs,
    "localhost",
    await ca.issue("server", "localhost", { ipAddresses }),
  );
  cache.set("server:localhost", Promise.resolve(broker));
  const unsupported = () =>
    Promise.reject(new Error("Cannot make that certificate in the emulator's test PKI"));
  return {
    dir,
    caDir,
    caFile,
    caPem: ca.certPem,
    broker,
    client: await issue("client", "alice.mcollective"),
    issue,
    foreign: unsupported,
    expired: unsupported,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
