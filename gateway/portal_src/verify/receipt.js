// Receipt proofs (gateway/schemas/proof.schema.json "receipt"): a log proven by the sealed header
// that commits to the transactions and receipts roots, a transaction-trie proof of the transaction
// (keccak256 of it is txHash) and a receipt-trie proof of its receipt (EIP-2718 typed or legacy,
// EIP-658 status), and the log's position inside that receipt. Same checks, in the same order and
// under the same names, as audit/bundle.py `verify_receipt`.

import { bytesToBigInt, equalBytes, keccak256, minimalBytes, parseHex, pyStr, toHex } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { decodeHeader } from "./header.js";
import { verifyProof } from "./mpt.js";
import { isBytes, rlpDecode, rlpEncode } from "./rlp.js";

/** 0x-hex of a JSON field, or CheckFailed("format") naming it. */
export function hexField(value, what) {
  if (typeof value !== "string" || !value.startsWith("0x")) {
    throw new CheckFailed("format", `${what}: expected 0x-hex, got ${JSON.stringify(value ?? null)?.slice(0, 60)}`);
  }
  const bytes = parseHex(value.slice(2));
  if (bytes === null) throw new CheckFailed("format", `${what}: not hex`);
  return bytes;
}

const isInt = (v) => typeof v === "number" && Number.isInteger(v);

function walk(root, index, nodes, check) {
  let value;
  try {
    value = verifyProof(root, rlpEncode(minimalBytes(index)), nodes);
  } catch (error) {
    throw new CheckFailed(check, error.message);
  }
  if (value === null) throw new CheckFailed(check, `the proof shows index ${index} is absent under root ${toHex(root)}`);
  return value;
}

/** [status, logs] of an EIP-2718 receipt: legacy RLP, or a type byte then RLP (EIP-658 status). */
export function decodeReceipt(encoded) {
  const body = encoded[0] >= 0xc0 ? encoded : encoded.subarray(1);
  try {
    const items = rlpDecode(body);
    if (!Array.isArray(items) || items.length !== 4) throw new Error("a receipt has 4 fields");
    const [status, , , logs] = items;
    if (!isBytes(status) || !Array.isArray(logs)) throw new Error("status is bytes and logs a list");
    const decoded = logs.map((log) => {
      if (!Array.isArray(log) || log.length !== 3) throw new Error("a log has 3 fields");
      const [address, topics, data] = log;
      if (!isBytes(address) || !Array.isArray(topics) || !topics.every(isBytes) || !isBytes(data)) {
        throw new Error("a log is [address, [topics], data]");
      }
      return { address, topics, data };
    });
    return { status: bytesToBigInt(status), logs: decoded };
  } catch (error) {
    throw new CheckFailed("receipt-proof", `the proven value is not a receipt: ${error.message}`);
  }
}

/**
 * Run the receipt checks of one proof, all but `seal`; returns {header, address, topics, data,
 * transaction, logs}. Throws CheckFailed by check name.
 */
export function verifyReceipt(proof, chainId) {
  if (proof === null || typeof proof !== "object" || Array.isArray(proof) || proof.type !== "receipt") {
    throw new CheckFailed("format", 'expected a proof object with "type": "receipt"');
  }
  if (chainId !== null && chainId !== undefined && proof.chainId !== chainId) {
    throw new CheckFailed("format", `the proof is for chain ${pyStr(proof.chainId)}, expected ${chainId}`);
  }
  const header = decodeHeader(hexField(proof.header, "header"));
  if (!equalBytes(header.hash, hexField(proof.blockHash, "blockHash"))) {
    throw new CheckFailed("header-hash", `keccak256(header) is ${toHex(header.hash)}, blockHash is ${pyStr(proof.blockHash)}`);
  }
  if (header.number !== proof.blockNumber) {
    throw new CheckFailed("block-number", `the header is block ${header.number}, the proof says ${pyStr(proof.blockNumber)}`);
  }
  const index = proof.txIndex;
  if (!isInt(index) || index < 0) throw new CheckFailed("format", "txIndex must be a non-negative integer");
  const txNodes = nodeList(proof.txProof, "txProof");
  const transaction = walk(header.transactionsRoot, index, txNodes, "tx-proof");
  const txHash = keccak256(transaction);
  if (!equalBytes(txHash, hexField(proof.txHash, "txHash"))) {
    throw new CheckFailed("tx-hash", `the proven transaction hashes to ${toHex(txHash)}, txHash is ${pyStr(proof.txHash)}`);
  }
  const receiptNodes = nodeList(proof.receiptProof, "receiptProof");
  const { status, logs } = decodeReceipt(walk(header.receiptsRoot, index, receiptNodes, "receipt-proof"));
  if (status !== 1n) throw new CheckFailed("receipt-status", "the transaction failed (status 0); a failed transaction has no logs");
  const position = proof.logIndex;
  if (!isInt(position) || !(position >= 0 && position < logs.length)) {
    throw new CheckFailed("log-index", `the receipt has ${logs.length} logs, logIndex is ${pyStr(position)}`);
  }
  return { header, ...logs[position], transaction, logs };
}

function nodeList(value, what) {
  // audit: `[_bytes(n) for n in proof.get(what) or []]` (a missing list walks as an empty proof)
  if (value === undefined || value === null || value === "" || value === 0 || value === false) return [];
  if (typeof value === "string") return Array.from(value, (c) => hexField(c, what));
  if (!Array.isArray(value)) throw new CheckFailed("format", `${what}: expected a list of 0x-hex trie nodes`);
  return value.map((node) => hexField(node, what));
}
