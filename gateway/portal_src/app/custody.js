// Custody facts replayed from proven events only: which lots belong to a donation, who holds what,
// what is in transit, consumed and lost (PRODUCT.md "Supply custody"; SupplyCustody's events).
// Pages feed it the decoded logs of records whose proofs passed; a step that failed is left out
// and the result says so (complete = false).

export function bytes32Text(hex) {
  if (typeof hex !== "string" || !hex.startsWith("0x")) return String(hex ?? "");
  const bytes = hex.slice(2).match(/../g)?.map((b) => parseInt(b, 16)) ?? [];
  while (bytes.length && bytes[bytes.length - 1] === 0) bytes.pop();
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
    return /^[\p{L}\p{N}\p{P}\p{S} ]*$/u.test(text) ? text : hex;
  } catch {
    return hex;
  }
}

const n = (value) => BigInt(value ?? 0);

/** Replay proven logs ([{event, args}], chain order). Unknown lots are reported, not guessed. */
export function replay(logs) {
  const lots = new Map();
  const transfers = new Map();
  const problems = [];
  let root = null;
  const lot = (id) => lots.get(String(id));
  for (const { event, args } of logs) {
    switch (event) {
      case "LotRegistered":
        root ??= String(args.lotId);
        lots.set(String(args.lotId), { id: String(args.lotId), parent: null, holder: String(args.charityId), original: n(args.quantity),
          held: n(args.quantity), inTransit: 0n, consumed: 0n, lost: 0n, itemCode: args.itemCode, unit: args.unit });
        break;
      case "LotSplit": {
        const parent = lot(args.parentLotId);
        if (!parent) { problems.push(event); break; }
        parent.held -= n(args.quantity);
        lots.set(String(args.childLotId), { id: String(args.childLotId), parent: String(args.parentLotId), holder: String(args.memberId),
          original: n(args.quantity), held: n(args.quantity), inTransit: 0n, consumed: 0n, lost: 0n, itemCode: parent.itemCode, unit: parent.unit });
        break;
      }
      case "TransferSent": {
        const l = lot(args.lotId);
        if (!l) { problems.push(event); break; }
        l.held -= n(args.quantity);
        l.inTransit += n(args.quantity);
        transfers.set(String(args.transferId), { id: String(args.transferId), lot: l.id, from: String(args.fromMemberId),
          to: String(args.toMemberId), quantity: n(args.quantity), status: "in-transit", received: 0n });
        break;
      }
      case "TransferAccepted": {
        const l = lot(args.lotId);
        const t = transfers.get(String(args.transferId));
        if (!l || !t) { problems.push(event); break; }
        l.inTransit -= n(args.sent);
        l.holder = String(args.memberId);
        l.held += n(args.received);
        l.lost += n(args.sent) - n(args.received);
        Object.assign(t, { status: "accepted", received: n(args.received) });
        break;
      }
      case "TransferRefused":
      case "TransferRecalled": {
        const l = lot(args.lotId);
        const t = transfers.get(String(args.transferId));
        if (!l || !t) { problems.push(event); break; }
        l.inTransit -= n(args.quantity);
        l.held += n(args.quantity);
        t.status = event === "TransferRefused" ? "refused" : "recalled";
        break;
      }
      case "LotConsumed": {
        const l = lot(args.lotId);
        if (!l) { problems.push(event); break; }
        l.held -= n(args.quantity);
        l.consumed += n(args.quantity);
        break;
      }
      case "CorrectionRecorded": {
        const l = lot(args.lotId);
        if (!l) { problems.push(event); break; }
        if (Number(args.kind) === 0) { l.held -= n(args.quantity); l.lost += n(args.quantity); }
        else l.held += n(args.quantity);
        break;
      }
      default:
        break;
    }
  }
  const all = [...lots.values()];
  const sum = (key) => all.reduce((acc, l) => acc + l[key], 0n);
  const donated = root ? lots.get(root).original : 0n;
  const totals = { donated, held: sum("held"), inTransit: sum("inTransit"), consumed: sum("consumed"), lost: sum("lost") };
  // PRODUCT.md: original = held + in transit + consumed + losses + Σ child originals, summed over the donation.
  const balanced = totals.held + totals.inTransit + totals.consumed + totals.lost === donated;
  return { root, lots: all, transfers: [...transfers.values()], totals, balanced, problems };
}

/** Whether a proven log belongs to the donation rooted at the proven registration (lots known so far). */
export function belongs(known, event, args) {
  if (event === "LotRegistered") return known.size === 0;
  if (event === "LotSplit") return known.has(String(args.parentLotId));
  if (event === "TransferSent" && args.parentLotId && String(args.parentLotId) !== "0" && String(args.parentLotId) !== String(args.lotId)) {
    return known.has(String(args.lotId)) || known.has(String(args.parentLotId));
  }
  return known.has(String(args.lotId));
}
