import assert from "node:assert/strict";
import { join } from "node:path";
import { CertificateAuthority, CertnameError } from "./ca.ts";
import { createEnrollment, EnrollmentError, installCertificate } from "./enroll.ts";
import { FileExistsError, fileMode, MissingFileError, pathExists } from "./pem_files.ts";
import {
  KeyMismatchError,
  MaterialExpiredError,
  puppetProvider,
  UntrustedCertificateError,
} from "./providers.ts";

async function withSslDir(fn: (dir: string, ca: CertificateAuthority) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "chorale-enroll-" });
  try {
    await fn(join(dir, "ssl"), await CertificateAuthority.create({ name: "Enroll CA" }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createEnrollment writes a 0600 key and a request in Puppet's layout", async () => {
  await withSslDir(async (ssl) => {
    const enrollment = await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    assert.equal(enrollment.layout.key, join(ssl, "private_keys", "n1.example.net.pem"));
    assert.equal(enrollment.layout.csr, join(ssl, "certificate_requests", "n1.example.net.pem"));
    assert.equal(await fileMode(enrollment.layout.key), 0o600);
    assert.equal(await fileMode(join(ssl, "private_keys")), 0o700);
    assert.equal(await Deno.readTextFile(enrollment.layout.csr), enrollment.csr);
  });
});

Deno.test("createEnrollment refuses to replace a key unless forced, and bad names", async () => {
  await withSslDir(async (ssl) => {
    const first = await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    const key = await Deno.readTextFile(first.layout.key);
    await assert.rejects(
      () => createEnrollment(ssl, "n1.example.net", { kind: "server" }),
      FileExistsError,
    );
    assert.equal(await Deno.readTextFile(first.layout.key), key);
    await createEnrollment(ssl, "n1.example.net", { kind: "server", force: true });
    assert.notEqual(await Deno.readTextFile(first.layout.key), key);
    await assert.rejects(() => createEnrollment(ssl, "bob", { kind: "client" }), CertnameError);
    assert.ok(!(await pathExists(join(ssl, "private_keys", "bob.pem"))));
  });
});

Deno.test("installCertificate installs a signed certificate the Puppet provider then loads", async () => {
  await withSslDir(async (ssl, ca) => {
    const { csr, layout } = await createEnrollment(ssl, "alice.mcollective", { kind: "client" });
    const { cert } = await ca.signRequest(csr);
    const installed = await installCertificate(ssl, { certPem: cert, caPem: ca.certPem });
    assert.equal(installed.certname, "alice.mcollective");
    assert.ok(!(await pathExists(layout.csr)), "the request is removed");
    const material = await puppetProvider({ sslDir: ssl, user: "alice" }).load();
    assert.equal(material.certPem, cert);
    assert.equal(material.caPem, ca.certPem);
  });
});

Deno.test("installCertificate refuses a certificate for another key", async () => {
  await withSslDir(async (ssl, ca) => {
    await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    const stranger = await ca.issue("server", "n1.example.net");
    await assert.rejects(
      () =>
        installCertificate(ssl, { certPem: stranger.cert, caPem: ca.certPem }, {
          sources: { certificate: "/tmp/n1.crt" },
        }),
      (error: Error) => error instanceof KeyMismatchError && error.message.includes("/tmp/n1.crt"),
    );
    assert.ok(!(await pathExists(join(ssl, "certs", "n1.example.net.pem"))));
  });
});

Deno.test("installCertificate refuses a certificate that does not chain to the CA given", async () => {
  await withSslDir(async (ssl, ca) => {
    const { csr } = await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    const other = await CertificateAuthority.create({ name: "Other CA" });
    const { cert } = await other.signRequest(csr);
    await assert.rejects(
      () => installCertificate(ssl, { certPem: cert, caPem: ca.certPem }),
      UntrustedCertificateError,
    );
  });
});

Deno.test("installCertificate refuses to swap the CA already installed unless forced", async () => {
  await withSslDir(async (ssl, ca) => {
    const one = await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    await installCertificate(ssl, {
      certPem: (await ca.signRequest(one.csr)).cert,
      caPem: ca.certPem,
    });
    const other = await CertificateAuthority.create({ name: "Other CA" });
    const two = await createEnrollment(ssl, "n2.example.net", { kind: "server" });
    const cert = (await other.signRequest(two.csr)).cert;
    await assert.rejects(
      () => installCertificate(ssl, { certPem: cert, caPem: other.certPem }),
      EnrollmentError,
    );
    await installCertificate(ssl, { certPem: cert, caPem: other.certPem }, { force: true });
    assert.equal(await Deno.readTextFile(join(ssl, "certs", "ca.pem")), other.certPem);
  });
});

Deno.test("installCertificate refuses expired certificates and missing keys", async () => {
  await withSslDir(async (ssl, ca) => {
    const { csr } = await createEnrollment(ssl, "n1.example.net", { kind: "server" });
    const { cert } = await ca.signRequest(csr, {
      notBefore: new Date("2020-01-01T00:00:00Z"),
      notAfter: new Date("2020-02-01T00:00:00Z"),
    });
    await assert.rejects(
      () => installCertificate(ssl, { certPem: cert, caPem: ca.certPem }),
      MaterialExpiredError,
    );
    const never = await ca.issue("server", "n9.example.net");
    await assert.rejects(
      () => installCertificate(ssl, { certPem: never.cert, caPem: ca.certPem }),
      (error: Error) =>
        error instanceof MissingFileError &&
        error.path === join(ssl, "private_keys", "n9.example.net.pem"),
    );
    await assert.rejects(
      () => installCertificate(ssl, { certPem: "junk", caPem: ca.certPem }),
      EnrollmentError,
    );
  });
});
