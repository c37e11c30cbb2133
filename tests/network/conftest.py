"""Fixtures of the command-line tests: an isolated home and the fake server's base URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakeserver import FakeServer


@pytest.fixture
def home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def url(fake_server: FakeServer) -> str:
    return fake_server.base_url + "/v1"
