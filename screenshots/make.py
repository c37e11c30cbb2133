"""Drive the real app against the fake server and write the README's SVG screenshots.

    .venv/bin/python screenshots/make.py          # writes screenshots/*.svg
    .venv/bin/python screenshots/make.py --out DIR

Everything runs in a throw-away LLAMA_TUI_HOME; no key appears on screen. The committed
SVGs must be what this draws now: tests/ui/test_screenshots.py regenerates them into a
temporary folder and compares the text on screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (120, 36)
CHAT_REPLY = [
    "Clayton Christensen wrote *The Innovator's Dilemma* (1997).\n\n",
    "## Key ideas\n\n",
    "- **Disruptive innovation**: cheaper, simpler products start at the bottom of a market\n",
    "- Incumbents rationally ignore them, until it is too late\n\n",
    "| Book | Year |\n|---|---|\n| The Innovator's Dilemma | 1997 |\n",
    "| The Innovator's Solution | 2003 |\n\n",
    "```python\ndef disrupt(market: str) -> str:\n    return f\"cheaper {market}\"\n```\n",
]

THOUGHTS = ["1009 is odd and its digits sum to 10, so 2, 3 and 5 are out. ",
            "√1009 ≈ 31.8: try 7, 11, 13, 17, 19, 23, 29, 31. ", "None divides it."]
PRIME_REPLY = ["Yes: **1009 is prime**. ", "No prime up to its square root (31) divides it, ",
               "so it has no divisor but 1 and itself."]
USAGE = {"prompt_tokens": 31, "completion_tokens": 118, "total_tokens": 149,
         "completion_tokens_details": {"reasoning_tokens": 84}}


async def main(out: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="llama-tui-shots-"))
    os.environ["LLAMA_TUI_HOME"] = str(home)
    for name in ("LLAMA_TUI_BASE_URL", "LLAMA_TUI_API_KEY", "LLAMA_TUI_AUTH"):
        os.environ.pop(name, None)
    from llama_tui import paths
    from llama_tui.ui.app import make_app
    from tests.fakeserver import FakeServer, azure_content_filter_400, chat_stream
    from tests.fakeserver.scripts import models_list, reasoning_stream

    out.mkdir(parents=True, exist_ok=True)
    with FakeServer() as server:
        paths.config_dir().mkdir(parents=True)
        paths.config_file().write_text(
            'default_endpoint = "azure-llama2-7b-chat"\n'
            'system_prompt = "You are a helpful assistant."\nmemory_window = 5\n'
            '[endpoints.azure-llama2-7b-chat]\n'
            f'url = "{server.base_url}/v1"\nkey = "sk-screenshot-0000"\n'
        )
        server.enqueue(chat_stream(["About 545,000 people live in Lisbon itself."]))
        server.enqueue(chat_stream(CHAT_REPLY, delay=0.01))
        server.enqueue(azure_content_filter_400())
        server.enqueue(reasoning_stream(THOUGHTS, PRIME_REPLY, usage=USAGE, usage_chunk=True,
                                        delay=0.01))
        server.route("GET", "/v1/models",
                     models_list({"id": "fake-model", "meta": {"n_ctx_train": 8192}}))
        app = make_app(probe_servers=())
        async with app.run_test(size=SIZE) as pilot:
            from llama_tui.ui.screens.search import SearchScreen
            from llama_tui.ui.screens.settings import SettingsScreen
            from tests.ui.conftest import main as main_screen
            from tests.ui.conftest import type_and_send, wait_for, wait_replies

            await type_and_send(pilot, "How many people live in Lisbon?")
            await wait_replies(pilot)
            await pilot.press("ctrl+n")
            await type_and_send(pilot, "Who wrote the book Innovators dilemma?")
            await wait_replies(pilot)
            await pilot.pause(0.3)
            main_screen(app).query_one("#prompt").cursor_blink = False
            app.save_screenshot(str(out / "chat.svg"))
            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
            app.screen.query_one("#search-input").value = "innovat"
            await wait_for(pilot, lambda: app.screen.query_one("#search-hits").option_count
                           and not any(w.is_running for w in app.workers
                                       if w.group == "search"))
            await pilot.pause(0.3)
            app.save_screenshot(str(out / "search.svg"))
            await pilot.press("escape")
            await pilot.pause(0.2)
            await pilot.press("ctrl+n")
            await type_and_send(pilot, "Tell me how to make something dangerous")
            await wait_replies(pilot)
            await pilot.pause(0.3)
            app.save_screenshot(str(out / "content-filter.svg"))
            await pilot.press("ctrl+n")
            await type_and_send(pilot, "Is 1009 a prime number?")
            await wait_replies(pilot)
            await pilot.press("ctrl+b")  # the list hidden: room for the usage in the status
            status = main_screen(app).query_one("#status")
            for _ in range(100):  # the model list is asked once, after a reply with usage
                if "last: " in str(status.render()):
                    break
                await pilot.pause(0.05)
            await pilot.pause(0.3)
            app.save_screenshot(str(out / "reasoning.svg"))
            await pilot.press("ctrl+b")
            await pilot.press("f2")
            await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
            await pilot.pause(0.5)
            app.save_screenshot(str(out / "settings.svg"))
    print(f"wrote {', '.join(p.name for p in sorted(out.glob('*.svg')))} to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the README's screenshots.")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots",
                        help="folder for the SVGs (default: screenshots/)")
    asyncio.run(main(parser.parse_args().out))
