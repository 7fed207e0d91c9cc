// One failure type: a check, by its stable name (gateway/evidence.py CHECKS), and what was found.

/** Raised inside the verifier when a check fails; the report records it by `check`. */
export class CheckFailed extends Error {
  constructor(check, detail) {
    super(detail);
    this.name = "CheckFailed";
    this.check = check;
    this.detail = detail;
  }
}

/** Raised by the trie walk and the state-proof checks; callers turn it into a named check. */
export class ProofError extends Error {
  constructor(detail) {
    super(detail);
    this.name = "ProofError";
  }
}
