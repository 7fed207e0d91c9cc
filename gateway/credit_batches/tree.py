"""The positional batch tree (``contracts/README.md``, "Batch tree: positional") and its tiles.

Tree: depth ``d = ceil(log2(entryCount))`` (0 for one entry); position ``i < entryCount`` holds leaf
``i``'s hash, positions ``entryCount .. 2^d - 1`` hold 32 zero bytes; an inner node is
``keccak256(left ‖ right)`` in position order (no sorting). A node whose subtree holds only padding
is therefore ``Z[k]`` (``Z[0]`` = 32 zero bytes, ``Z[k+1] = H(Z[k] ‖ Z[k])``) and is never stored.

Tiles, in the manner of C2SP tlog-tiles: the tree is cut into bands of ``TILE_HEIGHT`` = 8 levels.
Band ``L`` stores the nodes of tree level ``8L`` — only the real ones, positions below
``ceil(entryCount / 2^(8L))`` — in tiles of ``TILE_WIDTH`` = 256 consecutive hashes, tile ``t``
holding positions ``256t .. 256t+255`` (the last tile of a band may be shorter). Band ``L`` exists
for ``8L < d``. The 7 levels above a band's row are recomputed from its tile on read (at most 255
hashes), so a proof of any entry of a batch of 10^8 (``d = 27``) reads 4 tiles: tile
``(index >> 8L) >> 8`` of each band. Building costs one pass over the levels, ~1 hash per entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from gateway.credit_batches.leaves import ZERO32, keccak256

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = 32

#: Z[k]: the node of height k over padding only.
ZERO_HASHES: list[bytes] = [ZERO32]
for _ in range(64):
    ZERO_HASHES.append(keccak256(ZERO_HASHES[-1] + ZERO_HASHES[-1]))


def tree_depth(count: int) -> int:
    """``ceil(log2(count))``, 0 for one entry (``Credit.treeDepth``)."""
    return 0 if count <= 1 else (count - 1).bit_length()


def bands(depth: int) -> int:
    """How many tile bands a tree of ``depth`` has (bands ``0 .. bands-1``)."""
    return (depth + TILE_HEIGHT - 1) // TILE_HEIGHT


def real_nodes(count: int, level: int) -> int:
    """How many nodes at ``level`` cover at least one real entry."""
    return (count + (1 << level) - 1) >> level


def next_level(level: bytes | bytearray, height: int) -> bytearray:
    """The real nodes one level up from the real nodes ``level`` (concatenated hashes) at ``height``."""
    n = len(level) // HASH
    view = memoryview(level)
    out = bytearray()
    pairs = n // 2
    k = keccak256
    for j in range(0, pairs * 2 * HASH, 2 * HASH):
        out += k(view[j:j + 2 * HASH])
    if n % 2:
        out += k(bytes(view[(n - 1) * HASH:]) + ZERO_HASHES[height])
    return out


def build(leaf_hashes: bytes | bytearray) -> tuple[bytes, list[bytes | bytearray]]:
    """The root of the tree over ``leaf_hashes`` (concatenated 32-byte hashes, index order) and the
    stored row of each band (``rows[L]``: the real nodes of tree level ``8L``; ``rows[0]`` is
    ``leaf_hashes`` itself). Cut a row into tiles with :func:`tiles`."""
    count = len(leaf_hashes) // HASH
    if count == 0:
        raise ValueError("a batch tree needs at least one entry")
    depth = tree_depth(count)
    rows: list[bytes | bytearray] = []
    level: bytes | bytearray = leaf_hashes
    for height in range(depth):
        if height % TILE_HEIGHT == 0:
            rows.append(level)
        level = next_level(level, height)
    return bytes(level[:HASH]), rows


def tiles(row: bytes | bytearray, first: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """``(tile index, hashes)`` of a band's row, tiles ``first .. stop-1`` (all by default)."""
    step = TILE_WIDTH * HASH
    end = len(row) if stop is None else min(len(row), stop * step)
    for start in range(first * step, end, step):
        yield start // step, bytes(row[start:start + step])


def root_of(leaf_hashes: bytes | bytearray) -> bytes:
    return build(leaf_hashes)[0]


def path_in_tile(tile: bytes, position: int, band: int, height: int) -> list[bytes]:
    """The ``height`` siblings of the node at ``position`` (in the tile, 0..255) from the tile's
    row upward; missing nodes are padding (``Z``)."""
    level = [tile[j:j + HASH] for j in range(0, len(tile), HASH)]
    base = band * TILE_HEIGHT
    siblings: list[bytes] = []
    for j in range(height):
        sibling = position ^ 1
        siblings.append(level[sibling] if sibling < len(level) else ZERO_HASHES[base + j])
        if j + 1 < height:
            up: list[bytes] = []
            for p in range(0, len(level) - 1, 2):
                up.append(keccak256(level[p] + level[p + 1]))
            if len(level) % 2:
                up.append(keccak256(level[-1] + ZERO_HASHES[base + j]))
            level = up
        position >>= 1
    return siblings


def path(index: int, count: int, read_tile: Callable[[int, int], bytes | None]) -> list[bytes]:
    """The ``d`` siblings of entry ``index`` from the leaf level up, read from the stored tiles
    (``read_tile(band, tile)``; a missing tile is all padding)."""
    depth = tree_depth(count)
    siblings: list[bytes] = []
    for band in range(bands(depth)):
        height = min(TILE_HEIGHT, depth - band * TILE_HEIGHT)
        position = index >> (band * TILE_HEIGHT)
        tile = read_tile(band, position >> TILE_HEIGHT) or b""
        siblings += path_in_tile(tile, position & (TILE_WIDTH - 1), band, height)
    return siblings


def process_path(leaf_hash: bytes, index: int, siblings: Sequence[bytes]) -> bytes:
    """The root that ``siblings`` lead to from ``leaf_hash`` at position ``index``."""
    node = leaf_hash
    for sibling in siblings:
        node = keccak256(node + sibling) if index & 1 == 0 else keccak256(sibling + node)
        index >>= 1
    return node
