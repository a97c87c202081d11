"""Imports transformers' own common test files (fetched by `fetch.py` during set-up) as the package
`transformers_common_tests`, with `standins.py` under the names of the sub-folder modules they import.

Without the fetched files the tests that need them are skipped, except under CI (`CI` set), where `make test` and
`make test-floors` fetch them: a missing set-up step must fail there, not pass as skipped.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

import pytest

from . import standins
from .fetch import NEEDED, target_folder

PACKAGE = "transformers_common_tests"
_STAND_INS = {
    "generation": {"test_utils": ("GenerationTesterMixin",)},
    "exporters": {"test_export": ("ExportTesterMixin",)},
    "utils": {"test_configuration_utils": ("config_common_kwargs",)},
}


def _install_package(folder) -> None:
    if PACKAGE in sys.modules:
        return
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(folder)]
    package.__file__ = str(folder / "__init__.py")  # `direct_transformers_import(Path(__file__).parent)` reads it
    sys.modules[PACKAGE] = package
    for sub, modules in _STAND_INS.items():
        sub_package = types.ModuleType(f"{PACKAGE}.{sub}")
        sub_package.__path__ = []
        sys.modules[sub_package.__name__] = sub_package
        for name, attributes in modules.items():
            module = types.ModuleType(f"{PACKAGE}.{sub}.{name}")
            module.__doc__ = f"Stand-in from tests/transformers_common/standins.py for transformers' tests/{sub}/{name}.py"
            for attribute in attributes:
                setattr(module, attribute, getattr(standins, attribute))
            sys.modules[module.__name__] = module
    ci_helper = types.ModuleType("fetch_hub_objects_for_ci")  # test_processing_common imports it from utils/
    ci_helper.url_to_local_path = standins.url_to_local_path
    sys.modules.setdefault("fetch_hub_objects_for_ci", ci_helper)


def common(module: str):
    """transformers' `tests/<module>.py` of the installed release, e.g. `common("test_modeling_common")`."""
    folder = target_folder()
    if not all((folder / name).is_file() for name in NEEDED):
        message = (f"transformers' common test files are not at {folder}: run `make test` (or "
                   "`python tests/transformers_common/fetch.py`), which fetches them during set-up")
        if os.environ.get("CI"):
            raise RuntimeError(message)
        pytest.skip(message, allow_module_level=True)
    _install_package(folder)
    return importlib.import_module(f"{PACKAGE}.{module}")
