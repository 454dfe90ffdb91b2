"""Catalogs of GPUs, models, precisions, engines and GPU offers, loaded from TOML data.

The packaged files live in `catalog/data/`; a user file (`--catalog my.toml`) adds or overrides
entries with tables `[gpus.<id>]`, `[models.<id>]`, `[precisions.<id>]`, `[engines.<id>]` and
arrays `[[offers]]`. An override of an existing id is merged field by field over the packaged
entry, so a user can change one price without restating the whole spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Offer, Precision
from fleetplan.catalog.versions import version_tuple
from fleetplan.errors import InputError, UnknownNameError

__all__ = ["AUTO_PRECISION", "Catalog", "is_auto", "load_catalog", "resolve_model"]

_SECTIONS = ("gpus", "models", "precisions", "engines")
_RELEASE = re.compile(r"v?\d+(\.\d+)*[0-9A-Za-z.+-]*")
# the precision name that stands for the one a model's weights ship in (Catalog.precision_for)
AUTO_PRECISION = "auto"


def is_auto(precision: str) -> bool:
    """Whether a precision name is "auto" (the one the model's weights ship in)."""
    return str(precision).strip().lower() == AUTO_PRECISION


def _read_toml(path: Path | str, text: str | None = None) -> dict[str, Any]:
    from fleetplan.files import parse_text, read_text

    if text is None:
        text = read_text(path, "catalog file")
    return parse_text(text, f"catalog file {str(path)!r}", "toml")


def _packaged(name: str) -> dict[str, Any]:
    text = resources.files("fleetplan.catalog.data").joinpath(name).read_text(encoding="utf-8")
    return _read_toml(f"fleetplan/catalog/data/{name}", text)


def _index(kind: str, specs: dict[str, Any]) -> dict[str, str]:
    """Map every id and alias (lower-case) to its id; duplicates are a catalog error."""
    index: dict[str, str] = {}
    for sid, spec in specs.items():
        for key in (sid, *getattr(spec, "aliases", ())):
            key = key.lower()
            if key in index and index[key] != sid:
                raise InputError(f"{kind} name {key!r} is used by both {index[key]!r} and {sid!r}")
            index[key] = sid
    return index


@dataclass(frozen=True)
class Catalog:
    """All specs, indexed by id and alias. Build it with `load_catalog()`."""

    gpus: dict[str, GpuSpec]
    models: dict[str, ModelSpec]
    precisions: dict[str, Precision]
    engines: dict[str, EngineProfile]
    offers: tuple[Offer, ...]
    _names: dict[str, dict[str, str]]

    def _get(self, kind: str, table: dict[str, Any], name: str) -> Any:
        key = str(name).strip().lower()
        sid = self._names[kind].get(key)
        if sid is None:
            raise UnknownNameError(kind, str(name), self._names[kind].keys())
        return table[sid]

    def gpu(self, name: str) -> GpuSpec:
        return self._get("gpu", self.gpus, name)

    def model(self, name: str) -> ModelSpec:
        return self._get("model", self.models, name)

    def precision(self, name: str) -> Precision:
        return self._get("precision", self.precisions, name)

    def precision_for(self, model: ModelSpec, name: str) -> Precision:
        """A precision by id or alias, where "auto" is the one `model`'s weights ship in
        (ModelSpec.native_precision: DeepSeek-R1's FP8, gpt-oss's MXFP4, bf16 for 16-bit)."""
        return self.precision(model.native_precision if is_auto(name) else name)

    def precisions_for(self, model: ModelSpec, names: Iterable[str]) -> list[Precision]:
        """`precision_for` of each name, each precision once ("auto" beside the one it is)."""
        found = (self.precision_for(model, n) for n in names)
        return list({p.id: p for p in found}.values())

    def engine(self, name: str) -> EngineProfile:
        """An engine profile by id or alias ('vllm' = its current family), or a release family
        by engine and version ('vllm@0.6', 'tensorrt-llm@0.9.0')."""
        text = str(name).strip()
        if "@" not in text:
            return self._get("engine", self.engines, text)
        base, version = (p.strip() for p in text.split("@", 1))
        engine = self._get("engine", self.engines, base).engine
        # a release as engines number them: 0.6, 0.8.5rc1, v1.0.0.post1; never 0.6@1 or 0.6 x
        if not version_tuple(version) or not _RELEASE.fullmatch(version):
            raise InputError(
                f"--engine = {text!r}; expected ENGINE@VERSION with a numeric version "
                "(e.g. vllm@0.6)"
            )
        families = self.families(engine)
        for fam in families:
            if fam.covers(version):
                return fam.at_version(version)
        ranges = ", ".join(f"{f.id} {f.versions}" for f in families)
        raise InputError(
            f"--engine = {text!r}: no {engine} profile covers version {version}; profiles: {ranges}"
        )

    def families(self, engine: str) -> list[EngineProfile]:
        """Every release family of `engine`, oldest first."""
        fams = [e for e in self.engines.values() if e.engine == engine]
        return sorted(fams, key=lambda e: version_tuple(e.version_min))

    def offers_for(self, gpu: str | None = None, provider: str | None = None) -> list[Offer]:
        gid = self.gpu(gpu).id if gpu else None
        pid = provider.lower() if provider else None  # offers store it lower-cased: AWS is aws
        return [
            o
            for o in self.offers
            if (gid is None or o.gpu == gid) and (pid is None or o.provider == pid)
        ]


def _build(raw: dict[str, dict[str, Any]], offers_raw: list[Any], where: str) -> Catalog:
    from fleetplan.catalog.engine_schema import EngineEntry
    from fleetplan.catalog.schema import (
        GpuEntry,
        ModelEntry,
        OfferEntry,
        PrecisionEntry,
        parse_entry,
    )

    schemas = {
        "gpus": GpuEntry,
        "models": ModelEntry,
        "precisions": PrecisionEntry,
        "engines": EngineEntry,
    }
    built: dict[str, dict[str, Any]] = {}
    for section, schema in schemas.items():
        built[section] = {}
        for sid, entry in raw[section].items():
            parsed = parse_entry(schema, f"{where}: {section}.{sid}", entry)
            built[section][sid.lower()] = parsed.to_spec(sid.lower())
    engines = built["engines"]
    for eid, eng in list(engines.items()):
        ref = eng.generation_scales_from.lower()
        if ref and (ref not in engines or ref == eid):
            others = ", ".join(sorted(set(engines) - {eid}))
            raise InputError(
                f"{where}: engines.{eid}.generation_scales_from = {ref!r}; expected another "
                f"engine profile id: {others}"
            )
    own = dict(engines)
    for eid, eng in own.items():
        for ref in reference_chain(own, eid):  # nearest first: each adds what it has
            eng = eng.borrow_generations(own[ref].without_borrowed())
        engines[eid] = eng
    for eid, eng in list(engines.items()):
        engines[eid] = eng.with_measured_generations()
    _check_ceilings(engines, where)
    names = {kind[:-1]: _index(kind[:-1], built[kind]) for kind in _SECTIONS}
    for mid, m in built["models"].items():  # a checkpoint's precision names a known one
        if not m.checkpoint_precision:
            continue
        pid = names["precision"].get(m.checkpoint_precision.lower())
        if pid is None:
            raise InputError(
                f"{where}: models.{mid}.checkpoint_precision = {m.checkpoint_precision!r}; "
                f"expected a precision id: {', '.join(sorted(built['precisions']))}"
            )
        built["models"][mid] = replace(m, checkpoint_precision=pid)
    offers = []
    for i, entry in enumerate(offers_raw):
        offer = parse_entry(OfferEntry, f"{where}: offers[{i}]", entry).to_spec()
        if offer.gpu not in names["gpu"]:
            raise UnknownNameError("gpu", offer.gpu, names["gpu"].keys())
        offers.append(offer.__class__(**{**offer.__dict__, "gpu": names["gpu"][offer.gpu]}))
    return Catalog(
        gpus=built["gpus"],
        models=built["models"],
        precisions=built["precisions"],
        engines=built["engines"],
        offers=tuple(offers),
        _names=names,
    )


@cache
def _packaged_raw() -> tuple[dict[str, dict[str, Any]], list[Any]]:
    raw = {
        "gpus": _packaged("gpus.toml"),
        "models": _packaged("models.toml"),
        "precisions": _packaged("precisions.toml"),
        "engines": _packaged("engines.toml"),
    }
    return raw, list(_packaged("offers.toml").get("offer", []))


def _merge_user(
    raw: dict[str, dict[str, Any]], offers: list[Any], path: Path | str
) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    user = _read_toml(path)
    unknown = set(user) - {*_SECTIONS, "offers"}
    if unknown:
        raise InputError(
            f"catalog file {str(path)!r}: unknown section(s) {sorted(unknown)}; "
            f"accepted: {', '.join([*_SECTIONS, 'offers'])}"
        )
    merged = {s: dict(raw[s]) for s in _SECTIONS}
    for section in _SECTIONS:
        for sid, entry in user.get(section, {}).items():
            if not isinstance(entry, dict):
                raise InputError(f"catalog file {str(path)!r}: {section}.{sid} must be a table")
            base = merged[section].get(sid.lower(), {})
            if section == "engines":
                entry = _engine_override(base, entry, path)
            merged[section][sid.lower()] = {**base, **entry}
    user_offers = user.get("offers", [])
    if not isinstance(user_offers, list):
        raise InputError(f"catalog file {str(path)!r}: 'offers' must be an array of tables")
    replaced = {(o.get("provider"), o.get("gpu"), o.get("pricing")) for o in user_offers}
    kept = [o for o in offers if (o["provider"], o["gpu"], o["pricing"]) not in replaced]
    return merged, kept + list(user_offers)


def reference_chain(engines: Mapping[str, Any], eid: str) -> list[str]:
    """The families `eid` takes GPU-generation scales from, nearest first: its
    `generation_scales_from`, that family's, and so on (a loop ends the chain)."""
    chain: list[str] = []
    ref = engines[eid].generation_scales_from.lower()
    while ref and ref in engines and ref != eid and ref not in chain:
        chain.append(ref)
        ref = engines[ref].generation_scales_from.lower()
    return chain


# an engine's scale tables a user file adds to, key by key (a generation's or a format's
# scales factor by factor), instead of replacing them whole; its sources likewise
_SCALE_TABLES = ("architecture_scale", "format_scale")


def _engine_override(
    base: dict[str, Any], entry: dict[str, Any], path: Path | str
) -> dict[str, Any]:
    """A user file's engine entry, ready to merge over `base`: its sources, generation and
    format scales add to the profile's key by key (a file that sets one generation's scale keeps
    the others), and a setting the file gives no source for says it comes from the file, where
    the packaged source would name measurements the value no longer stands on. A value of the
    wrong kind is left for the schema to name."""
    out = dict(entry)
    known = base.get("sources") if isinstance(base.get("sources"), dict) else {}
    given = entry.get("sources") if isinstance(entry.get("sources"), dict) else {}
    for table in _SCALE_TABLES:
        mine, packaged = entry.get(table), base.get(table)
        if isinstance(mine, dict) and isinstance(packaged, dict):
            merged = {key: dict(val) for key, val in packaged.items()}
            for key, val in mine.items():
                both = isinstance(val, dict) and isinstance(merged.get(key), dict)
                merged[key] = {**merged[key], **val} if both else val
            out[table] = merged
    here = f"set in catalog file {str(path)!r}"
    said = {k: here for k in entry if k != "sources" and k not in given}
    for table in set(_SCALE_TABLES) & set(said):  # which keys it set; the rest as before
        if isinstance(entry[table], dict) and known.get(table):
            said[table] = (
                f"{', '.join(sorted(entry[table]))} {here}; the rest as before: {known[table]}"
            )
    if (known or given or said) and isinstance(entry.get("sources", {}), dict):
        out["sources"] = {**known, **given, **said}
    return out


def _check_ceilings(engines: dict[str, Any], where: str) -> None:
    """Every efficiency factor that is a share of a spec peak stays under its physical
    ceiling on every GPU generation and weight format, its scales applied
    (`catalog.generations.FACTOR_CEILINGS`): a profile over it would predict more than the GPU
    can do. The packaged profiles are held to it by tests; this holds a user's file to it."""
    from fleetplan.catalog.generations import FACTOR_CEILINGS
    from fleetplan.catalog.specs import ARCHITECTURE_ORDER

    for eid, eng in engines.items():
        for name, ceiling in FACTOR_CEILINGS.items():
            for arch in ARCHITECTURE_ORDER:
                for prec in ("", *eng.precisions):
                    value = eng.factor(name, arch, prec)
                    if value <= ceiling + 1e-9:
                        continue
                    arch_x = eng.architecture_scale.get(arch, {}).get(name, 1.0)
                    fmt_x = eng.format_scale.get(prec, {}).get(name, 1.0)
                    how = (
                        f"{getattr(eng, name):g}"
                        + (f" x architecture_scale.{arch} {arch_x:g}" if arch_x != 1.0 else "")
                        + (f" x format_scale.{prec} {fmt_x:g}" if fmt_x != 1.0 else "")
                    )
                    on = f"on {arch} GPUs" + (f" at {prec}" if fmt_x != 1.0 else "")
                    raise InputError(
                        f"{where}: engines.{eid}.{name} {on} is {how} = {value:.3g} of the spec "
                        f"peak; accepted: at most {ceiling:g} (what the best kernels reach); lower "
                        "the factor or its scale"
                    )


@cache
def _load(paths: tuple[str, ...]) -> Catalog:
    from fleetplan.disk_cache import cached, file_stamp

    try:  # the parsed catalog is kept on disk, keyed by every file it is read and built from
        data = Path(str(resources.files("fleetplan.catalog.data")))
        code = sorted(Path(__file__).parent.glob("*.py"))  # an edited schema rebuilds it too
        key = tuple(file_stamp(p) for p in [*code, *sorted(data.glob("*.toml")), *paths])
    except OSError:  # a missing file (reported by the parse) or a zipped package: no cache
        return _parse(paths)
    return cached("catalog", key, lambda: _parse(paths))


def _parse(paths: tuple[str, ...]) -> Catalog:
    raw, offers = _packaged_raw()
    where = "packaged catalog"
    for path in paths:
        raw, offers = _merge_user(raw, offers, path)
        where = f"catalog (with {path})"
    return _build(raw, offers, where)


def load_catalog(*extra_files: Path | str) -> Catalog:
    """The packaged catalog, with user files merged over it in order (cached per file list)."""
    return _load(tuple(str(p) for p in extra_files))


def resolve_model(catalog: Catalog, name: str) -> ModelSpec:
    """A catalog model by id or alias, or a model read from a config.json path."""
    from fleetplan.catalog.hf_config import looks_like_path, model_from_config
    from fleetplan.validation import MODEL_ACCEPTED

    if not str(name).strip():  # "" is no file name: Path("") is the current folder
        raise InputError(f"model = {name!r}; accepted: {MODEL_ACCEPTED}")
    if looks_like_path(name):
        return model_from_config(name)
    return catalog.model(name)
