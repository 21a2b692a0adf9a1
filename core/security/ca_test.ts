import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CertificateAuthority, type KeyAlgorithm } from "./ca.ts";

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
