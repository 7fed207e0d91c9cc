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
// Results: [{check, subject, ok, detail}] with audit's check names and subjects; a passed event is
// reported as check "event", a passed change as "sealer-change", the genesis as "genesis".

import { bigIntToBytes, bytesToBigInt, equalBytes, keccak256, pyStr, toHex } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { abiType, decodeData, decodeTopic, indexedAsHash, jsonValue, pyEqual, topicOf } from "./abi.js";
import { decodeHeader } from "./header.js";
import { hexField, verifyReceipt } from "./receipt.js";
import { slotValue, verifyAccountProof } from "./state.js";
import { checksumAddress } from "./bytes.js";

export const FORMAT = "cityledger-evidence/1";
export const CHECKS = Object.freeze(["format", "genesis", "sealer-change", "header-hash", "block-number", "tx-proof", "tx-hash",
  "receipt-proof", "receipt-status", "log-index", "log-content", "seal", "payload"]);

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
  };
}

/** Trust from an address book (scripts/deploy) and/or a genesis document (node genesis.json). */
export function trustFrom({ addressbook = null, genesis = null } = {}) {
  const trust = {};
  if (addressbook) {
    trust.chainId = addressbook.chainId;
    trust.genesisHash = addressbook.deployment?.blockHash;
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
  const sets = sealerChanges(doc, pinned, poa, report);
  const events = doc.events;
  if (!Array.isArray(events) || !events.length) report.add("format", "bundle", false, "the bundle proves no event");
  let list;
  try {
    list = listOr(events);
  } catch {
    list = [];
  }
  list.forEach((event, i) => {
    const name = isObject(event) ? `${pyStr(event.contract)}.${pyStr(event.event)}` : "?";
    eventSection(event, chainId, poa ? sets : null, report, `event ${i} (${name})`, null);
  });
  return report.toJSON();
}
