"""Code fingerprints: the hash of the code a run or a cached artefact depends on, and of nothing else [issue 33: a
store that lasts]. It is part of every key (``store.digest``), so a record made by other code is never read as this
code's, while an edit that cannot move a number leaves every key, and so the whole results store, as it was.

A fingerprint is taken over *definitions*: a module's top-level functions, classes and assignments, read from the
syntax tree with docstrings dropped, so comments, docstrings and layout never move a key. From its roots it follows
every name a definition uses to the ddlib definition it names (across modules, through imports) and hashes all it
reaches. It stops at *doors*: where a run reaches an input that has a key of its own (the teacher, a distilled set),
a registry of which a run uses one entry (a dataset's loader, a selector, a difficulty score, a distiller), or code
that makes no number (``origin``, where a number was made; this module, the key rule). Whoever computes a key adds,
as a root, the entry it uses.

So a random-subset run is keyed by the run's own code and its dataset's loader; a herding run also by herding's code
(not by EL2N's); a run on a DM set by DM's set key, which covers DM's code. The test that makes this safe traces real
runs and checks that every ddlib function they execute lies inside their fingerprint (tests/test_fingerprint.py).
"""
from __future__ import annotations

import ast
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
LENGTH = 16          # hex characters (store.KEY_LENGTH)
BODY = "<body>"      # a module's statements that are not definitions (code run on import)

# The doors, as (module, definition); a definition of None closes the whole module (and its submodules).
TEACHER = ("teacher", "get")             # a teacher: its key covers its code
DISTILLERS = ("distill", None)           # a set's key covers its distiller's code
LOADERS = (("data", "LOADERS"), ("data", "_load_folder_tree"))   # one dataset's loader: data.code_part
SELECTORS = ("select", "SELECTORS")      # one selector: select.code_part
SCORES = ("scores", "SCORES")            # the difficulty scores, reached by a selector that reads them
METHODS = ("distill", "METHODS")         # one distiller: distill.code_part
NEVER = (("origin", None), ("fingerprint", None))   # code that makes no number: where one was made, the key rule
INPUTS = (TEACHER, DISTILLERS, *LOADERS, SELECTORS, SCORES, *NEVER)   # a run's doors: what it reaches by key or name
TEACHER_DOORS = tuple(d for d in INPUTS if d != TEACHER)       # the teacher's own code, behind its door
SELECTOR_DOORS = tuple(d for d in INPUTS if d != SCORES)       # a selector reads the scores it names
SET_DOORS = (TEACHER, *LOADERS, METHODS, *NEVER)               # a set: its distiller's module, and what that reaches


@dataclass(frozen=True)
class Part:
    """Code reached from ``roots`` (each ``(module, definition)``, or ``(module, None)`` for a whole module)
    without passing through ``doors``."""
    roots: tuple
    doors: tuple = INPUTS


def root_of(obj) -> tuple:
    """The (module, definition) of a ddlib function or class, or (module, None) of a ddlib module."""
    module = getattr(obj, "__module__", None) or obj.__name__
    name = None if isinstance(obj, type(ast)) else obj.__qualname__.split(".")[0]
    return module.removeprefix("ddlib.").removeprefix("ddlib"), name


@dataclass
class _Module:
    code: dict       # definition -> its code (an ast.dump without docstrings); BODY: the other statements
    uses: dict       # definition -> the (module, definition) pairs it names
    imported: dict   # a name imported from another ddlib module -> (module, definition)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and \
                isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) and \
                isinstance(node.body[0].value.value, str):
            node.body = node.body[1:]
    return tree


