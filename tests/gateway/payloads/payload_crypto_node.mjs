// Runs gateway/portal_src/payload-crypto.mjs (the module the portal loads) under Node.js for the
// interoperability tests: files in, files out, through the module's streaming API.
//   node payload_crypto_node.mjs encrypt PUBLIC_KEY IN OUT
//   node payload_crypto_node.mjs decrypt KEYFILE IN OUT   (OUT only appears if all of IN authenticates)
//   node payload_crypto_node.mjs keygen                    (prints a JSON key pair)
//   node payload_crypto_node.mjs recipient PUBLIC_KEY       (prints the age1… recipient)
import { createReadStream, createWriteStream, readFileSync, renameSync, rmSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import * as crypto from "../../../gateway/portal_src/payload-crypto.mjs";

const [command, ...args] = process.argv.slice(2);

async function pipeToFile(stream, out) {
  const temp = `${out}.partial`;
  try {
    await stream.pipeTo(Writable.toWeb(createWriteStream(temp)));
    renameSync(temp, out);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

try {
  if (command === "encrypt") {
    const [key, input, out] = args;
    await pipeToFile(await crypto.encryptStream(Readable.toWeb(createReadStream(input)), key), out);
  } else if (command === "decrypt") {
    const [keyFile, input, out] = args;
    const identity = crypto.identityFromKeyFile(readFileSync(keyFile, "utf8"));
    await pipeToFile(await crypto.decryptStream(Readable.toWeb(createReadStream(input)), identity), out);
  } else if (command === "keygen") {
    const pair = await crypto.generateKeyPair();
    console.log(JSON.stringify({ identity: pair.identity, recipient: pair.recipient, publicKeyHex: pair.publicKeyHex }));
  } else if (command === "recipient") {
    console.log(crypto.recipientFromPublicKey(args[0]));
  } else {
    console.error(`unknown command ${command}`);
    process.exit(2);
  }
} catch (error) {
  console.error(`${error.name}: ${error.message}`);
  process.exit(error instanceof crypto.DecryptionFailed ? 1 : 2);
}
