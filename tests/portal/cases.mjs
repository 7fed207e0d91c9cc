// Node.js side of tests/portal: runs the *built* verifier (gateway/portal/static/cityledger-verify.js)
// on what the Python tests hand it and prints JSON verdicts for them to compare with audit's and
// the gateway's own Python code.
//
//   node cases.mjs vectors VECTORS_DIR NAME…   -> {name: {ok, results}}
//   node cases.mjs records VECTORS_DIR         -> runTraceRecords(...)
//   node cases.mjs payloads < [{path, chunkSize?, maxLinks?}]  -> [{size, sha256, cid}]
//   node cases.mjs codes < {uscc: [text], receipt: [text], short: [hex]}
//   node cases.mjs batch < {leaves: [leaf], index}
//   node cases.mjs bundles < [{bundle, cometbftGenesis?, addressbook?}]  -> [{ok, results}]
//   node cases.mjs proofs < [{proof, cometbftGenesis?}]  -> [verifyRecordProof(...)] (poa false)

import { openAsBlob, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runTraceRecords, runVectors } from "./vector_runner.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const lib = await import(pathToFileURL(process.env.CITYLEDGER_VERIFY_JS ?? path.join(ROOT, "gateway/portal/static/cityledger-verify.js")).href);

const [command, ...args] = process.argv.slice(2);
const stdin = () => JSON.parse(readFileSync(0, "utf8"));
const loader = (dir) => async (relative) => JSON.parse(readFileSync(path.join(dir, relative), "utf8"));
const replacer = (_key, value) => (typeof value === "bigint" ? value.toString() : value);

let result;
if (command === "vectors") {
  const [dir, ...names] = args;
  result = await runVectors(lib, names, loader(dir));
} else if (command === "records") {
  result = await runTraceRecords(lib, loader(args[0]));
} else if (command === "payloads") {
  result = [];
  for (const item of stdin()) {
    const blob = await openAsBlob(item.path); // a Blob, streamed like a dropped File
    const options = {};
    if (item.chunkSize) options.chunkSize = item.chunkSize;
    if (item.maxLinks) options.maxLinks = item.maxLinks;
    const hashed = await lib.hashPayload(blob, options);
    const check = await lib.verifyPayload(await openAsBlob(item.path), { cid: item.expectCid ?? hashed.cid, sha256: item.expectSha256 ?? hashed.sha256 }, options);
    result.push({ ...hashed, check: { check: check.check, ok: check.ok } });
  }
} else if (command === "codes") {
  const input = stdin();
  result = {
    uscc: input.uscc.map((t) => lib.parseUscc(t)),
    receipt: input.receipt.map((t) => lib.parseReceiptCode(t)),
    short: input.short.map((h) => lib.shortReceiptCode(h)),
  };
} else if (command === "batch") {
  const { leaves, index } = stdin();
  const hashes = leaves.map((leaf) => lib.batchLeafHash(leaf));
  const root = lib.batchRoot(hashes);
  const pathNodes = lib.batchPath(hashes, index);
  result = {
    leaves: hashes.map(lib.toHex), root: lib.toHex(root), path: pathNodes.map(lib.toHex),
    verifies: lib.verifyBatchPath(hashes[index], index, pathNodes, root),
    wrongIndex: lib.verifyBatchPath(hashes[index], index ^ 1, pathNodes, root),
  };
} else if (command === "proofs") {
  result = stdin().map(({ proof, cometbftGenesis }) => lib.verifyRecordProof({ proof },
    { poa: false, cometbft: cometbftGenesis ? lib.trustFrom({ cometbftGenesis }).cometbft : null }));
} else if (command === "bundles") {
  result = stdin().map(({ bundle, cometbftGenesis, addressbook }) =>
    lib.verifyBundle(bundle, lib.trustFrom({ cometbftGenesis: cometbftGenesis ?? null, addressbook: addressbook ?? null })));
} else {
  console.error(`cases.mjs: unknown command ${command}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(result, replacer));
