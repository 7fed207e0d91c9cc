// Evidence bundles (`cityledger-evidence/1`, gateway/schemas/evidence.schema.json) verified in the
// browser with the same checks, names, order and trust model as audit/bundle.py `verify_bundle`:
//
// * trust: the auditor pins the genesis by its block hash (address book `deployment.blockHash`),
//   by the sealer set of the genesis document (`registry.sealers`), or both;
// * `genesis`: the genesis sealer set is read from an EIP-1186 proof of the registry's storage
//   in the pinned block's state (length at `sealerSlot`, element i at keccak256(pad32(slot)) + i);
// * `sealer-change`: each SealersChanged event is proven (and its block sealed by the set before
//   it) and the set it lists applies from the next block;
// * each event: `header-hash`, `block-number`, `tx-proof`, `tx-hash`, `receipt-proof`,
//   `receipt-status`, `log-index`, `seal` (by a sealer in force at the parent), `log-content`
//   (the log decodes with the stated ABI to exactly the stated arguments); `format` for anything
//   malformed. Every check runs; a failure never stops the others.
//
// * on a CometBFT chain (`consensus: "cometbft"`): `commit`, one per block in the order of the
//   events, in place of `seal` (./commit.js), against the validator set of the CometBFT genesis
//   the auditor pins (trustFrom({cometbftGenesis})), which the bundle's `cometbft` section must
//   state; that genesis' app hash also pins the genesis hash.
// * each credit batch entry (`batchEntries`): `batch-anchor` (its anchor is a proven
//   BatchAnchored event of its batch, issuer and category, its index below the entry count),
//   `batch-leaf` (a public leaf well formed, a restricted one with nothing readable) and
//   `batch-path` (its leaf and path lead to the anchored root), as audit/credit_batch.py.
//
// Results: [{check, subject, ok, detail}] with audit's check names and subjects; a passed event is
// reported as check "event", a passed change as "sealer-change", the genesis as "genesis".

import { bigIntToBytes, bytesToBigInt, equalBytes, keccak256, pyStr, toHex } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { abiType, decodeData, decodeTopic, indexedAsHash, jsonValue, pyEqual, topicOf } from "./abi.js";
import { decodeHeader } from "./header.js";
import { hexField, verifyReceipt } from "./receipt.js";
import { slotValue, verifyAccountProof } from "./state.js";
import { checksumAddress } from "./bytes.js";
import * as tlog from "./tlog.js";
import { parseValidators, sameValidators, verifyCommit } from "./commit.js";
import { verifyBatchEntry } from "./batch.js";

export const FORMAT = "cityledger-evidence/1";
export const CHECKS = Object.freeze(["format", "genesis", "sealer-change", "header-hash", "block-number", "tx-proof", "tx-hash",
  "receipt-proof", "receipt-status", "log-index", "log-content", "seal", "commit", "payload", "checkpoint", "inclusion", "cosignature",
  "batch-anchor", "batch-leaf", "batch-path"]);

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Normalise what the auditor pinned: {chainId?, genesisHash?, genesisSealers?} with hex strings,
 * or build it from the files an auditor holds: trustFrom({addressbook, genesis}).
 */
export function normalizeTrust(trust = {}) {
  const hash = trust.genesisHash ?? null;
  const sealers = trust.genesisSealers ?? null;
  return {
    chainId: trust.chainId ?? null,
    genesisHash: hash === null ? null : hash instanceof Uint8Array ? hash : hexField(hash, "trust.genesisHash"),
    genesisSealers: sealers === null ? null : sealers.map((a) => (a instanceof Uint8Array ? a : hexField(a, "trust.genesisSealers"))),
    // Witness keys the auditor pinned (vkeys, `cityledger audit verify --witness-key`) and the
    // number of valid cosignatures a checkpoint must carry (`--min-cosignatures`).
    witnessKeys: (trust.witnessKeys ?? []).map((k) => (typeof k === "string" ? tlog.parseVkey(k) : k)),
    minCosignatures: trust.minCosignatures ?? 0,
    // From a pinned CometBFT genesis: {chainId, validators} (validators parsed by ./commit.js).
    cometbft: trust.cometbft ? { chainId: String(trust.cometbft.chainId), validators: trust.cometbft.validators } : null,
  };
}

