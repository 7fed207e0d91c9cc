"""Credit at city scale: regulators' batches of credit entries, anchored by one transaction each
and served entry by entry with a Merkle path to the anchored root.

One module per concern:

* :mod:`~gateway.credit_batches.leaves` — the 13-word leaf and its hash, restricted commitments
  (hand-rolled fixed-layout ABI encoding);
* :mod:`~gateway.credit_batches.tree` — the positional tree and its tiles (8 levels, 256 hashes);
* :mod:`~gateway.credit_batches.batchfile` — the batch file format (``cityledger-credit-batch/1``),
  what ``batchFileCid`` names and every reader rebuilds the root from;
* :mod:`~gateway.credit_batches.intake` — a regulator's CSV / JSON Lines upload, validated row by row;
* :mod:`~gateway.credit_batches.tables` — SQL tables and bulk writers;
* :mod:`~gateway.credit_batches.indexing` — the background worker that checks and indexes anchored
  batches;
* :mod:`~gateway.credit_batches.serving` — entries with their ``batch`` proofs, checked before served;
* :mod:`~gateway.credit_batches.restricted` — restricted entries' content, encrypted at rest;
* :mod:`~gateway.credit_batches.service` — the services above, built with the app.
"""
