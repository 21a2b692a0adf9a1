import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  CertificateAuthority,
  CertificateAuthorityError,
  CertificateRequestError,
  CertnameError,
  checkAltNames,
  checkCertname,
  createCertificateRequest,
  describeCertificate,
  type KeyAlgorithm,
} from "./ca.ts";

for (const algorithm of ["ed25519", "rsa", "ecdsa"] as KeyAlgorithm[]) {
  Deno.test(`CertificateAuthority issues ${algorithm} certificates that chain to the CA`, async () => {
    const ca = await CertificateAuthority.create({ algorithm });
    const issued = await ca.issue("server", "n1.example.net", {
      algorithm,
      ipAddresses: ["127.0.0.1"],
    });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(issued.cert);
    assert.ok(caCert.ca);
    assert.ok(!cert.ca);
    assert.ok(cert.verify(caCert.publicKey), "signature by the CA");
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.subject, "CN=n1.example.net");
    assert.match(cert.subjectAltName ?? "", /DNS:n1\.example\.net/);
    assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.ok(new Date(cert.validTo).getTime() > Date.now());
  });
}

Deno.test("CertificateAuthority certificates from another CA do not verify", async () => {
  const ca = await CertificateAuthority.create();
  const other = await CertificateAuthority.create();
  const issued = await other.issue("client", "mallory.mcollective");
  assert.ok(!new X509Certificate(issued.cert).verify(new X509Certificate(ca.certPem).publicKey));
});

Deno.test("CertificateAuthority honours explicit validity dates", async () => {
  const ca = await CertificateAuthority.create();
  const notBefore = new Date("2020-01-01T00:00:00Z");
  const notAfter = new Date("2020-01-02T00:00:00Z");
  const cert = new X509Certificate(
    (await ca.issue("client", "late.mcollective", { notBefore, notAfter })).cert,
  );
  assert.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
});

for (const algorithm of ["ed25519", "rsa", "ecdsa"] as KeyAlgorithm[]) {
  Deno.test(`CertificateAuthority.load reads back a saved ${algorithm} CA that still issues`, async () => {
    const made = await CertificateAuthority.create({ name: "Saved, Inc CA", algorithm });
    const loaded = await CertificateAuthority.load(made.certPem, await made.keyPem());
    assert.equal(loaded.name, "Saved, Inc CA");
    assert.equal(loaded.algorithm, algorithm);
    assert.equal(loaded.certPem, made.certPem);
    const issued = new X509Certificate((await loaded.issue("client", "a.mcollective")).cert);
    assert.ok(issued.verify(new X509Certificate(made.certPem).publicKey));
  });

  Deno.test(`CertificateAuthority.signRequest signs a ${algorithm} request with its names`, async () => {
    const ca = await CertificateAuthority.create();
    const { csr, key } = await createCertificateRequest("n1.example.net", {
      algorithm,
      dnsNames: ["nats.example.net"],
      ipAddresses: ["192.0.2.1"],
    });
    const signed = await ca.signRequest(csr);
    assert.equal(signed.kind, "server");
    const cert = new X509Certificate(signed.cert);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    assert.equal(cert.subject, "CN=n1.example.net");
    assert.match(cert.subjectAltName ?? "", /DNS:nats\.example\.net/);
    assert.match(cert.subjectAltName ?? "", /IP Address:192\.0\.2\.1/);
    assert.ok(cert.checkPrivateKey(createPrivateKey(key)));
    assert.equal(
      describeCertificate(signed.cert).algorithm,
      {
        ed25519: "ed25519",
        rsa: "rsa-2048",
        ecdsa: "ecdsa-p256",
      }[algorithm],
    );
  });
}

Deno.test("CertificateAuthority.load refuses a key that is not the CA's", async () => {
  const one = await CertificateAuthority.create();
  const two = await CertificateAuthority.create();
  await assert.rejects(
    () => CertificateAuthority.load(one.certPem, "-----BEGIN PRIVATE KEY-----\nAA==\n"),
    CertificateAuthorityError,
  );
  await assert.rejects(
    () => CertificateAuthority.load(one.certPem, "garbage"),
    (error: Error) =>
      error instanceof CertificateAuthorityError && /not a PEM private key/.test(error.message),
  );
  const twoKey = await two.keyPem();
  await assert.rejects(
    () => CertificateAuthority.load(one.certPem, twoKey),
    /does not belong to its certificate/,
  );
});

Deno.test("CertificateAuthority.load refuses a certificate that is not a CA's", async () => {
  const ca = await CertificateAuthority.create();
  const leaf = await ca.issue("server", "n1.example.net");
  await assert.rejects(
    () => CertificateAuthority.load(leaf.cert, leaf.key),
    /is not a CA certificate/,
  );
});

