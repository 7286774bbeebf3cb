"""The shape of the code: small modules, imports that only go down the layers and never in circles, one place
that reaches the network and one place that catches out-of-memory."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("wav2lip_core", "nodes")
MAX_LINES = 450
# Lower layers never import higher ones; the nodes sit above the whole engine.
LAYERS = [
    {"models", "audio", "silence", "video", "runtime", "schedule", "compositing"},
    {"checkpoints"},
    {"detection"},
    {"pipeline", "scoring"},
    {"tracks"},
    {"video_job"},
    {"cli", "batch", "__main__"},
]
NETWORK_MODULES = ("urllib", "http", "socket", "requests", "httpx", "huggingface_hub", "torch.hub", "ftplib")
THE_FETCHER = "wav2lip_core.checkpoints.fetch"
THE_BATCH_LOOP = "wav2lip_core.runtime.batching"


def _sources() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


SOURCES = _sources()


def _is_package(module: str) -> bool:
    return SOURCES[module].name == "__init__.py"


def _imports(module: str) -> set[str]:
    """Every module ``module`` imports (top level or inside functions), absolute names."""
    tree = ast.parse(SOURCES[module].read_text(encoding="utf-8"))
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            named_modules = {f"{target}.{alias.name}" for alias in node.names} & set(SOURCES)
            found.update(named_modules)                  # "from . import x" naming a module imports that module
            if node.module or len(named_modules) < len(node.names):
                found.add(target)
    return found


def _internal_imports(module: str) -> set[str]:
    return {name for name in _imports(module) if name in SOURCES and name != module}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "wav2lip_core" or len(parts) == 1:
        return None
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f"{module} is in no layer of this test; add it to LAYERS")


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_every_source_file_is_small(module):
    lines = SOURCES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{SOURCES[module].relative_to(ROOT)} has {lines} lines"


def test_engine_imports_only_go_down_the_layers_and_never_up_into_their_own_package():
    wrong = []
    for module in SOURCES:
        layer = _layer(module)
        for target in _internal_imports(module):
            if target.startswith("nodes") and module.startswith("wav2lip_core"):
                wrong.append(f"{module} -> {target} (the engine never imports the nodes)")
            target_layer = _layer(target)
            if layer is not None and target_layer is not None and target_layer > layer:
                wrong.append(f"{module} -> {target} (layer {layer} imports layer {target_layer})")
            if module.startswith(target + ".") and target != "wav2lip_core" or \
                    (target == "wav2lip_core" and module.startswith("wav2lip_core.")):
                wrong.append(f"{module} -> {target} (imports back up from its own package)")
    assert wrong == []


def test_there_are_no_import_circles():
    graph = {module: _internal_imports(module) for module in SOURCES}
    state: dict[str, int] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_only_the_verified_fetcher_reaches_the_network():
    reaching = sorted(module for module in SOURCES if module != THE_FETCHER
                      and any(name == network or name.startswith(network + ".")
                              for name in _imports(module) for network in NETWORK_MODULES))
    assert reaching == []
    for module, path in SOURCES.items():
        code = [ast.unparse(node) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute)]
        assert not [text for text in code if text.startswith("torch.hub") or text.endswith("_from_url")], module


def _catches_out_of_memory(handler: ast.ExceptHandler) -> bool:
    caught = ast.unparse(handler.type) if handler.type is not None else ""
    body = "\n".join(ast.unparse(statement) for statement in handler.body)
    return any(word in caught for word in ("OutOfMemory", "out_of_memory", "OOM")) or "is_out_of_memory(" in body


def test_exactly_one_place_catches_out_of_memory_to_retry_smaller():
    catching = [module for module in SOURCES
                for node in ast.walk(ast.parse(SOURCES[module].read_text(encoding="utf-8")))
                if isinstance(node, ast.ExceptHandler) and _catches_out_of_memory(node)]
    assert catching == [THE_BATCH_LOOP]


def test_the_package_imports_its_entry_points_only_when_used():
    """``python -m wav2lip_core`` decides how its own start-up imports run (wav2lip_core/__main__.py): importing
    the package itself must not import torch yet; the public entry points still import as before."""
    import subprocess
    import sys

    script = ("import sys, wav2lip_core; assert 'torch' not in sys.modules, 'torch imported by the package'; "
              "from wav2lip_core import lipsync, load_wav2lip, DetectionOptions, SAMPLE_RATE; "
              "assert SAMPLE_RATE == 16000 and callable(lipsync) and 'torch' in sys.modules; "
              "assert set(wav2lip_core.__all__) <= set(dir(wav2lip_core))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
