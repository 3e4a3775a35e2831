"""The import-linter contracts (run by `make lint`) name each blueprint package; this keeps
that list complete, so a new blueprint is held independent from the day it is added."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def test_every_blueprint_package_is_in_the_independence_contract():
    web = ROOT / "portal" / "web"
    packages = {f"portal.web.{p.name}" for p in web.iterdir()
                if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages, "no blueprint packages found: is the path right?"
    assert set(_contract("blueprints")["modules"]) == packages


def test_the_layers_put_web_above_services_above_models():
    layers = _contract("layers")["layers"]
    order = [next(i for i, layer in enumerate(layers) if name in layer)
             for name in ("portal.web", "portal.services", "portal.models")]
    assert order == sorted(order) and len(set(order)) == 3
