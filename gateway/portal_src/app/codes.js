// Typed codes validated as the person types, with messages in their language: the donor's receipt
// code (gateway/receipt_code.py: 12 Crockford base32 characters and a check character) and the
// USCC (GB 32100-2015: 18 characters, the last a check character). The verifier library decides
// validity; this module only says why, in words from the catalogue.

import * as v from "/static/cityledger-verify.js";
import { clear, h, raw, uid } from "./dom.js";
import { t, tx } from "./i18n.js";

const RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ALIASES = { I: "1", L: "1", O: "0" };

/** {ok, code, state: "empty"|"typing"|"error"|"ok", key, params}. */
export function checkReceiptCode(text) {
  const cleaned = Array.from(String(text).toUpperCase()).filter((c) => c !== " " && c !== "-").map((c) => ALIASES[c] ?? c).join("");
  if (!cleaned) return { ok: false, state: "empty", key: "code.receipt.hint", params: {} };
  for (let i = 0; i < cleaned.length; i++) {
    if (!RECEIPT_ALPHABET.includes(cleaned[i])) return { ok: false, state: "error", key: "code.receipt.char", params: { pos: i + 1, char: cleaned[i] } };
  }
  if (cleaned.length < 13) return { ok: false, state: "typing", key: "code.receipt.count", params: { n: cleaned.length } };
  if (cleaned.length > 13) return { ok: false, state: "error", key: "code.receipt.length", params: { n: cleaned.length } };
  const parsed = v.parseReceiptCode(cleaned);
  if (!parsed.ok) return { ok: false, state: "error", key: "code.receipt.check", params: {} };
  return { ok: true, state: "ok", code: parsed.code, key: "code.receipt.ok", params: { code: parsed.code } };
}

const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";

export function checkUscc(text) {
  const code = String(text).trim().toUpperCase();
  if (!code) return { ok: false, state: "empty", key: "code.uscc.hint", params: {} };
  for (let i = 0; i < Math.min(code.length, 18); i++) {
    if (!USCC_ALPHABET.includes(code[i])) {
      return { ok: false, state: "error", key: "IOSVZ".includes(code[i]) ? "code.uscc.never" : "code.uscc.char", params: { pos: i + 1, char: code[i] } };
    }
  }
  if (code.length < 18) return { ok: false, state: "typing", key: "code.uscc.count", params: { n: code.length } };
  if (code.length > 18) return { ok: false, state: "error", key: "code.uscc.length", params: { n: code.length } };
  const parsed = v.parseUscc(code);
  if (!parsed.ok) return { ok: false, state: "error", key: "code.uscc.check", params: { got: code[17], want: v.usccCheckCharacter(code.slice(0, 17)) } };
  return { ok: true, state: "ok", code, key: "code.uscc.ok", params: {} };
}

/**
 * A form with one code field, validated on every keystroke: the message under the field says how
 * far along the code is, or what is wrong and where; submit is refused until the code is valid.
 */
export function codeForm({ labelKey, placeholderKey, buttonKey, check, onSubmit, value = "", name }) {
  const { id, input, message, show } = codeInput({ check, name, value, placeholderKey });
  const form = h("form", { class: "code-form", novalidate: true },
    h("label", { for: id }, tx(labelKey)),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, tx(buttonKey))),
    message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const result = show();
    if (result.ok) onSubmit(result.code);
    else input.focus();
  });
  show();
  return { form, input, show };
}

/**
 * A code field checked on every keystroke by `check` (checkUscc, checkReceiptCode), with the
 * message under it; `show()` checks again and returns the result. For codeForm, and for any form
 * that has a code among other fields.
 */
export function codeInput({ check, name, value = "", placeholderKey = null, required = false }) {
  const id = uid("code");
  const messageId = `${id}-msg`;
  const input = h("input", { id, name, type: "text", inputmode: "text", autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", placeholder: placeholderKey ? t(placeholderKey) : null, "aria-describedby": messageId, value,
    required, class: "code-input" });
  const message = h("p", { id: messageId, class: "field-message", "aria-live": "polite" });
  const show = () => {
    const result = check(input.value);
    clear(message).append(tx(result.key, result.params));
    message.dataset.state = result.state;
    input.setAttribute("aria-invalid", result.state === "error" ? "true" : "false");
    return result;
  };
  input.addEventListener("input", show);
  return { id, input, message, show };
}

export const rawCode = (code) => raw(code, { tag: "code", cls: "code" });