/** Trust from an address book (scripts/deploy) and/or a genesis document (node genesis.json). */
export function trustFrom({ addressbook = null, genesis = null, cometbftGenesis = null } = {}) {
  const trust = {};
  if (cometbftGenesis) {
    trust.cometbft = { chainId: cometbftGenesis.chain_id, validators: parseValidators(cometbftGenesis.validators) };
    if (cometbftGenesis.app_hash) trust.genesisHash = `0x${String(cometbftGenesis.app_hash).toLowerCase()}`;
  }
  if (addressbook) {
    trust.chainId = addressbook.chainId;
    trust.genesisHash ??= addressbook.deployment?.blockHash;
  }
  if (genesis) {
    trust.chainId ??= genesis.chainId ?? genesis.config?.chainId;
    trust.genesisSealers = genesis.registry?.sealers;
  }
  return normalizeTrust(trust);
}

/** The sealer set in force at every height: genesis, then each proven change from the next block on. */
export class SealerSet {
  constructor(genesis) {
    this.changes = [[-1, genesis]];
  }

  /** The set that may seal block `number` (the set in force after block number - 1). */
  atParentOf(number) {
    let current = this.changes[0][1];
    for (const [changedAt, sealers] of this.changes) if (changedAt < number) current = sealers;
    return current;
  }

  add(number, sealers) {
    this.changes.push([number, sealers]);
  }
}

class Report {
  constructor() {
    this.results = [];
  }

  add(check, subject, ok, detail = "") {
    this.results.push({ check, subject, ok, detail });
    return ok;
  }

  get ok() {
    return this.results.length > 0 && this.results.every((r) => r.ok);
  }

  toJSON() {
    return { ok: this.ok, results: this.results };
  }
}

/** Decode a proven log with the event ABI the bundle states (checks signature, address, topic0). */
export function decodeLog(event, log) {
  const inputs = event.inputs;
  const signature = event.signature;
  if (!Array.isArray(inputs) || typeof signature !== "string") throw new CheckFailed("format", "an event needs its signature and ABI inputs");
  const expected = `${pyStr(event.event)}(${inputs.map(abiType).join(",")})`;
  if (signature !== expected) throw new CheckFailed("log-content", `the signature ${signature} does not match the inputs (${expected})`);
  if (!equalBytes(log.address, hexField(event.address, "address"))) {
    throw new CheckFailed("log-content", `the log is from ${checksumAddress(log.address)}, not ${pyStr(event.address)}`);
  }
  if (!log.topics.length || !equalBytes(log.topics[0], topicOf(signature))) {
    throw new CheckFailed("log-content", `the log's topic0 is not keccak256(${signature})`);
  }
  const indexed = inputs.filter((p) => p.indexed);
  const plain = inputs.filter((p) => !p.indexed);
  if (log.topics.length !== 1 + indexed.length) {
    throw new CheckFailed("log-content", `${log.topics.length} topics for ${indexed.length} indexed inputs`);
  }
  const out = {};
  try {
    indexed.forEach((param, i) => {
      const topic = log.topics[i + 1];
      out[param.name] = indexedAsHash(param) ? toHex(topic) : jsonValue(param, decodeTopic(param, topic));
    });
  } catch (error) {
    throw new CheckFailed("log-content", `an indexed topic does not decode with the stated ABI: ${error.message}`);
  }
  let values;
  try {
    values = decodeData(plain, log.data);
  } catch (error) {
    throw new CheckFailed("log-content", `the log's data does not decode with the stated ABI: ${error.message}`);
  }
  plain.forEach((param, i) => { out[param.name] = jsonValue(param, values[i]); });
  const ordered = {};
  for (const p of inputs) ordered[p.name] = out[p.name];
  return ordered;
}

