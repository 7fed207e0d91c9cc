// Payload encryption for the portal (browser) and Node.js: the age format (age-encryption.org/v1)
// to a member's X25519 key, byte-compatible with gateway/payloads/encryption.py (pyrage).
//
// Keys: MemberRegistry stores a member's encryption key as bytes32, the raw 32-byte X25519 public
// key. Its age recipient is the Bech32 encoding of those bytes with the prefix "age" ("age1…");
// a member's secret is an age identity ("AGE-SECRET-KEY-1…", Bech32 of the private scalar).
// The format itself (header stanzas, HMAC, 64 KiB ChaCha20-Poly1305 STREAM chunks with a counter
// and a last-chunk flag) is documented in gateway/payloads/README.md.
//
// Everything streams: encryptStream/decryptStream take and return WHATWG ReadableStreams of
// Uint8Array, so a large payload never sits in memory. decryptStream's output is authenticated
// chunk by chunk; a failure (wrong key, altered or truncated file) errors the stream, and the
// caller must then discard what it already received (write to a temporary file, rename on success).
//
// Dependencies (pinned in package.json): npm "age-encryption" (typage, by age's author) and
// "@scure/base" (its Bech32). No cryptographic primitive is written here.

import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { bech32 } from "@scure/base";

const RECIPIENT_PREFIX = "age";

/** Raised when a ciphertext cannot be opened: not for this key, or altered, reordered or truncated. */
export class DecryptionFailed extends Error {
  constructor(reason, options) {
    super(`decryption failed: ${reason}`, options);
    this.name = "DecryptionFailed";
    this.reason = reason;
  }
}

/** Raised when a public key, recipient or identity cannot be parsed. */
export class InvalidKey extends Error {
  constructor(detail) {
    super(`invalid key: ${detail}`);
    this.name = "InvalidKey";
  }
}

function hexToBytes(hex) {
  const clean = hex.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]*$/.test(clean) || clean.length % 2) {
    throw new InvalidKey(`expected hex digits, got ${JSON.stringify(hex.slice(0, 24))}`);
  }
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A member's X25519 public key as 32 bytes, from a Uint8Array, hex (MemberRegistry bytes32, "0x"
 * optional) or an age recipient string.
 */
export function parsePublicKey(key) {
  let bytes;
  if (key instanceof Uint8Array) {
    bytes = key;
  } else if (typeof key === "string" && key.trim().toLowerCase().startsWith("age1")) {
    bytes = publicKeyFromRecipient(key);
  } else if (typeof key === "string") {
    bytes = hexToBytes(key);
  } else {
    throw new InvalidKey("expected bytes, hex or an age1… recipient");
  }
  if (bytes.length !== 32) throw new InvalidKey(`an X25519 public key is 32 bytes, got ${bytes.length}`);
  if (bytes.every((b) => b === 0)) throw new InvalidKey("the all-zero X25519 public key (an unset MemberRegistry key)");
  return bytes;
}

/** The age recipient ("age1…") of a member's X25519 public key (bytes32 from MemberRegistry). */
export function recipientFromPublicKey(key) {
  return bech32.encode(RECIPIENT_PREFIX, bech32.toWords(parsePublicKey(key)), false);
}

/** The raw 32-byte X25519 public key inside an age recipient string. */
export function publicKeyFromRecipient(recipient) {
  let decoded;
  try {
    decoded = bech32.decodeToBytes(recipient.trim().toLowerCase(), false);
  } catch (error) {
    throw new InvalidKey(`not an age recipient: ${error.message}`);
  }
  if (decoded.prefix !== RECIPIENT_PREFIX || decoded.bytes.length !== 32) {
    throw new InvalidKey("not an age X25519 recipient");
  }
  return decoded.bytes;
}

/** A new X25519 key pair: { identity, recipient, publicKey (Uint8Array), publicKeyHex }. */
export async function generateKeyPair() {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const publicKey = publicKeyFromRecipient(recipient);
  return { identity, recipient, publicKey, publicKeyHex: "0x" + bytesToHex(publicKey) };
}

/** The age recipient ("age1…") of an identity: lets a member check that a key file matches the
 * X25519 key the registry holds for them before relying on it. */
export async function recipientOfIdentity(identity) {
  try {
    return await identityToRecipient(identity.trim());
  } catch (error) {
    throw new InvalidKey(`not an age X25519 identity: ${error.message}`);
  }
}

/** The identity line of an age key file (`cityledger payload keygen`): the first AGE-SECRET-KEY-1… line. */
export function identityFromKeyFile(text) {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.toUpperCase().startsWith("AGE-SECRET-KEY-1"));
  if (!line) throw new InvalidKey("no AGE-SECRET-KEY-1… line in the key file");
  return line;
}

function explain(error) {
  const text = String(error?.message ?? error);
  if (text.includes("no identity matched")) return "the file is not encrypted to this key";
  if (text.includes("header") || text.includes("stanza") || text.includes("version")) {
    return `not an age-encrypted file, or its header is damaged (${text})`;
  }
  return "a ciphertext chunk failed authentication: the file was altered or cut short " +
    `(a changed byte; a reordered, dropped or truncated chunk) (${text})`;
}

/** Encrypt a ReadableStream<Uint8Array> to a member's key; returns the age file as a ReadableStream. */
export async function encryptStream(plaintext, publicKey) {
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipientFromPublicKey(publicKey));
  return encrypter.encrypt(plaintext);
}

/**
 * Decrypt an age file (ReadableStream<Uint8Array>) with an identity string. The returned stream
 * errors with DecryptionFailed on a wrong key or an altered file; discard its output then.
 */
export async function decryptStream(ciphertext, identity) {
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity.trim());
  let plaintext;
  try {
    plaintext = await decrypter.decrypt(ciphertext);
  } catch (error) {
    throw new DecryptionFailed(explain(error), { cause: error });
  }
  const reader = plaintext.getReader();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(new DecryptionFailed(explain(error), { cause: error }));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Encrypt bytes in memory (small payloads). */
export async function encryptBytes(bytes, publicKey) {
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipientFromPublicKey(publicKey));
  return encrypter.encrypt(bytes);
}

/** Decrypt bytes in memory (small payloads); throws DecryptionFailed. */
export async function decryptBytes(bytes, identity) {
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity.trim());
  try {
    return await decrypter.decrypt(bytes);
  } catch (error) {
    throw new DecryptionFailed(explain(error), { cause: error });
  }
}
