// Drives a CityLedger node with ethers v6 (a client nobody here wrote) and prints one JSON object.
//
// Usage: node tests/node/ethers_client.mjs URL PRIVATE_KEY ARTIFACT_JSON KEY DIGEST AMOUNT OTHER_KEY
//
// Deploys the artifact's contract (Recorder), records (KEY, DIGEST, AMOUNT) and then (OTHER_KEY,
// DIGEST, AMOUNT + 1), reads the record back, filters Recorded events by KEY, and reads blocks.
// `ethers` resolves from the repository's node_modules because this file lives inside the repo.
// Big integers are printed as decimal strings. Any failure exits non-zero with the error on stderr.
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const [url, privateKey, artifactPath, key, digest, amountText, otherKey] = process.argv.slice(2);
if (!otherKey) {
  console.error("usage: ethers_client.mjs URL PRIVATE_KEY ARTIFACT_JSON KEY DIGEST AMOUNT OTHER_KEY");
  process.exit(2);
}
const amount = BigInt(amountText);
const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));

// cacheTimeout -1: no 250 ms request cache, so a read right after a write sees the write.
// pollingInterval 100 ms instead of 4 s, so wait() notices the 0.2 s blocks promptly.
const provider = new ethers.JsonRpcProvider(url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
const wallet = new ethers.Wallet(privateKey, provider);

const str = (v) => (typeof v === "bigint" ? v.toString() : v);
// A LogDescription (interface.parseLog) has `name`, an EventLog (queryFilter) has `eventName`.
const eventArgs = (parsed) => ({
  name: parsed.name ?? parsed.eventName,
  key: parsed.args.key,
  author: parsed.args.author,
  digest: parsed.args.digest,
  amount: str(parsed.args.amount),
});
// A Record struct from get(); by position, since ethers' Result has a method named `at`.
const record = (r) => ({ author: r[0], at: str(r[1]), digest: r[2], amount: str(r[3]) });
const txSummary = (tx) => ({
  hash: tx.hash, type: tx.type, nonce: tx.nonce,
  gasPrice: str(tx.gasPrice), maxFeePerGas: str(tx.maxFeePerGas),
  maxPriorityFeePerGas: str(tx.maxPriorityFeePerGas),
});
const blockSummary = (b) => ({
  number: b.number, hash: b.hash, parentHash: b.parentHash, timestamp: b.timestamp,
  miner: b.miner, extraData: b.extraData, baseFeePerGas: str(b.baseFeePerGas),
  transactions: [...b.transactions],
});

async function main() {
  const network = await provider.getNetwork();
  const feeData = await provider.getFeeData();

  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, wallet);
  const contract = await factory.deploy();
  await contract.waitForDeployment();
  const address = await contract.getAddress();
  const deployTx = contract.deploymentTransaction();
  const deployReceipt = await deployTx.wait();

  const recordTx = await contract.record(key, digest, amount);
  const receipt = await recordTx.wait();
  const parsedLogs = receipt.logs.map((log) => contract.interface.parseLog(log)).filter(Boolean);
  // ethers' getFeeData() treats a base fee of 0 as "no EIP-1559" and sends legacy transactions, so
  // send this one as an explicit type-2 transaction with zero fees.
  const otherTx = await contract.record(otherKey, digest, amount + 1n,
    { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
  const otherReceipt = await otherTx.wait();

  const stored = await contract.get(key);
  const missing = await contract.get(ethers.ZeroHash);
  const events = await contract.queryFilter(contract.filters.Recorded(key), 0, "latest");
  const allEvents = await contract.queryFilter(contract.filters.Recorded(), 0, "latest");

  const latest = await provider.getBlock("latest");
  const recordBlock = await provider.getBlock(receipt.blockNumber);

  const out = {
    chainId: str(network.chainId),
    feeData: { gasPrice: str(feeData.gasPrice), maxFeePerGas: str(feeData.maxFeePerGas),
               maxPriorityFeePerGas: str(feeData.maxPriorityFeePerGas) },
    wallet: wallet.address,
    nonceAfter: await provider.getTransactionCount(wallet.address, "latest"),
    contract: address,
    deployedCodeLength: ethers.dataLength(await provider.getCode(address)),
    deploy: { ...txSummary(deployTx), status: deployReceipt.status,
              contractAddress: deployReceipt.contractAddress, blockNumber: deployReceipt.blockNumber },
    record: { ...txSummary(recordTx), status: receipt.status, blockNumber: receipt.blockNumber,
              blockHash: receipt.blockHash, from: receipt.from, to: receipt.to,
              gasUsed: str(receipt.gasUsed), logCount: receipt.logs.length,
              topics: receipt.logs.map((l) => [...l.topics]), events: parsedLogs.map(eventArgs) },
    other: { ...txSummary(otherTx), status: otherReceipt.status, blockNumber: otherReceipt.blockNumber },
    get: record(stored),
    getMissing: record(missing),
    filtered: events.map((e) => ({ txHash: e.transactionHash, blockNumber: e.blockNumber,
                                   logIndex: e.index, ...eventArgs(e) })),
    allCount: allEvents.length,
    latest: blockSummary(latest),
    recordBlock: blockSummary(recordBlock),
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => provider.destroy(),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    provider.destroy();
    process.exit(1);
  },
);
