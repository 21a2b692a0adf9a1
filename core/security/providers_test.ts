import assert from "node:assert/strict";
import { join } from "node:path";
import { CertificateAuthority } from "./ca.ts";
import { MissingFileError } from "./pem_files.ts";
import {
  CertnameMismatchError,
  defaultPuppetSslDir,
  fileProvider,
  InvalidMaterialError,
  KeyMismatchError,
  MaterialExpiredError,
  MaterialNotYetValidError,
  puppetLayout,
  puppetProvider,
  SecurityProviderError,
  UntrustedCertificateError,
  verifyMaterial,
} from "./providers.ts";

const FIXTURES = new URL("../../../shared/choria/certs/choria-ruby-spec/", import.meta.url);
const DAY_MS = 86_400_000;

interface Files {
  dir: string;
  ca: CertificateAuthority;
  certificate: string;
  key: string;
  caFile: string;
}

async function withFiles(fn: (files: Files) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chorale-providers-" });
  try {
    const ca = await CertificateAuthority.create({ name: "Provider CA" });
    const issued = await ca.issue("client", "alice.mcollective");
    const files = {
      dir,
      ca,
      certificate: join(dir, "alice.pem"),
      key: join(dir, "alice.key"),
      caFile: join(dir, "ca.pem"),
    };
    await Deno.writeTextFile(files.certificate, issued.cert);
    await Deno.writeTextFile(files.key, issued.key, { mode: 0o600 });
    await Deno.chmod(files.key, 0o600);
    await Deno.writeTextFile(files.caFile, ca.certPem);
    await fn(files);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("fileProvider loads a matching certificate, key and CA without warnings", async () => {
  await withFiles(async (f) => {
    const provider = fileProvider({ certificate: f.certificate, key: f.key, ca: f.caFile });
    const material = await provider.load();
    assert.equal(provider.name, "file");
    assert.equal(material.certname, "alice.mcollective");
    assert.deepEqual(material.warnings, []);
    assert.equal(material.caPem, f.ca.certPem);
    assert.ok(material.notAfter.getTime() > Date.now());
  });
});

Deno.test("fileProvider names each missing file", async () => {
  await withFiles(async (f) => {
    const missing = join(f.dir, "nope.pem");
    for (
      const [what, paths] of [
        ["certificate", { certificate: missing, key: f.key, ca: f.caFile }],
        ["private key", { certificate: f.certificate, key: missing, ca: f.caFile }],
        ["CA certificate", { certificate: f.certificate, key: f.key, ca: missing }],
      ] as const
    ) {
      await assert.rejects(
        () => fileProvider(paths).load(),
        (error: Error) =>
          error instanceof MissingFileError &&
          error.message === `Cannot read ${what} ${missing} as it does not exist`,
      );
    }
  });
});

Deno.test("fileProvider refuses files that are not certificates or keys", async () => {
  await withFiles(async (f) => {
    const junk = join(f.dir, "junk.pem");
    await Deno.writeTextFile(junk, "not pem");
    await assert.rejects(
      () => fileProvider({ certificate: junk, key: f.key, ca: f.caFile }).load(),
      (error: Error) =>
        error instanceof InvalidMaterialError && error.message.includes(junk) &&
        error instanceof SecurityProviderError,
    );
    await assert.rejects(
      () => fileProvider({ certificate: f.certificate, key: junk, ca: f.caFile }).load(),
      /private key .* is not a PEM private key/,
    );
    await assert.rejects(
      () => fileProvider({ certificate: f.certificate, key: f.key, ca: junk }).load(),
      /holds no PEM X\.509 certificate/,
    );
  });
});

Deno.test("fileProvider refuses a key that is not the certificate's", async () => {
  await withFiles(async (f) => {
    const other = await f.ca.issue("client", "alice.mcollective");
    const otherKey = join(f.dir, "other.key");
    await Deno.writeTextFile(otherKey, other.key, { mode: 0o600 });
    await assert.rejects(
      () => fileProvider({ certificate: f.certificate, key: otherKey, ca: f.caFile }).load(),
      (error: Error) =>
        error instanceof KeyMismatchError &&
        error.message ===
          `Cannot use private key ${otherKey} as it does not belong to certificate ${f.certificate}`,
    );
  });
});

Deno.test("fileProvider refuses a certificate from another CA with the same name", async () => {
  await withFiles(async (f) => {
    const impostor = await CertificateAuthority.create({ name: "Provider CA" });
    const foreignCa = join(f.dir, "foreign-ca.pem");
    await Deno.writeTextFile(foreignCa, impostor.certPem);
    await assert.rejects(
      () => fileProvider({ certificate: f.certificate, key: f.key, ca: foreignCa }).load(),
      (error: Error) =>
        error instanceof UntrustedCertificateError && error.message.includes(foreignCa),
    );
    // A bundle holding the right CA among others is fine.
    await Deno.writeTextFile(foreignCa, impostor.certPem + f.ca.certPem);
    await fileProvider({ certificate: f.certificate, key: f.key, ca: foreignCa }).load();
  });
});

Deno.test("verifyMaterial refuses expired and not yet valid certificates", async () => {
  const ca = await CertificateAuthority.create();
  const paths = { certificate: "late.pem", key: "late.key", ca: "ca.pem" };
  const expired = await ca.issue("client", "late.mcollective", {
    notBefore: new Date(Date.now() - 10 * DAY_MS),
    notAfter: new Date(Date.now() - DAY_MS),
  });
  assert.throws(
    () => verifyMaterial({ certPem: expired.cert, keyPem: expired.key, caPem: ca.certPem, paths }),
    (error: Error) =>
      error instanceof MaterialExpiredError && /late\.pem as it expired on/.test(error.message),
  );
  const early = await ca.issue("client", "early.mcollective", {
    notBefore: new Date(Date.now() + DAY_MS),
  });
  assert.throws(
    () => verifyMaterial({ certPem: early.cert, keyPem: early.key, caPem: ca.certPem, paths }),
    MaterialNotYetValidError,
  );
  // The same certificate at a time inside its validity is fine.
  verifyMaterial({ certPem: early.cert, keyPem: early.key, caPem: ca.certPem, paths }, {
    now: new Date(Date.now() + 2 * DAY_MS),
  });
});

Deno.test("fileProvider loads an expired certificate from disk as MaterialExpiredError", async () => {
  await withFiles(async (f) => {
    const expired = await f.ca.issue("client", "late.mcollective", {
      notBefore: new Date("2020-01-01T00:00:00Z"),
      notAfter: new Date("2020-01-02T00:00:00Z"),
    });
    await Deno.writeTextFile(f.certificate, expired.cert);
    await Deno.writeTextFile(f.key, expired.key);
    await assert.rejects(
      () => fileProvider({ certificate: f.certificate, key: f.key, ca: f.caFile }).load(),
      (error: Error) =>
        error instanceof MaterialExpiredError &&
        error.notAfter.toISOString() === "2020-01-02T00:00:00.000Z",
    );
  });
});

Deno.test("fileProvider warns when other users may read the private key", async () => {
  await withFiles(async (f) => {
    await Deno.chmod(f.key, 0o644);
    const material = await fileProvider({ certificate: f.certificate, key: f.key, ca: f.caFile })
      .load();
    assert.equal(material.warnings.length, 1);
    assert.match(material.warnings[0]!, /open to other users \(mode 0644\): run chmod 600/);
    await Deno.chmod(f.key, 0o640); // Puppet's own mode: group only, no warning
    assert.deepEqual(
      (await fileProvider({ certificate: f.certificate, key: f.key, ca: f.caFile }).load())
        .warnings,
      [],
    );
  });
});

Deno.test("fileProvider checks the certname when given one", async () => {
  await withFiles(async (f) => {
    await assert.rejects(
      () =>
        fileProvider({ certificate: f.certificate, key: f.key, ca: f.caFile, certname: "bob" })
          .load(),
      CertnameMismatchError,
    );
  });
});

async function puppetSslDir(dir: string, certname: string, files: {
  cert: string;
  key: string;
  ca: string;
}): Promise<void> {
  const layout = puppetLayout(dir, certname);
  await Deno.mkdir(join(dir, "certs"), { recursive: true });
  await Deno.mkdir(join(dir, "private_keys"), { recursive: true, mode: 0o750 });
  await Deno.writeTextFile(layout.certificate, files.cert);
  await Deno.writeTextFile(layout.ca, files.ca);
  await Deno.writeTextFile(layout.key, files.key, { mode: 0o640 });
  await Deno.chmod(layout.key, 0o640);
}

Deno.test("puppetProvider reads a real Puppet CA's RSA certificate and PKCS#1 key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-puppet-" });
  try {
    const read = (name: string) => Deno.readTextFile(new URL(name, FIXTURES));
    await puppetSslDir(dir, "rip.mcollective", {
      cert: await read("rip.mcollective.pem"),
      key: await read("rip.mcollective.key"),
      ca: await read("ca_crt.pem"),
    });
    // The fixture is valid from 2024-07-01 to 2029-07-01.
    const now = new Date("2026-01-01T00:00:00Z");
    const provider = puppetProvider({ sslDir: dir, user: "rip" });
    assert.equal(provider.paths.certificate, join(dir, "certs", "rip.mcollective.pem"));
    const material = await provider.load({ now });
    assert.equal(material.certname, "rip.mcollective");
    assert.deepEqual(material.warnings, []);
    assert.match(material.keyPem, /BEGIN RSA PRIVATE KEY/);
    await assert.rejects(
      () => provider.load({ now: new Date("2030-01-01T00:00:00Z") }),
      MaterialExpiredError,
    );
    // A certificate signed by another Puppet CA does not chain.
    await Deno.writeTextFile(join(dir, "certs", "ca.pem"), await read("other_ca.pem"));
    await assert.rejects(() => provider.load({ now }), UntrustedCertificateError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("puppetProvider names the missing file of a certname that never enrolled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-puppet-" });
  try {
    await assert.rejects(
      () => puppetProvider({ sslDir: dir, certname: "n1.example.net" }).load(),
      (error: Error) =>
        error instanceof MissingFileError &&
        error.path === join(dir, "certs", "n1.example.net.pem"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("puppetProvider refuses a certificate filed under another certname", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chorale-puppet-" });
  try {
    const ca = await CertificateAuthority.create();
    const issued = await ca.issue("client", "mallory.mcollective");
    await puppetSslDir(dir, "alice.mcollective", { ...issued, ca: ca.certPem });
    await assert.rejects(
      () => puppetProvider({ sslDir: dir, user: "alice" }).load(),
      /for 'alice\.mcollective' as it is for 'mallory\.mcollective'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("puppetProvider defaults follow Choria: root's directory, users' own, <user>.mcollective", () => {
  assert.equal(defaultPuppetSslDir({ root: true }), "/etc/puppetlabs/puppet/ssl");
  assert.equal(
    defaultPuppetSslDir({ root: false, home: "/home/alice" }),
    "/home/alice/.puppetlabs/etc/puppet/ssl",
  );
  const provider = puppetProvider({ root: true, user: "bob" });
  assert.equal(provider.paths.certificate, "/etc/puppetlabs/puppet/ssl/certs/bob.mcollective.pem");
  assert.equal(provider.paths.key, "/etc/puppetlabs/puppet/ssl/private_keys/bob.mcollective.pem");
  assert.equal(provider.paths.ca, "/etc/puppetlabs/puppet/ssl/certs/ca.pem");
  assert.throws(() => defaultPuppetSslDir({ root: false, home: "" }), /HOME is not set/);
  assert.throws(() => puppetProvider({ root: true, user: "" }), /USER is not set/);
});