class Code:
    """The ddlib source under ``package``, parsed on demand; :meth:`fingerprint` of parts."""

    def __init__(self, package: Path = PACKAGE_DIR):
        self.package = Path(package)
        self._modules = {}
        self._reach = lru_cache(maxsize=None)(self._reach_uncached)
        self.fingerprint = lru_cache(maxsize=None)(self._fingerprint_uncached)   # a key asks for it thousands of times

    def is_module(self, name: str) -> bool:
        path = self.package.joinpath(*name.split(".")) if name else self.package
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    def _path(self, name: str) -> Path:
        path = self.package.joinpath(*name.split("."))
        return path / "__init__.py" if (path / "__init__.py").is_file() else path.with_suffix(".py")

    def module(self, name: str) -> _Module:
        if name not in self._modules:
            self._modules[name] = self._parse(name)
        return self._modules[name]

    def _imports(self, name: str, tree: ast.AST) -> tuple[dict, dict]:
        """({alias: module} for ddlib modules, {alias: (module, definition)} for ddlib definitions), from every
        relative import in the file (a function's own included)."""
        package = name.split(".") if self._path(name).name == "__init__.py" else name.split(".")[:-1]
        if name == "":
            package = []
        modules, names = {}, {}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                sub = ".".join(base + [alias.name])
                if self.is_module(sub):
                    modules[alias.asname or alias.name] = sub
                else:
                    names[alias.asname or alias.name] = (".".join(base), alias.name)
        return modules, names

    def _parse(self, name: str) -> _Module:
        tree = _strip_docstrings(ast.parse(self._path(name).read_text()))
        modules, imported = self._imports(name, tree)
        code, nodes = {}, {}
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                targets = [stmt.name]
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                tgts = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                targets = [n.id for t in tgts for n in ast.walk(t) if isinstance(n, ast.Name)] or [BODY]
            else:
                targets = [BODY]
            for t in targets:
                nodes.setdefault(t, []).append(stmt)
        defined = set(nodes)
        uses = {}
        for t, stmts in nodes.items():
            code[t] = "\n".join(ast.dump(s, annotate_fields=False) for s in stmts)
            uses[t] = set().union(*(self._names(s, name, defined, modules, imported) for s in stmts))
        return _Module(code, uses, imported)

    def _names(self, node: ast.AST, me: str, defined: set, modules: dict, imported: dict) -> set:
        """The (module, definition) pairs ``node`` names: its own module's definitions, imported definitions, and
        ``module.attr`` of an imported module (a module used bare: the whole module)."""
        out, consumed = set(), set()
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules:
                mod = modules[n.value.id]
                sub = f"{mod}.{n.attr}"
                out.add((sub, None) if self.is_module(sub) else (mod, n.attr))
                consumed.add(id(n.value))
        for n in ast.walk(node):
            if not isinstance(n, ast.Name) or not isinstance(n.ctx, ast.Load) or id(n) in consumed:
                continue
            if n.id in defined:
                out.add((me, n.id))
            elif n.id in imported:
                out.add(imported[n.id])
            elif n.id in modules:
                out.add((modules[n.id], None))
        return out

    def _expand(self, ref: tuple) -> list:
        """A reference as the definitions it stands for: a whole module's, or one (a name a module re-exports is
        followed to where it is defined; one it lacks stands for the whole module)."""
        module, name = ref
        if not self.is_module(module):
            raise ValueError(f"no ddlib module {module!r} (named by {ref})")
        m = self.module(module)
        if name is None:
            return [(module, d) for d in m.code]
        if name in m.code:
            return [(module, name), *([(module, BODY)] if BODY in m.code else [])]
        if name in m.imported:
            return self._expand(m.imported[name])
        if self.is_module(f"{module}.{name}"):
            return self._expand((f"{module}.{name}", None))
        return self._expand((module, None))

    @staticmethod
    def _behind(ref: tuple, doors: tuple) -> bool:
        module, name = ref
        return any(m == module and (d is None or d == name) or (d is None and module.startswith(m + "."))
                   for m, d in doors)

    def _reach_uncached(self, part: Part) -> frozenset:
        seen, todo = set(), [d for r in part.roots for d in self._expand(r)]
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            for used in self.module(ref[0]).uses[ref[1]]:
                todo += [d for d in self._expand(used) if d not in seen and not self._behind(d, part.doors)]
        return frozenset(seen)

    def reach(self, *parts: Part) -> frozenset:
        """The (module, definition) pairs the parts reach."""
        return frozenset().union(*(self._reach(p) for p in parts))

    def _fingerprint_uncached(self, *parts: Part) -> str:
        h = hashlib.sha256()
        for module, name in sorted(self.reach(*parts)):
            h.update(f"{module}:{name}\0{self.module(module).code[name]}\0".encode())
        return h.hexdigest()[:LENGTH]


_code = Code()


def of(*parts: Part) -> str:
    """The fingerprint of the code the parts reach (LENGTH hex characters)."""
    return _code.fingerprint(*parts)


def reach(*parts: Part) -> frozenset:
    return _code.reach(*parts)


@contextmanager
def reading(package: Path):
    """Fingerprints of the source under ``package`` inside (a test's edited copy of ddlib)."""
    global _code
    before, _code = _code, Code(package)
    try:
        yield _code
    finally:
        _code = before
