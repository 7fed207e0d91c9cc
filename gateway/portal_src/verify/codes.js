// Codes people type, validated as they type with the rules of the gateway:
// * USCC (统一社会信用代码, GB 32100-2015; gateway/uscc.py): 18 characters of
//   0123456789ABCDEFGHJKLMNPQRTUWXY, the 18th a check character with weights 3^(i-1) mod 31;
// * donor receipt codes (gateway/receipt_code.py): 12 Crockford base32 characters (the first 60
//   bits of the on-chain receiptCode) and a GF(32) check character, shown as XXXX-XXXX-XXXX-X.

export const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS = Array.from({ length: 17 }, (_, i) => { let w = 1; for (let k = 0; k < i; k++) w = (w * 3) % 31; return w; });

export function usccCheckCharacter(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += USCC_ALPHABET.indexOf(first17[i]) * USCC_WEIGHTS[i];
  return USCC_ALPHABET[(31 - (total % 31)) % 31];
}

/** {ok, code, position (1-based; 0 for a length error), reason} — the gateway's 422 in the browser. */
export function parseUscc(text) {
  const code = String(text).trim().toUpperCase();
  if (code.length !== 18) return { ok: false, code, position: 0, reason: `has ${code.length} characters, a USCC has 18` };
  for (let i = 0; i < 18; i++) {
    const char = code[i];
    if (!USCC_ALPHABET.includes(char)) {
      const hint = "IOSVZ".includes(char) ? " (I, O, S, V and Z are never used)" : "";
      return { ok: false, code, position: i + 1, reason: `character ${i + 1} '${char}' is not allowed${hint}` };
    }
  }
  const expected = usccCheckCharacter(code.slice(0, 17));
  if (code[17] !== expected) {
    return { ok: false, code, position: 18, reason: `character 18 (the check character) is '${code[17]}', should be '${expected}'` };
  }
  return { ok: true, code, position: null, reason: null };
}

export const RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ALIASES = { I: "1", L: "1", O: "0" };
const BODY = 12;
const POLY = 0b100101; // x^5 + x^2 + 1

function gfMul(a, b) {
  let out = 0;
  while (b) {
    if (b & 1) out ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0b100000) a ^= POLY;
  }
  return out;
}

export function receiptCheckCharacter(body) {
  let total = 0;
  let weight = 1;
  for (const char of body) {
    weight = gfMul(weight, 2);
    total ^= gfMul(weight, RECEIPT_ALPHABET.indexOf(char));
  }
  return RECEIPT_ALPHABET[total];
}

const group = (full) => full.match(/.{1,4}/g).join("-");

/** {ok, code (canonical XXXX-XXXX-XXXX-X), prefix (60-bit BigInt), reason}. */
export function parseReceiptCode(text) {
  const cleaned = Array.from(String(text).toUpperCase()).filter((c) => c !== " " && c !== "-").map((c) => ALIASES[c] ?? c).join("");
  if (cleaned.length !== BODY + 1) return { ok: false, code: null, prefix: null, reason: `has ${cleaned.length} characters without dashes, a receipt code has ${BODY + 1}` };
  for (let i = 0; i < cleaned.length; i++) {
    if (!RECEIPT_ALPHABET.includes(cleaned[i])) return { ok: false, code: null, prefix: null, reason: `character ${i + 1} '${cleaned[i]}' is not used in receipt codes` };
  }
  const body = cleaned.slice(0, BODY);
  if (receiptCheckCharacter(body) !== cleaned[BODY]) return { ok: false, code: null, prefix: null, reason: "the check character does not match: a character was mistyped" };
  let prefix = 0n;
  for (const char of body) prefix = (prefix << 5n) | BigInt(RECEIPT_ALPHABET.indexOf(char));
  return { ok: true, code: group(cleaned), prefix, reason: null };
}

/** The printed short code of a 32-byte on-chain receiptCode (Uint8Array or 0x-hex). */
export function shortReceiptCode(receiptCode) {
  const hex = typeof receiptCode === "string" ? receiptCode.replace(/^0x/i, "") : Array.from(receiptCode, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex.length !== 64) throw new RangeError("an on-chain receipt code is 32 bytes");
  const prefix = BigInt("0x" + hex.slice(0, 16)) >> 4n;
  let body = "";
  for (let i = 0; i < BODY; i++) body += RECEIPT_ALPHABET[Number((prefix >> BigInt(5 * (BODY - 1 - i))) & 31n)];
  return group(body + receiptCheckCharacter(body));
}

/** Whether a typed code names this on-chain receiptCode (its first 60 bits, check character valid). */
export function receiptCodeMatches(text, receiptCode) {
  const parsed = parseReceiptCode(text);
  return parsed.ok && parsed.code === shortReceiptCode(receiptCode);
}