Deno.test("CertificateAuthority.signRequest refuses a request whose signature does not verify", async () => {
  const ca = await CertificateAuthority.create();
  const { csr } = await createCertificateRequest("n1.example.net");
  const der = new Uint8Array(new x509.Pkcs10CertificateRequest(csr).rawData);
  der[der.length - 5]! ^= 0xff; // inside the signature
  const tampered = x509.PemConverter.encode(der.buffer as ArrayBuffer, "CERTIFICATE REQUEST");
  await assert.rejects(
    () => ca.signRequest(tampered),
    (error: Error) =>
      error instanceof CertificateRequestError && /signature does not verify/.test(error.message),
  );
});

Deno.test("CertificateAuthority.signRequest refuses a request signed by another key", async () => {
  // A request for one key whose signature was made with another: the subject public key is
  // swapped after signing, as someone would to get a certificate for a key they do not hold.
  const ca = await CertificateAuthority.create();
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const other = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const good = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=n1.example.net",
    keys: keys as CryptoKeyPair,
    signingAlgorithm: { name: "Ed25519" },
  });
  const otherSpki = new Uint8Array(
    await crypto.subtle.exportKey("spki", (other as CryptoKeyPair).publicKey),
  );
  const ownSpki = new Uint8Array(good.publicKey.rawData);
  const der = new Uint8Array(good.rawData);
  const at = indexOf(der, ownSpki);
  assert.ok(at > 0);
  der.set(otherSpki, at);
  await assert.rejects(
    () =>
      ca.signRequest(x509.PemConverter.encode(der.buffer as ArrayBuffer, "CERTIFICATE REQUEST")),
    /signature does not verify/,
  );
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("CertificateAuthority.signRequest applies the name rules unless forced", async () => {
  const ca = await CertificateAuthority.create();
  const client = await createCertificateRequest("bob");
  await assert.rejects(() => ca.signRequest(client.csr, { kind: "client" }), CertnameError);
  const forced = await ca.signRequest(client.csr, { kind: "client", force: true });
  assert.equal(forced.kind, "client");
  const sneaky = await createCertificateRequest("eve.mcollective");
  await assert.rejects(() => ca.signRequest(sneaky.csr, { kind: "server" }), CertnameError);
  assert.equal((await ca.signRequest(sneaky.csr)).kind, "client");
  await assert.rejects(() => ca.signRequest("not a request"), CertificateRequestError);
});

Deno.test("CertificateAuthority.signRequest refuses client requests asking for other names", async () => {
  const ca = await CertificateAuthority.create();
  const { csr } = await createCertificateRequest("alice.mcollective", {
    dnsNames: ["broker.example.net"],
  });
  await assert.rejects(() => ca.signRequest(csr), /a client certificate names only its user/);
});

Deno.test("CertificateAuthority refuses certificates that outlive it", async () => {
  const ca = await CertificateAuthority.create({ days: 10 });
  await assert.rejects(
    () => ca.issue("server", "n1", { notAfter: new Date(Date.now() + 20 * 86_400_000) }),
    (error: Error) =>
      error instanceof CertificateAuthorityError && /ask for fewer days/.test(error.message),
  );
});

Deno.test("checkCertname enforces syntax always and kinds unless forced", () => {
  checkCertname("client", "alice.mcollective");
  checkCertname("client", "ops.choria");
  checkCertname("client", "admin.privileged.choria");
  checkCertname("server", "n1.example.net");
  for (const bad of ["", "Alice.mcollective", "a b", "a,CN=x", "a/b", ".x", "x.", "a..b", "ca"]) {
    assert.throws(
      () => checkCertname("server", bad, { force: true }),
      (error: Error) => error instanceof CertnameError && !error.overridable,
      bad,
    );
  }
  assert.throws(
    () => checkCertname("client", "alice"),
    (error: Error) =>
      error instanceof CertnameError && error.overridable &&
      error.message.includes("'\\.mcollective$'"),
  );
  assert.throws(() => checkCertname("server", "n1.mcollective"), /treat it as a client/);
  checkCertname("client", "alice", { force: true });
  checkCertname("client", "alice.ops", { clientPatterns: ["\\.ops$"] });
});

Deno.test("checkAltNames refuses names that are not hosts or addresses", () => {
  checkAltNames(["*.example.net", "a-b.example.net"], ["10.0.0.1", "2001:db8::1"]);
  assert.throws(() => checkAltNames(["bad name"], []), /not a host name/);
  assert.throws(() => checkAltNames([], ["10.0.0"]), /not IPv4 or IPv6/);
});

Deno.test("describeCertificate tells servers from clients", async () => {
  const ca = await CertificateAuthority.create({ algorithm: "ecdsa" });
  const server = describeCertificate(
    (await ca.issue("server", "n1", { ipAddresses: ["::1"] })).cert,
  );
  assert.equal(server.kind, "server");
  assert.deepEqual(server.ipAddresses, ["::1"]);
  assert.equal(server.isCa, false);
  const client = describeCertificate((await ca.issue("client", "a.choria")).cert);
  assert.equal(client.kind, "client");
  assert.equal(describeCertificate(ca.certPem).isCa, true);
  assert.throws(() => describeCertificate("nope"), CertificateAuthorityError);
});