function genesisSection(genesis, trust, poa, report) {
  const subject = "genesis";
  if (!isObject(genesis)) {
    report.add("genesis", subject, false, "the bundle has no genesis section");
    return [];
  }
  let proven;
  let header;
  try {
    const blockHash = hexField(genesis.blockHash, "genesis.blockHash");
    if (trust.genesisHash !== null && !equalBytes(blockHash, trust.genesisHash)) {
      throw new CheckFailed("genesis", `the bundle starts from ${toHex(blockHash)}, the pinned genesis is ${toHex(trust.genesisHash)}`);
    }
    const claimed = listOr(genesis.sealers).map((a) => hexField(a, "genesis.sealers"));
    if (!poa) {
      report.add("genesis", subject, trust.genesisHash !== null, trust.genesisHash !== null
        ? "chain without seals: the pinned genesis hash matches"
        : "chain without seals: only the genesis hash can be pinned, and none was");
      return [];
    }
    const proof = genesis.sealersProof;
    if (!isObject(proof)) throw new CheckFailed("genesis", "no state proof of the genesis sealer set");
    header = decodeHeader(hexField(proof.header, "genesis.header"));
    if (!equalBytes(header.hash, blockHash)) {
      throw new CheckFailed("genesis", `the state proof's header hashes to ${toHex(header.hash)}, not ${toHex(blockHash)}`);
    }
    try {
      const account = verifyAccountProof(header.stateRoot, proof.account);
      if (!("sealerSlot" in genesis)) throw new Error("no sealerSlot");
      const slot = pyInt(genesis.sealerSlot);
      const length = slotValue(account, slot);
      const base = bytesToBigInt(keccak256(bigIntToBytes(slot, 32)));
      proven = [];
      for (let i = 0n; i < length; i++) proven.push(bigIntToBytes(slotValue(account, base + i), 32).slice(12));
    } catch (error) {
      if (error instanceof CheckFailed) throw error;
      throw new CheckFailed("genesis", `the sealer set's state proof does not verify: ${error.message}`);
    }
    if (!equalBytes(hexField(proof.account.address, "registry"), hexField(genesis.registry, "genesis.registry"))) {
      throw new CheckFailed("genesis", "the state proof is for another account than the registry");
    }
    if (!sameList(proven, claimed)) throw new CheckFailed("genesis", "the proven genesis sealer set differs from the one the bundle states");
    if (trust.genesisSealers !== null && !sameList(trust.genesisSealers, proven)) {
      throw new CheckFailed("genesis", "the proven genesis sealer set differs from the pinned genesis document's");
    }
    if (trust.genesisHash === null && trust.genesisSealers === null) {
      throw new CheckFailed("genesis", "nothing pinned: pass the genesis document or the address book to trust");
    }
  } catch (error) {
    const failed = asFailed(error);
    report.add(failed.check, subject, false, failed.detail);
    return [];
  }
  report.add("genesis", subject, true, `${proven.length} sealer(s) proven at block ${header.number}`);
  return proven;
}

/** Python int() of a JSON value (integers, integral floats, decimal strings). */
function pyInt(value) {
  if (typeof value === "number" && Number.isFinite(value)) return BigInt(Math.trunc(value));
  if (typeof value === "boolean") return value ? 1n : 0n;
  if (typeof value === "string" && /^\s*[+-]?[0-9]+\s*$/.test(value)) return BigInt(value.trim());
  throw new Error(`invalid literal for int(): ${pyStr(value)}`);
}

/** audit iterates `x or []`: null, missing and empty values are an empty list. */
function listOr(value) {
  if (value === undefined || value === null || value === false || value === 0 || value === "") return [];
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return Array.from(value);
  if (isObject(value)) return Object.keys(value);
  throw new CheckFailed("format", `expected a list, got ${pyStr(value)}`);
}

const sameList = (a, b) => a.length === b.length && a.every((x, i) => equalBytes(x, b[i]));

function asFailed(error) {
  if (error instanceof CheckFailed) return error;
  return new CheckFailed("format", `malformed: ${error?.message ?? error}`);
}

/**
 * Verify one event section (receipt proof, seal against `sets`, log content); adds one result.
 * Returns the decoded arguments, or null when a check failed.
 */
