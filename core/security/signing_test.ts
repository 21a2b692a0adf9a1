import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { CertificateAuthority, type KeyAlgorithm } from "./ca.ts";
import {
  certificateName,
  createSigner,
  createWebCryptoSigner,
  derToP1363,
  keyTypeOf,
  KeyTypes,
  p1363ToDer,
  signBytes,
  SigningKeyError,
  splitPemCertificates,
  UnsupportedKeyError,
  verifyBytes,
} from "./signing.ts";

const FIXTURES = new URL("../../../shared/choria/certs/choria-ruby-spec/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const data = new TextEncoder().encode('{"protocol":"choria:request:1","message":"{}"}');

const ALGORITHMS: [KeyAlgorithm, string, number | undefined][] = [
  ["ed25519", KeyTypes.ed25519, 64],
  ["rsa", KeyTypes.rsa, 256],
  ["ecdsa", KeyTypes.ecdsa, undefined],
];

for (const [algorithm, keyType, length] of ALGORITHMS) {
  Deno.test(`createSigner signs with ${algorithm} keys what the certificate verifies`, async () => {
    const ca = await CertificateAuthority.create();
    const issued = await ca.issue("client", "alice.mcollective", { algorithm });
    const signer = createSigner(issued.cert, issued.key);
    assert.equal(signer.certname, "alice.mcollective");
    assert.equal(signer.keyType, keyType);
    assert.equal(splitPemCertificates(signer.certificate).length, 1);
    const signature = await signer.sign(data);
    if (length !== undefined) assert.equal(signature.length, length);
    const publicKey = new X509Certificate(issued.cert).publicKey;
    assert.ok(verifyBytes(publicKey, data, signature));
    const tampered = data.slice();
    tampered[5] = (tampered[5] ?? 0) ^ 1;
    assert.ok(!verifyBytes(publicKey, tampered, signature), "tampered data");
    assert.ok(!verifyBytes(publicKey, data, signature.subarray(0, 20)), "truncated signature");
    assert.ok(!verifyBytes(publicKey, data, new Uint8Array(0)), "empty signature");
  });

  Deno.test(`createWebCryptoSigner signs with ${algorithm} CryptoKeys what node:crypto verifies`, async () => {
    const ca = await CertificateAuthority.create();
    const issued = await ca.issue("client", "bob.mcollective", { algorithm });
    const der = Uint8Array.fromBase64(issued.key.replace(/-----[^-]+-----|\s/g, ""));
    const params = algorithm === "ed25519"
      ? { name: "Ed25519" }
      : algorithm === "rsa"
      ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
      : { name: "ECDSA", namedCurve: "P-256" };
    const key = await crypto.subtle.importKey("pkcs8", der, params, false, ["sign"]);
    const signer = createWebCryptoSigner(issued.cert, key);
    assert.equal(signer.keyType, keyType);
    const signature = await signer.sign(data);
    assert.ok(verifyBytes(new X509Certificate(issued.cert).publicKey, data, signature));
  });
}

Deno.test("signBytes makes DER ECDSA signatures that Web Crypto verifies once converted", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const signature = signBytes(privateKey, data);
  assert.equal(signature[0], 0x30, "a DER sequence");
  const spki = publicKey.export({ format: "der", type: "spki" });
  const key = await crypto.subtle.importKey(
    "spki",
    new Uint8Array(spki),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const raw = derToP1363(signature);
  assert.equal(raw.length, 64);
  assert.ok(
    await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, data),
  );
  assert.deepEqual(p1363ToDer(raw), signature);
  assert.ok(!verifyBytes(publicKey, data, raw), "P1363 is refused: DER only");
});

Deno.test("p1363ToDer pads integers with the high bit set and strips leading zeros", () => {
  const raw = new Uint8Array(64);
  raw.fill(0x80, 0, 32); // r needs a 0x00 pad
  raw[63] = 1; // s is 1
  const der = p1363ToDer(raw);
  assert.deepEqual([...der.subarray(0, 5)], [0x30, 2 + 33 + 3, 0x02, 33, 0x00]);
  assert.deepEqual([...der.subarray(-3)], [0x02, 1, 1]);
  assert.deepEqual(derToP1363(der), raw);
});

Deno.test("derToP1363 refuses malformed DER with a RangeError", () => {
  for (const bad of [[], [0x31, 0], [0x30, 5, 2, 1, 1], [0x30, 6, 2, 1, 1, 2, 9, 1]]) {
    assert.throws(() => derToP1363(new Uint8Array(bad)), RangeError);
  }
  assert.throws(() => p1363ToDer(new Uint8Array(63)), /length must be even/);
});

Deno.test("createSigner reads the Choria fixture's PKCS#1 RSA-4096 key", async () => {
  const signer = createSigner(fixture("rip.mcollective.pem"), fixture("rip.mcollective.key"));
  assert.equal(signer.certname, "rip.mcollective");
  assert.equal(signer.keyType, KeyTypes.rsa);
  const signature = await signer.sign(data);
  assert.equal(signature.length, 512);
  const cert = new X509Certificate(fixture("rip.mcollective.pem"));
  assert.ok(verifyBytes(cert.publicKey, data, signature));
});

Deno.test("createSigner refuses keys that do not belong to the certificate", async () => {
  const ca = await CertificateAuthority.create();
  const alice = await ca.issue("client", "alice.mcollective");
  const bob = await ca.issue("client", "bob.mcollective");
  assert.throws(
    () => createSigner(alice.cert, bob.key),
    (e: unknown) =>
      e instanceof SigningKeyError && e.name === "SigningKeyError" &&
      /signer for 'alice\.mcollective' as its private key does not match/.test(e.message),
  );
  assert.throws(() => createSigner(alice.cert, "not a key"), /private key cannot be read/);
  assert.throws(() => createSigner("not a cert", alice.key), /certificate is not PEM/);
  const mangled = alice.cert.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA");
  assert.throws(() => createSigner(mangled, alice.key), SigningKeyError);
});

Deno.test("keyTypeOf refuses key types Chorale does not sign with", () => {
  assert.equal(keyTypeOf(generateKeyPairSync("ed25519").publicKey), KeyTypes.ed25519);
  assert.throws(
    () => keyTypeOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey),
    (e: unknown) => e instanceof UnsupportedKeyError && /curve 'secp384r1'/.test(e.message),
  );
  assert.throws(
    () => keyTypeOf(generateKeyPairSync("ed448").publicKey),
    /type 'ed448' is not supported: use Ed25519, RSA or ECDSA P-256/,
  );
});

Deno.test("certificateName reads the CN of Puppet certificates", () => {
  assert.equal(
    certificateName(new X509Certificate(fixture("ca_crt.pem"))),
    "Puppet CA: 4de5cdc2e401.devco.net",
  );
  assert.equal(splitPemCertificates(fixture("ca_crt.pem") + fixture("other_ca.pem")).length, 2);
});
