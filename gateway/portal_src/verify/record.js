// One record's proof as the gateway serves it (`record.proof`, gateway/proofs.py), verified in the
// browser before the page shows the record as verified: the receipt checks, the seal against the
// sealer set in force at the parent block (derived from a pinned genesis: deriveSealerSet), and
// the log decoded with the contracts' own event ABIs (shipped in this bundle from
// contracts/artifacts) at the pinned contract address; optionally compared with what the page
// is about to show (`expect`).

import { equalBytes, keccak256, toHex, utf8 } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { abiType, pyEqual } from "./abi.js";
import { decodeLog, SealerSet } from "./bundle.js";
import { hexField, verifyReceipt } from "./receipt.js";
import { verifyBatchPath } from "./batch.js";
import { verifyCommit } from "./commit.js";

/**
 * The event ABIs of the contracts ({Contract: [{name, inputs, signature}]}) with their pinned
 * addresses ({Contract: "0x…"}): a lookup by (address, topic0).
 */
export function eventTable(abis, addresses) {
  const table = new Map();
  for (const [contract, events] of Object.entries(abis)) {
    const address = addresses?.[contract]?.address ?? addresses?.[contract];
    if (typeof address !== "string") continue;
    for (const event of events) {
      const signature = event.signature ?? `${event.name}(${event.inputs.map(abiType).join(",")})`;
      table.set(`${address.toLowerCase()}:${toHex(keccak256(utf8(signature)))}`,
        { contract, address, event: event.name, signature, inputs: event.inputs });
    }
  }
  return table;
}

function sealersAt(options, number) {
  if (options.sealerSet instanceof SealerSet) return options.sealerSet.atParentOf(number);
  if (Array.isArray(options.sealers)) return options.sealers.map((a) => (a instanceof Uint8Array ? a : hexField(a, "sealers")));
  return null;
}

function receiptChecks(proof, options) {
  const proven = verifyReceipt(proof, options.chainId ?? null);
  if (options.poa !== false) {
    const sealers = sealersAt(options, proven.header.number);
    if (sealers === null) throw new CheckFailed("seal", "no sealer set to check the seal against (derive it from the pinned genesis)");
    const signer = proven.header.sealer();
    if (!sealers.some((s) => equalBytes(s, signer))) {
      throw new CheckFailed("seal", `block ${proven.header.number} is sealed by ${toHex(signer)}, not by a sealer in force at block ${proven.header.number - 1}`);
    }
  }
  // CometBFT: a proof that carries a commit, or any proof once a CometBFT genesis is pinned, is
  // final only with a commit by > 2/3 of the pinned validator set (./commit.js).
  if (proof.commit !== undefined || options.cometbft) {
    const pinned = options.cometbft;
    if (!pinned) throw new CheckFailed("commit", "no CometBFT validator set pinned to check the block's commit against");
    const chain = proof.commit?.signedHeader?.header?.chain_id;
    if (proof.commit && chain !== pinned.chainId) throw new CheckFailed("commit", `header: the commit is for CometBFT chain ${chain}, the pinned one is ${pinned.chainId}`);
    verifyCommit(proof.commit, proven.header.hash, pinned.validators);
  }
  return proven;
}

function content(proven, options) {
  if (!options.events) return null;
  const topic0 = proven.topics[0];
  const key = `${toHex(proven.address)}:${topic0 ? toHex(topic0) : ""}`;
  const abi = options.events.get(key);
  if (!abi) throw new CheckFailed("log-content", `the proven log (from ${toHex(proven.address)}) is not an event of a pinned contract`);
  const args = decodeLog({ ...abi, event: abi.event }, proven);
  const expect = options.expect;
  if (expect) {
    if (expect.contract && expect.contract !== abi.contract) throw new CheckFailed("log-content", `the proven log is a ${abi.contract} event, not ${expect.contract}`);
    if (expect.event && expect.event !== abi.event) throw new CheckFailed("log-content", `the proven log is ${abi.event}, not ${expect.event}`);
    for (const [name, value] of Object.entries(expect.args ?? {})) {
      if (!pyEqual(args[name], value)) throw new CheckFailed("log-content", `the proven ${abi.event}.${name} differs from the record's`);
    }
  }
  return { contract: abi.contract, event: abi.event, args };
}

/**
 * Verify the `proof` of one served record.
 *
 * options: {chainId, sealerSet (from deriveSealerSet) | sealers: [hex], poa (default true),
 *           cometbft: {chainId, validators} (a pinned CometBFT genesis, trustFrom): commits checked,
 *           events: eventTable(...) to decode the log, expect: {contract?, event?, args?}}.
 * Returns {ok, results: [{check, subject, ok, detail}], log: {contract, event, args} | null,
 * blockNumber, timestamp}; one result: "event" when every check passed, else the failing check.
 */
export function verifyRecordProof(record, options = {}, subject = "record") {
  const proof = record?.proof ?? record;
  let log = null;
  let proven = null;
  try {
    if (proof?.type === "batch") {
      proven = verifyBatchProofChecks(proof, options);
      log = proven.log;
    } else {
      proven = receiptChecks(proof, options);
      log = content(proven, options);
    }
  } catch (error) {
    const failed = error instanceof CheckFailed ? error : new CheckFailed("format", `malformed: ${error?.message ?? error}`);
    return { ok: false, results: [{ check: failed.check, subject, ok: false, detail: failed.detail }], log: null };
  }
  const header = proven.header;
  return {
    ok: true,
    results: [{ check: "event", subject, ok: true, detail: `block ${header.number}` }],
    log, blockNumber: header.number, timestamp: header.timestamp,
  };
}

/**
 * A batch proof (proof.schema.json "batch"): the leaf's positional Merkle path to `root`
 * (contracts/README.md "Batch tree: positional"), and `anchor`, the receipt proof of the
 * Credit.BatchAnchored event that put `root` on chain (its merkleRoot must be `root`).
 * Check names: "batch-path" for a path that does not reach the root, "log-content" for an anchor
 * that does not anchor this root, and the receipt checks for the anchor.
 */
function verifyBatchProofChecks(proof, options) {
  const leaf = hexField(proof.leaf, "leaf");
  const root = hexField(proof.root, "root");
  if (!Array.isArray(proof.path)) throw new CheckFailed("format", "path must be a list of sibling hashes");
  const path = proof.path.map((h) => hexField(h, "path"));
  if (!Number.isInteger(proof.index) || proof.index < 0) throw new CheckFailed("format", "index must be a non-negative integer");
  if (!verifyBatchPath(leaf, proof.index, path, root)) throw new CheckFailed("batch-path", `the path of index ${proof.index} does not lead to root ${toHex(root)}`);
  const proven = receiptChecks(proof.anchor, options);
  const log = content(proven, { ...options, expect: { contract: "Credit", event: "BatchAnchored" } });
  if (log === null) throw new CheckFailed("log-content", "no event ABIs to decode the anchor with");
  if (log.args.merkleRoot !== toHex(root)) throw new CheckFailed("log-content", `the anchor anchors ${log.args.merkleRoot}, not ${toHex(root)}`);
  if (proof.batchId !== undefined && !pyEqual(log.args.batchId, proof.batchId)) throw new CheckFailed("log-content", `the anchor is batch ${log.args.batchId}, not ${proof.batchId}`);
  return { header: proven.header, log };
}