function eventSection(event, chainId, sets, report, subject, checkPrefix) {
  if (!isObject(event)) {
    report.add("format", subject, false, "expected an object");
    return null;
  }
  let proven;
  let args;
  try {
    proven = verifyReceipt(event.proof ?? {}, Number.isInteger(chainId) ? chainId : null);
    if (sets !== null) {
      const number = proven.header.number;
      const sealers = sets.atParentOf(number);
      const signer = proven.header.sealer();
      if (!sealers.some((s) => equalBytes(s, signer))) {
        throw new CheckFailed("seal", `block ${number} is sealed by ${toHex(signer)}, not by a sealer in force at block ${number - 1} (${sealers.map(toHex).join(", ") || "none"})`);
      }
    }
    args = decodeLog(event, proven);
    if (!pyEqual(args, event.args)) {
      const stated = isObject(event.args) ? event.args : {};
      const differing = Object.keys(args).filter((k) => !pyEqual(args[k], stated[k])).sort();
      throw new CheckFailed("log-content", `the proven log's arguments differ from the bundle's in ${differing.join(", ") || "their names"}`);
    }
  } catch (error) {
    const failed = asFailed(error);
    report.add(checkPrefix ?? failed.check, subject, false, checkPrefix ? `${failed.check}: ${failed.detail}` : failed.detail);
    return null;
  }
  report.add(checkPrefix ?? "event", subject, true,
    `block ${proven.header.number}` + (sets !== null ? ", sealed by a sealer in force" : ", no seal (chain without seals)"));
  return { args, proven };
}

/**
 * Derive the sealer set from a bundle's genesis and sealer changes (the `genesis` and
 * `sealer-change` checks). Returns {ok, results, sealerSet, poa}; sealerSet is null on a chain
 * without seals.
 */
export function deriveSealerSet(bundle, trust) {
  const pinned = normalizeTrust(trust);
  const report = new Report();
  const poa = bundle?.consensus === "cityledger-poa";
  const sets = sealerChanges(bundle, pinned, poa, report);
  return { ok: report.ok, results: report.results, sealerSet: poa ? sets : null, poa };
}

function sealerChanges(doc, trust, poa, report) {
  const chainId = doc.chainId;
  const sets = new SealerSet(genesisSection(doc.genesis, trust, poa, report));
  let changes;
  try {
    changes = listOr(doc.sealerChanges);
  } catch (error) {
    report.add("format", "bundle", false, asFailed(error).detail);
    return sets;
  }
  changes.forEach((change, i) => {
    const subject = `sealer change ${i} (block ${isObject(change) ? pyStr(change.blockNumber) : "?"})`;
    const done = eventSection(change, chainId, poa ? sets : null, report, subject, "sealer-change");
    if (done === null) return;
    const last = report.results.pop(); // replaced below by the outcome of the set comparison
    try {
      const claimed = listOr(change.sealers).map((a) => hexField(a, "sealers"));
      const provenSealers = listOr(done.args.sealers).map((a) => hexField(a, "sealers"));
      if (change.event !== "SealersChanged" || !sameList(provenSealers, claimed)) {
        report.add("sealer-change", subject, false, "the proven SealersChanged log does not list the claimed sealers");
        return;
      }
      sets.add(Number(pyInt(change.blockNumber)), provenSealers);
    } catch (error) {
      report.add("sealer-change", subject, false, `format: ${asFailed(error).detail}`);
      return;
    }
    report.results.push(last);
  });
  return sets;
}

/** Run every check on an evidence bundle; returns {ok, results: [{check, subject, ok, detail}]}. */
export function verifyBundle(doc, trust) {
  const pinned = normalizeTrust(trust);
  const report = new Report();
  if (!isObject(doc) || doc.format !== FORMAT) {
    report.add("format", "bundle", false, `"format" must be '${FORMAT}'`);
    return report.toJSON();
  }
  const chainId = doc.chainId;
  if (pinned.chainId !== null && chainId !== pinned.chainId) {
    report.add("format", "bundle", false, `the bundle is for chain ${pyStr(chainId)}, the pinned chain is ${pinned.chainId}`);
    return report.toJSON();
  }
  const poa = doc.consensus === "cityledger-poa";
  const trusted = pinned.genesisHash === null && pinned.witnessKeys.length ? trustFromWitnesses(doc.checkpoint, pinned, report) : pinned;
  const sets = sealerChanges(doc, trusted, poa, report);
  const events = doc.events;
  if (!Array.isArray(events) || !events.length) report.add("format", "bundle", false, "the bundle proves no event");
  let list;
  try {
    list = listOr(events);
  } catch {
    list = [];
  }
  const proven = list.map((event, i) => {
    const name = isObject(event) ? `${pyStr(event.contract)}.${pyStr(event.event)}` : "?";
    return eventSection(event, chainId, poa ? sets : null, report, `event ${i} (${name})`, null);
  });
  if (doc.consensus === "cometbft") commitsSection(doc, list, trusted, report);
  let entries;
  try {
    entries = listOr(doc.batchEntries);
  } catch (error) {
    report.add("format", "batch entries", false, asFailed(error).detail);
    entries = [];
  }
  for (const entry of entries) batchEntrySection(entry, list, proven, report);
  checkpointSection(doc, trusted, sets, report);
  return report.toJSON();
}

