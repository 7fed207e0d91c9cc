// CityLedger's in-browser verifier: the public API the portal pages call. Everything here runs
// offline on data the page already holds; nothing is fetched.

import EVENT_ABIS from "cityledger:event-abis";

export { CHECKS, FORMAT, SealerSet, decodeLog, deriveSealerSet, normalizeTrust, trustFrom, verifyBundle, verifyCheckpoint } from "./bundle.js";
export { parseVkey } from "./tlog.js";
export { headerHash as cometbftHeaderHash, verifyCommit } from "./commit.js";
export { eventTable, verifyRecordProof } from "./record.js";
export { verifyReceipt, decodeReceipt } from "./receipt.js";
export { decodeHeader } from "./header.js";
export { verifyProof } from "./mpt.js";
export { verifyAccountProof } from "./state.js";
export { batchLeafHash, batchPath, batchRoot, verifyBatchPath } from "./batch.js";
export { hashPayload, verifyPayload, cidText } from "./unixfs.js";
export { parseReceiptCode, parseUscc, receiptCodeMatches, shortReceiptCode, usccCheckCharacter } from "./codes.js";
export { checksumAddress, keccak256, parseHex, toHex } from "./bytes.js";
export { CheckFailed } from "./errors.js";

/** Event ABIs of the deployed contracts ({Contract: [{name, inputs, signature}]}), from contracts/artifacts at build time. */
export { EVENT_ABIS };
