"""While pipelines run the young GC generation is large (larger for bounded runs); the last one to finish
restores the setting."""

from __future__ import annotations

import gc

from onchain.ingest.gc_tuning import BOUNDED_YOUNG_GENERATION, YOUNG_GENERATION, FewerCollections


def test_threshold_raised_while_running_and_restored_by_the_last() -> None:
    before = gc.get_threshold()
    relief = FewerCollections()
    try:
        gc.set_threshold(700, 10, 10)
        with relief():
            assert gc.get_threshold() == (YOUNG_GENERATION, 10, 10)
            with relief():
                assert gc.get_threshold()[0] == YOUNG_GENERATION
            assert gc.get_threshold()[0] == YOUNG_GENERATION
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_a_larger_threshold_is_left_alone() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(YOUNG_GENERATION * 2, 5, 5)
        with FewerCollections()():
            assert gc.get_threshold() == (YOUNG_GENERATION * 2, 5, 5)
        assert gc.get_threshold() == (YOUNG_GENERATION * 2, 5, 5)
    finally:
        gc.set_threshold(*before)


def test_the_largest_figure_asked_applies_and_the_smaller_returns_after() -> None:
    before = gc.get_threshold()
    relief = FewerCollections()
    try:
        gc.set_threshold(700, 10, 10)
        with relief():
            with relief(BOUNDED_YOUNG_GENERATION):
                assert gc.get_threshold() == (BOUNDED_YOUNG_GENERATION, 10, 10)
                with relief():
                    assert gc.get_threshold()[0] == BOUNDED_YOUNG_GENERATION
            assert gc.get_threshold() == (YOUNG_GENERATION, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