/**
 * A credit batch entry (`batchEntries`, audit/bundle.py _batch_entry): its leaf and path against
 * the proven BatchAnchored event it names (`anchorEvent`, an index into `events`).
 */
function batchEntrySection(entry, events, proven, report) {
  if (!isObject(entry)) {
    report.add("format", "batch entry", false, "expected an object");
    return;
  }
  const subject = `batch entry ${pyStr(entry.batchId)}/${pyStr(entry.index)}`;
  const position = entry.anchorEvent;
  if (!Number.isInteger(position) || position < 0 || position >= proven.length || !proven[position]) {
    report.add("batch-anchor", subject, false, "names no proven event as its anchor");
    return;
  }
  if (!isObject(events[position]) || events[position].event !== "BatchAnchored") {
    report.add("batch-anchor", subject, false, "its anchor event is not a BatchAnchored event");
    return;
  }
  try {
    report.add("batch-path", subject, true, verifyBatchEntry(entry, proven[position].args));
  } catch (error) {
    const failed = asFailed(error);
    report.add(failed.check, subject, false, failed.detail);
  }
}

/** The `commit` check of each block the events are in (audit/bundle.py _commits). */
function commitsSection(doc, events, trust, report) {
  const anchor = doc.cometbft;
  const pinned = trust.cometbft;
  let problem = null;
  if (!pinned) problem = "no CometBFT validator set pinned: pass the network's CometBFT genesis.json";
  else if (!isObject(anchor) || !Array.isArray(anchor.validators)) problem = "the bundle has no cometbft section stating its validator set";
  else {
    try {
      if (!sameValidators(parseValidators(anchor.validators), pinned.validators) || anchor.chainId !== pinned.chainId) {
        problem = "the bundle's CometBFT chain or validator set differs from the pinned CometBFT genesis";
      }
    } catch (error) {
      problem = `the bundle's cometbft section is malformed: ${asFailed(error).detail}`;
    }
  }
  const blocks = new Map();
  for (const event of events) {
    const proof = isObject(event) ? event.proof : null;
    if (!isObject(proof)) continue;
    const key = `${pyStr(proof.blockNumber)}|${pyStr(proof.blockHash)}`;
    if (!blocks.has(key)) blocks.set(key, proof);
  }
  for (const proof of blocks.values()) {
    const subject = `block ${pyStr(proof.blockNumber)}`;
    if (problem !== null) {
      report.add("commit", subject, false, problem);
      continue;
    }
    try {
      const certificate = proof.commit;
      if (!isObject(certificate)) throw new CheckFailed("commit", "format: the proof carries no CometBFT commit");
      const chain = certificate.signedHeader?.header?.chain_id;
      if (chain !== pinned.chainId) throw new CheckFailed("commit", `header: the commit is for CometBFT chain ${pyStr(chain)}, the pinned one is ${pinned.chainId}`);
      const verdict = verifyCommit(certificate, hexField(proof.blockHash, "blockHash"), pinned.validators);
      report.add("commit", subject, true, `certified at CometBFT height ${verdict.height} by ${verdict.signers.length} validator(s), ${verdict.signedPower} of ${verdict.totalPower} voting power`);
    } catch (error) {
      report.add("commit", subject, false, asFailed(error).detail);
    }
  }
}

