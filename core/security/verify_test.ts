import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { CertificateAuthority, type KeyAlgorithm } from "./ca.ts";
import { createSigner, type Signer } from "./signing.ts";
import {
  CallerMismatchError,
  CertificateChainError,
  CertificateExpiredError,
  CertificateNameError,
  CertificateNotYetValidError,
  CertificateParseError,
  CertificateVerifier,
  SignatureError,
  type SignedMessage,
  VerificationError,
} from "./verify.ts";

const FIXTURES = new URL("../../../shared/choria/certs/choria-ruby-spec/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const ID = "0123456789abcdef0123456789abcdef";
const DAY = 86_400_000;

async function signed(signer: Signer, callerid = `choria=${signer.certname}`) {
  const message = new TextEncoder().encode(`{"requestid":"${ID}","callerid":"${callerid}"}`);
  return {
    id: ID,
    callerid,
    pubcert: signer.certificate,
    message,
    signature: await signer.sign(message),
  } satisfies SignedMessage;
}

function assertRefused(
  fn: () => unknown,
  type: new (...args: never[]) => VerificationError,
  fragment: RegExp,
) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${(e as Error).name}: ${e}`);
    assert.ok(e instanceof VerificationError);
    assert.equal(e.name, type.name);
    assert.match(e.message, fragment);
    return true;
  });
}

Deno.test("CertificateVerifier verifies the Choria fixture against its CA and not another", async () => {
  const signer = createSigner(fixture("rip.mcollective.pem"), fixture("rip.mcollective.key"));
  const message = await signed(signer);
  const cert = new CertificateVerifier({ ca: fixture("ca_crt.pem") }).verifyMessage(message);
  assert.equal(cert.certname, "rip.mcollective");
  assert.equal(cert.keyType, "rsa");
  assert.ok(cert.client && !cert.privileged);
  assertRefused(
    () => new CertificateVerifier({ ca: fixture("other_ca.pem") }).verifyMessage(message),
    CertificateChainError,
    /'rip\.mcollective' as it does not chain to a trusted CA: it is issued by 'CN=Puppet CA: 4de5cdc2e401\.devco\.net'/,
  );
});

Deno.test("CertificateVerifier refuses the fixture's other.mcollective from an unrelated CA", () => {
  const verifier = new CertificateVerifier({ ca: fixture("ca_crt.pem") });
  assertRefused(
    () => verifier.verifyCertificate(fixture("other.mcollective.pem")),
    CertificateChainError,
    /'other\.mcollective' as it does not chain/,
  );
  // Trusting its CA, it chains but expired in 2021.
  const old = new CertificateVerifier({ ca: fixture("other_ca.pem") });
  assertRefused(
    () => old.verifyCertificate(fixture("other.mcollective.pem")),
    CertificateExpiredError,
    /'other\.mcollective' as its chain expired \('CN=Puppet CA: dev1\.devco\.net'\) at 2020-11-17/,
  );
});

for (const algorithm of ["ed25519", "rsa", "ecdsa"] as KeyAlgorithm[]) {
  Deno.test(`CertificateVerifier verifies ${algorithm} signers from an ${algorithm} CA`, async () => {
    const ca = await CertificateAuthority.create({ algorithm });
    const issued = await ca.issue("client", "alice.mcollective", { algorithm });
    const verifier = new CertificateVerifier({ ca: ca.certPem });
    const cert = verifier.verifyMessage(await signed(createSigner(issued.cert, issued.key)));
    assert.equal(cert.keyType, algorithm);
  });
}

Deno.test("CertificateVerifier refuses each failure with its own error", async () => {
  const ca = await CertificateAuthority.create();
  const other = await CertificateAuthority.create({ name: "Other CA" });
  const verifier = new CertificateVerifier({ ca: ca.certPem });
  const signerOf = async (name: string, issuer = ca, options = {}) => {
    const issued = await issuer.issue("client", name, options);
    return createSigner(issued.cert, issued.key);
  };
  const alice = await signerOf("alice.mcollective");
  const mallory = await signerOf("mallory.mcollective");
  const good = await signed(alice);
  const forged = { ...good, signature: (await signed(mallory)).signature };
  const cases: [string, () => unknown, new (...a: never[]) => VerificationError, RegExp][] = [
    [
      "forged signature",
      () => verifier.verifyMessage(forged),
      SignatureError,
      new RegExp(`request '${ID}' as its signature does not match: signer is alice\\.mcollective`),
    ],
    [
      "truncated signature",
      () => verifier.verifyMessage({ ...good, signature: good.signature.subarray(0, 32) }),
      SignatureError,
      /signature does not match/,
    ],
    [
      "tampered message",
      () => verifier.verifyMessage({ ...good, message: good.message.slice(0, -1) }),
      SignatureError,
      /signature does not match/,
    ],
    [
      "certificate from another CA",
      async () => verifier.verifyMessage(await signed(await signerOf("eve.mcollective", other))),
      CertificateChainError,
      /'eve\.mcollective' as it does not chain to a trusted CA: it is issued by 'CN=Other CA'/,
    ],
    [
      "expired certificate",
      async () =>
        verifier.verifyMessage(
          await signed(
            await signerOf("old.mcollective", ca, {
              notBefore: new Date(Date.now() - 10 * DAY),
              notAfter: new Date(Date.now() - DAY),
            }),
          ),
        ),
      CertificateExpiredError,
      /'old\.mcollective' as it expired at .*: now is/,
    ],
    [
      "certificate not yet valid",
      async () =>
        verifier.verifyMessage(
          await signed(
            await signerOf("early.mcollective", ca, {
              notBefore: new Date(Date.now() + DAY),
              notAfter: new Date(Date.now() + 10 * DAY),
            }),
          ),
        ),
      CertificateNotYetValidError,
      /'early\.mcollective' as it is not valid until/,
    ],
    [
      "caller id of someone else",
      async () => verifier.verifyMessage(await signed(alice, "choria=bob.mcollective")),
      CallerMismatchError,
      /caller id is not its certificate's: caller is choria=bob\.mcollective, signer is alice\.mcollective/,
    ],
    [
      "caller id not choria=",
      async () => verifier.verifyMessage(await signed(alice, "alice.mcollective")),
      CallerMismatchError,
      /caller id is not choria=<certname>: caller is alice\.mcollective/,
    ],
    [
      "name outside the client patterns",
      async () => verifier.verifyMessage(await signed(await signerOf("n1.example.net"))),
      CertificateNameError,
      /certificate 'n1\.example\.net' matches no allowed client pattern: patterns are \\\.mcollective\$, \\\.choria\$/,
    ],
    [
      "pubcert that is not PEM",
      () => verifier.verifyMessage({ ...good, pubcert: "insecure" }),
      CertificateParseError,
      /'pubcert' is not PEM/,
    ],
    [
      "pubcert with a corrupt certificate",
      () =>
        verifier.verifyMessage({
          ...good,
          pubcert: good.pubcert.replace(/\n[A-Za-z0-9+/]{16}/, "\nAAAAAAAAAAAAAAAA"),
        }),
      CertificateParseError,
      /'pubcert' holds a certificate that cannot be read/,
    ],
  ];
  for (const [name, fn, type, fragment] of cases) {
    await assert.rejects(async () => await fn(), (e: unknown) => {
      assert.ok(e instanceof type, `${name}: expected ${type.name}, got ${e}`);
      assert.equal((e as Error).name, type.name, name);
      assert.match((e as Error).message, fragment, name);
      return true;
    });
  }
});

Deno.test("CertificateVerifier lets privileged signers sign for other callers only", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "aaa.privileged.choria");
  const signer = createSigner(issued.cert, issued.key);
  const verifier = new CertificateVerifier({ ca: ca.certPem });
  const cert = verifier.verifyMessage(await signed(signer, "choria=alice"));
  assert.ok(cert.privileged);
  assert.equal(cert.certname, "aaa.privileged.choria");
  // The same name without the privileged patterns is a plain client (it ends in .choria).
  const narrow = new CertificateVerifier({ ca: ca.certPem, privilegedPatterns: [] });
  const forAlice = await signed(signer, "choria=alice");
  assertRefused(
    () => narrow.verifyMessage(forAlice),
    CallerMismatchError,
    /caller is choria=alice, signer is aaa\.privileged\.choria/,
  );
  assert.equal(narrow.verifyMessage(await signed(signer)).certname, "aaa.privileged.choria");
});

Deno.test("CertificateVerifier caches chains yet re-checks dates and signatures", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("client", "alice.mcollective", {
    notAfter: new Date(Date.now() + DAY),
  });
  const signer = createSigner(issued.cert, issued.key);
  const verifier = new CertificateVerifier({ ca: ca.certPem, cacheSize: 2 });
  const good = await signed(signer);
  verifier.verifyMessage(good);
  assert.equal(verifier.cached, 1);
  verifier.verifyMessage(good);
  assert.equal(verifier.cached, 1);
  assertRefused(
    () => verifier.verifyMessage(good, { now: Date.now() + 2 * DAY }),
    CertificateExpiredError,
    /as it expired at/,
  );
  assertRefused(
    () => verifier.verifyMessage({ ...good, signature: new Uint8Array(64) }),
    SignatureError,
    /signature does not match/,
  );
  for (const name of ["bob.mcollective", "carol.mcollective", "dave.mcollective"]) {
    const more = await ca.issue("client", name);
    verifier.verifyMessage(await signed(createSigner(more.cert, more.key)));
  }
  assert.equal(verifier.cached, 2, "bounded by cacheSize");
  verifier.clearCache();
  assert.equal(verifier.cached, 0);
});

// A root, an intermediate and a leaf it issues, made with @peculiar/x509 (ca.ts issues from the
// root only).
async function chain(options: { intermediateNotAfter?: Date } = {}) {
  const alg = { name: "Ed25519" };
  const gen = () =>
    crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
  const [rootKeys, intKeys, leafKeys] = await Promise.all([gen(), gen(), gen()]);
  const notBefore = new Date(Date.now() - 60_000);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Root CA",
    notBefore,
    notAfter: new Date(Date.now() + 10 * DAY),
    keys: rootKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: "02",
    subject: "CN=Intermediate CA",
    issuer: root.subject,
    notBefore,
    notAfter: options.intermediateNotAfter ?? new Date(Date.now() + 5 * DAY),
    publicKey: intKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "03",
    subject: "CN=alice.mcollective",
    issuer: intermediate.subject,
    notBefore,
    notAfter: new Date(Date.now() + 2 * DAY),
    publicKey: leafKeys.publicKey,
    signingKey: intKeys.privateKey,
    signingAlgorithm: alg,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const key = x509.PemConverter.encode(
    await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey),
    "PRIVATE KEY",
  );
  return {
    root: root.toString("pem"),
    intermediate: intermediate.toString("pem"),
    leaf: leaf.toString("pem"),
    key,
  };
}

Deno.test("CertificateVerifier follows intermediates in pubcert to a trusted root", async () => {
  const { root, intermediate, leaf, key } = await chain();
  const verifier = new CertificateVerifier({ ca: root });
  const withChain = createSigner(`${leaf}\n${intermediate}`, key);
  const cert = verifier.verifyMessage(await signed(withChain));
  assert.equal(cert.certname, "alice.mcollective");
  assert.ok(cert.notAfter <= Date.now() + 2 * DAY);
  assertRefused(
    () => verifier.verifyCertificate(leaf),
    CertificateChainError,
    /'alice\.mcollective' as it does not chain to a trusted CA: it is issued by 'CN=Intermediate CA'/,
  );
  // Trusting the intermediate directly works without the chain.
  new CertificateVerifier({ ca: intermediate }).verifyCertificate(leaf);
  assert.throws(
    () =>
      new CertificateVerifier({ ca: root, maxIntermediates: 0 }).verifyCertificate(
        `${leaf}${intermediate}`,
      ),
    CertificateChainError,
  );
});

Deno.test("CertificateVerifier refuses a chain whose intermediate expired", async () => {
  const { root, intermediate, leaf } = await chain({
    intermediateNotAfter: new Date(Date.now() + DAY),
  });
  const verifier = new CertificateVerifier({ ca: root });
  verifier.verifyCertificate(leaf + intermediate);
  assertRefused(
    () => verifier.verifyCertificate(leaf + intermediate, { now: Date.now() + 1.5 * DAY }),
    CertificateExpiredError,
    /'alice\.mcollective' as its chain expired \('CN=Intermediate CA'\)/,
  );
});

Deno.test("CertificateVerifier verifies reply signatures by the sender's certificate", async () => {
  const ca = await CertificateAuthority.create();
  const issued = await ca.issue("server", "n1.example.net");
  const signer = createSigner(issued.cert, issued.key);
  const message = new TextEncoder().encode('{"protocol":"choria:reply:1"}');
  const reply = {
    id: ID,
    senderid: "n1.example.net",
    pubcert: signer.certificate,
    message,
    signature: await signer.sign(message),
  };
  const verifier = new CertificateVerifier({ ca: ca.certPem });
  assert.equal(verifier.verifyReply(reply).certname, "n1.example.net");
  assertRefused(
    () => verifier.verifyReply({ ...reply, senderid: "n2.example.net" }),
    CallerMismatchError,
    /reply to '.*' as its sender id is not its certificate's: sender is n2\.example\.net, signer is n1\.example\.net/,
  );
  assertRefused(
    () => verifier.verifyReply({ ...reply, message: new Uint8Array(3) }),
    SignatureError,
    /reply to '.*' as its signature does not match: signer is n1\.example\.net/,
  );
});

Deno.test("CertificateVerifier refuses CA certificates as signers", () => {
  const ca = fixture("ca_crt.pem");
  assertRefused(
    () => new CertificateVerifier({ ca }).verifyCertificate(ca),
    CertificateChainError,
    /'Puppet CA: 4de5cdc2e401\.devco\.net' as it is a CA certificate/,
  );
});

Deno.test("CertificateVerifier needs a readable CA", () => {
  assert.throws(() => new CertificateVerifier({ ca: "" }), /'ca' holds no PEM certificate/);
});
