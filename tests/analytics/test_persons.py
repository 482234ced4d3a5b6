"""The persons step settles name blocks of one firm group without the engine: exactly as the engine would."""

from collections import Counter

from scholarlens.analytics import persons
from scholarlens.identity.cluster import disambiguate
from scholarlens.store import connect


def test_settled_blocks_are_what_the_engine_makes_of_them(sample_store, tmp_path):
    import shutil

    store = tmp_path / "s.duckdb"
    shutil.copy(sample_store, store)
    con = connect(store)
    try:
        to_score, settled = persons._settled_blocks(con, constrained=set())
        everything = persons.load_mentions(con)
        engine_part = persons.load_mentions(con, to_score)
    finally:
        con.close()
    settled_mids = [persons.mention_id(w, a) for block in settled for w, a, _, _ in block]
    # every mention is in exactly one of the two parts
    assert len(settled) > 100 and len(engine_part) > 100
    assert sorted(settled_mids + [m.mention_id for m in engine_part]) == sorted(m.mention_id for m in everything)

    assigned = disambiguate(everything)  # the engine over the whole store, as before the shortcut
    sizes = Counter(assigned.values())
    for block in settled:
        clusters = {assigned[persons.mention_id(w, a)] for w, a, _, _ in block}
        assert len(clusters) == 1, block[:3]
        assert sizes[clusters.pop()] == len(block)  # and nobody else's mention is in that person


def test_a_correction_sends_its_block_to_the_engine(sample_store, tmp_path):
    import shutil

    store = tmp_path / "s.duckdb"
    shutil.copy(sample_store, store)
    con = connect(store)
    try:
        _, settled = persons._settled_blocks(con, constrained=set())
        author = settled[0][0][1]
        to_score, settled_after = persons._settled_blocks(con, constrained={author})
    finally:
        con.close()
    assert author in to_score
    assert len(settled_after) == len(settled) - 1