/**
 * Only the witnessed-checkpoint checks of a bundle (`checkpoint`, `inclusion`, `cosignature`),
 * with the sealer set derived from the pinned genesis as verifyBundle derives it: for pages that
 * verify records one by one and show the checkpoint beside them. Returns {ok, present, results}.
 */
export function verifyCheckpoint(doc, trust) {
  const pinned = normalizeTrust(trust);
  const report = new Report();
  if (!isObject(doc) || doc.format !== FORMAT) {
    report.add("format", "bundle", false, `"format" must be '${FORMAT}'`);
    return { ...report.toJSON(), present: false };
  }
  const poa = doc.consensus === "cityledger-poa";
  const trusted = pinned.genesisHash === null && pinned.witnessKeys.length ? trustFromWitnesses(doc.checkpoint, pinned, report) : pinned;
  const scratch = new Report();
  const sets = sealerChanges(doc, trusted, poa, scratch);
  checkpointSection(doc, trusted, sets, report);
  return { ok: report.results.every((r) => r.ok), present: doc.checkpoint !== null && doc.checkpoint !== undefined, results: report.results };
}

/**
 * With only witness keys pinned: a checkpoint cosigned by enough of them pins the chain id and
 * genesis hash its origin names (audit/bundle.py _trust_from_witnesses).
 */
function trustFromWitnesses(section, trust, report) {
  const needed = Math.max(1, trust.minCosignatures);
  let point;
  let counted;
  try {
    if (!isObject(section)) throw new CheckFailed("checkpoint", "the bundle has no checkpoint, so pinned witness keys cannot pin the chain");
    const note = tlog.parseNote(String(section.note ?? ""));
    point = tlog.parseCheckpoint(note.text);
    counted = tlog.checkCosignatures(note, trust.witnessKeys, [], null, (line) => line.name === point.origin).counted;
    if (counted.length < needed) {
      throw new CheckFailed("checkpoint", `${counted.length} cosignature(s) by pinned witness keys, ${needed} needed to pin the chain`);
    }
    const { chainId, genesisHash } = tlog.originChain(point.origin);
    report.add("checkpoint", "witnessed origin", true, `chain ${chainId} genesis ${toHex(genesisHash)} pinned by ${counted.length} pinned witness(es)`);
    return { ...trust, chainId, genesisHash };
  } catch (error) {
    if (error instanceof tlog.NoteError) report.add("checkpoint", "witnessed origin", false, error.reason);
    else report.add(asFailed(error).check, "witnessed origin", false, asFailed(error).detail);
    return trust;
  }
}

