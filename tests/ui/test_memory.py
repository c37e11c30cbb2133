"""What a long session must not keep: the footer's removed keys (textual_compat.LeanFooter)."""

from __future__ import annotations

import gc
from typing import Any

from textual.widgets._footer import FooterKey

from tests.ui.conftest import SIZE


def footer_keys() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, FooterKey))


async def test_the_footer_lets_go_of_the_keys_each_recompose_removes(app_factory: Any) -> None:
    """The footer is composed again whenever the bindings change (a reply starts or ends,
    focus moves); each key is data-bound to the footer, which kept every removed one alive."""
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        before = footer_keys()
        for _ in range(40):
            app.screen.refresh_bindings()
            await pilot.pause(0.02)
        grown = footer_keys() - before
    assert grown < 40, f"{grown} footer keys more after 40 recomposes"