/** The `checkpoint`, `inclusion` and `cosignature` checks (audit/bundle.py _checkpoint). */
function checkpointSection(doc, trust, sets, report) {
  const section = doc.checkpoint;
  if (section === null || section === undefined) {
    if (trust.minCosignatures > 0) {
      report.add("cosignature", "checkpoint", false, `the bundle carries no checkpoint; ${trust.minCosignatures} witness cosignature(s) were demanded`);
    }
    return;
  }
  let subject = "checkpoint";
  let note;
  let point;
  let head;
  let sealer;
  try {
    if (!isObject(section)) throw new CheckFailed("checkpoint", "expected an object");
    note = tlog.parseNote(String(section.note ?? ""));
    point = tlog.parseCheckpoint(note.text);
    const genesisHash = hexField(isObject(doc.genesis) ? doc.genesis.blockHash : undefined, "genesis.blockHash");
    const chain = tlog.originChain(point.origin);
    if (chain.chainId !== doc.chainId || !equalBytes(chain.genesisHash, genesisHash)) {
      throw new CheckFailed("checkpoint", `its origin ${point.origin} is not this bundle's chain and genesis`);
    }
    subject = `checkpoint ${point.size}`;
    if (section.size !== point.size) throw new CheckFailed("checkpoint", `the section says size ${pyStr(section.size)}, the note ${point.size}`);
    const headSection = isObject(section.head) ? section.head : {};
    head = decodeHeader(hexField(headSection.header, "checkpoint.head.header"));
    if (head.number !== point.size - 1) throw new CheckFailed("checkpoint", `the head is block ${head.number}, the tree's last block is ${point.size - 1}`);
    tlog.verifyInclusion(head.hash, point.size - 1, point.size, listOr(headSection.proof).map((h) => hexField(h, "head.proof")), point.root);
    sealer = tlog.verifySealerSignature(note, sets.atParentOf(point.size - 1));
  } catch (error) {
    if (error instanceof tlog.NoteError || error instanceof tlog.TreeProofError) report.add("checkpoint", subject, false, error.message);
    else report.add(asFailed(error).check, subject, false, asFailed(error).detail);
    return;
  }
  report.add("checkpoint", subject, true, `signed by sealer ${toHex(sealer)}; head block ${point.size - 1} proven in its tree`);
  const inclusions = new Map();
  for (const item of listOr(section.inclusions)) {
    if (isObject(item)) inclusions.set(`${pyStr(item.blockNumber)}|${pyStr(item.blockHash)}`, item);
  }
  const blocks = new Map();
  for (const e of [...listOr(doc.events), ...listOr(doc.sealerChanges)]) {
    if (isObject(e) && isObject(e.proof)) blocks.set(`${pyStr(e.proof.blockNumber)}|${pyStr(e.proof.blockHash)}`, [e.proof.blockNumber, e.proof.blockHash]);
  }
  const ordered = [...blocks.values()].sort((a, b) => (Number(a[0]) - Number(b[0])) || (String(a[1]) < String(b[1]) ? -1 : String(a[1]) > String(b[1]) ? 1 : 0));
  for (const [number, blockHash] of ordered) {
    const what = `block ${pyStr(number)}`;
    try {
      const item = inclusions.get(`${pyStr(number)}|${pyStr(blockHash)}`);
      if (item === undefined) throw new CheckFailed("inclusion", `no inclusion proof of block ${pyStr(number)} (${pyStr(blockHash)}) in the checkpoint`);
      if (!Number.isInteger(number) || number >= point.size) throw new CheckFailed("inclusion", `block ${pyStr(number)} is beyond the checkpoint's ${point.size} blocks`);
      tlog.verifyInclusion(hexField(blockHash, "blockHash"), number, point.size, listOr(item.proof).map((h) => hexField(h, "inclusion proof")), point.root);
    } catch (error) {
      if (error instanceof tlog.TreeProofError) report.add("inclusion", what, false, error.message);
      else report.add(asFailed(error).check, what, false, asFailed(error).detail);
      continue;
    }
    report.add("inclusion", what, true, `in the witnessed tree of ${point.size} blocks`);
  }
  cosignatures(section, note, point, head, sealer, trust, report);
}

function cosignatures(section, note, point, head, sealer, trust, report) {
  const witnesses = isObject(section.witnesses) ? section.witnesses : {};
  let accounts = null;
  const bindings = [];
  try {
    for (const raw of listOr(witnesses.bindings)) bindings.push(tlog.parseBinding(raw));
    if (witnesses.account !== undefined && witnesses.account !== null) {
      const account = verifyAccountProof(head.stateRoot, witnesses.account);
      const slot = pyInt(witnesses.witnessSlot);
      const length = slotValue(account, slot);
      const base = bytesToBigInt(keccak256(bigIntToBytes(slot, 32)));
      accounts = [];
      for (let i = 0n; i < length; i++) accounts.push(bigIntToBytes(slotValue(account, base + i), 32).slice(12));
    }
  } catch (error) {
    report.add("cosignature", "witness set", false, `the witness set's state proof does not verify: ${error.message}`);
    accounts = [];
  }
  const sealerId = tlog.sealerKeyId(point.origin, sealer);
  const result = tlog.checkCosignatures(note, trust.witnessKeys, bindings, accounts ?? [],
    (line) => line.name === point.origin && equalBytes(line.keyId, sealerId));
  for (const [name, reason] of result.failed) report.add("cosignature", `cosignature by ${name}`, false, reason);
  for (const [name, who] of result.counted) {
    report.add("cosignature", `cosignature by ${name}`, true, who.startsWith("0x") ? `by witness account ${who}` : "by a pinned witness key");
  }
  if (trust.minCosignatures) {
    const enough = result.counted.length >= trust.minCosignatures;
    report.add("cosignature", `checkpoint ${point.size}`, enough, `${result.counted.length} valid witness cosignature(s), ${trust.minCosignatures} demanded`);
  }
}
