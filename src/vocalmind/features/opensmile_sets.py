"""openSMILE functionals as vocalmind feature sets: ``egemaps``, ``compare``, ``is09``, ``opensmile``.

All four run the openSMILE library shipped inside the ``opensmile`` Python package
(audEERING) on the 16 kHz mono signal and return one row of utterance-level functionals.

- ``egemaps``: eGeMAPS v02, 88 functionals (Eyben et al., IEEE TAC 2016).
- ``compare``: ComParE 2016, 6,373 functionals (Schuller et al., Interspeech 2016).
- ``is09``: the INTERSPEECH 2009 Emotion Challenge set, 384 functionals (Schuller, Steidl &
  Batliner, Interspeech 2009): 16 low-level descriptors (RMS energy, zero-crossing rate,
  voicing probability, F0 and MFCC 1-12, each smoothed by a 3-frame moving average) and
  their first-order deltas, times 12 functionals (max, min, range, position of max and of
  min, arithmetic mean, linear-regression offset, slope and quadratic error, standard
  deviation, skewness, kurtosis). It is the baseline set of seed document 003.
  opensmile-python 2.6 ships this configuration (``opensmile.FeatureSet.IS09``, file
  ``is09-13/IS09_emotion.conf``, already adapted to the package's external source and
  sink), so vocalmind uses it as is rather than keeping a hand-written copy.
- ``opensmile``: any other openSMILE configuration, ``config=`` either a name of
  :class:`opensmile.FeatureSet` (e.g. ``"emobase"``, ``"IS10"``) or the path of a custom
  ``.conf`` file written to the template in :class:`opensmile.Smile`'s docstring (an
  ``\\{\\cm[source{?}...]}`` include for the input and ``\\{\\cm[sink{?}...]}`` for the
  output). A custom file's content is part of the set's settings, so editing it
  invalidates cached features.

The :class:`opensmile.Smile` object is built lazily, once per process and configuration
(:func:`_smile`), and is never pickled with the feature set, so sets travel cheaply to
worker processes.

Long recordings (over :data:`STREAM_ABOVE_S`) are streamed into openSMILE and their
functionals computed in two openSMILE passes (:func:`_streamed_functionals`), instead of
handing the package the whole signal: its path keeps the float copy, an int16 copy, a
bytes copy and openSMILE's growing input level of the entire signal at once, and, because
the functionals are over the whole recording (``frameMode = full``: percentiles, ranges,
slopes need every frame), every level they read (``bufferModeConf``; for eGeMAPS ten
smoothed low-level-descriptor levels) keeps every 10 ms frame with a 64-byte time record
per frame and level, and each functional component copies what it reads, again with time
records, when the input ends (eGeMAPS on 60 minutes peaked at ~2.5 GB; streamed in one
pass, which removed the signal copies only, at ~1.3 GB).

The configuration is cut where its whole-recording functionals begin (:func:`_split`:
components including ``frameModeFunctionalsConf``, and what is computed from their output,
form the second pass; what they need upstream, the first). The first pass streams the
signal one second at a time through a ring-buffered input into the low-level-descriptor
components, whose levels are ring buffers too, and external sinks keep the frames the
functionals read as compact float32 blocks (eGeMAPS: 36 values a frame, ~0.9 MB per
minute of audio). The second pass runs the configuration's own functionals components on
those frames, fed through external sources (levels without time records), one group of
components at a time (those sharing a level run together); the row is the final
``cVectorConcat``'s inputs in order, as the configuration concatenates them. Both passes
are openSMILE's own code on the same float32 frames, so the values are the package's, bit
for bit (tested for eGeMAPS, ComParE and IS09; the feature names are checked on each run).
One subtlety: a whole-recording functional reads the frames there are when openSMILE first
ticks it at the end of input, so frames its inputs flush after that tick are not in the
functionals; the first pass's sinks stand where the functionals stood, read the levels a
functional reads together, and read blocks sized so that they read the same frames
(:func:`_sink_block`).

What still grows with the length: the float32 frames (4 bytes a value), and in each
second-pass run its input level and, per functional component, openSMILE's copy of what it
reads and of one row of it, with a 64-byte time record a frame each. Measured: eGeMAPS
~1.9 MB per minute of audio, against ~15 MB streamed in one pass and ~35 MB on the package
path (docs/benchmarks.md, section ``egemaps-memory``); ComParE ~7 MB and IS09 ~2 MB, against
~41 and ~24 MB on the package path (10 minutes of a synthetic tone). The second pass releases each feed after its last run and hands freed
heap back to the system (glibc ``malloc_trim``) between runs. A configuration that does not
cut this way (e.g. a custom one setting ``frameMode = full`` inline) is streamed whole
through the same ring-buffered input, its functionals levels growing as openSMILE grows
them.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vocalmind.errors import ConfigError, FeatureError
from vocalmind.features.base import FeatureSet, register

__all__ = ["OpenSmileSet", "EGeMAPS", "ComParE", "IS09"]


@functools.lru_cache(maxsize=8)
def _smile(config: str) -> Any:
    """The openSMILE extractor for ``config`` (a FeatureSet name or a .conf path), per process."""
    import opensmile

    if config in opensmile.FeatureSet.__members__:
        feature_set: Any = opensmile.FeatureSet[config]
    else:
        feature_set = config
    return opensmile.Smile(
        feature_set=feature_set,
        feature_level=opensmile.FeatureLevel.Functionals,
        # one worker per Smile object: parallelism is the executor's job, not openSMILE's
        num_workers=1,
        multiprocessing=False,
    )


#: recordings longer than this (seconds) are streamed into openSMILE (see the module docstring)
STREAM_ABOVE_S = 60.0
#: input ring buffer and write block of the streamed path (seconds of audio)
_RING_S, _BLOCK_S = 10.0, 1.0
_RING_SOURCE = """[componentInstances:cComponentManager]
instance[extsource].type=cExternalAudioSource

[extsource:cExternalAudioSource]
writer.dmLevel=wave
writer.levelconf.growDyn=0
writer.levelconf.isRb=1
writer.levelconf.nT={n}
sampleRate=\\cm[sampleRate{{16000}}:sample rate]
nBits=\\cm[nBits{{16}}:sample bits]
channels=\\cm[channels{{1}}:channel size]
"""
#: ``bufferModeConf`` of the first pass: the levels the functionals read become ring
#: buffers (15 s at 10 ms; openSMILE enlarges one a sink reads to hold the sink's blocks)
_LLD_RING = """writer.levelconf.growDyn = 0
writer.levelconf.isRb = 1
writer.levelconf.nT = 1500
"""
#: the first pass's sinks read blocks of at least this many frames (see :func:`_sink_block`)
_SINK_BLOCK_MIN = 2000
#: frame period the shipped configurations' functionals read (s), to place the last block
_LLD_STEP_S = 0.010
#: the include by which a shipped functionals component sets ``frameMode = full``
_FULL_INPUT_OPTION = "frameModeFunctionalsConf"


@functools.cache
def _include_file(name: str, text: str) -> str:
    """Path of a temporary openSMILE include holding ``text`` (written once per process)."""
    folder = Path(tempfile.mkdtemp(prefix="vocalmind-opensmile-"))
    path = folder / name
    path.write_text(text, encoding="ascii")
    return str(path)


def _ring_source(sr: int) -> str:
    """An openSMILE input include like the package's external wave input, but with a ring
    buffer of :data:`_RING_S` seconds instead of a level that grows with the recording."""
    return _include_file(f"ring_wave_input_{sr}.conf.inc", _RING_SOURCE.format(n=int(_RING_S * sr)))


# ---------------------------------------------------------------- reading a configuration

_FILE_INCLUDE = re.compile(r"^\s*\\\{(?!\\cm)([^}]*)\}\s*$")  # \{file}, not \{\cm[option]}
_OPTION_INCLUDE = re.compile(r"(\\\{\\cm\[\w+\{)([^}?][^}]*)(\})")  # \{\cm[name{default path}
_DECLARATION = re.compile(r"(\w+)\{[^}]*\}:[^\]]*")  # name{default}:description
_REFERENCE = re.compile(r"\\cm\[(\w+)\]")  # \cm[name], declared elsewhere
_OPTION = re.compile(r"\\cm\[(\w+)")
_HEADER = re.compile(r"^\s*\[([^:\]\s]+):([^\]\s]+)\]\s*$")
_INSTANCE = re.compile(r"^\s*instance\[([^\]]+)\]\.type\s*=\s*(\S+)")
_READS = re.compile(r"^\s*\w*?reader\d*\.dmLevel\s*=(.*)$")  # reader., reader2., F0reader. ...
_WRITES = re.compile(r"^\s*writer\.dmLevel\s*=(.*)$")
_READER = re.compile(r"^\s*reader\.dmLevel\s*=(.*)$")


@dataclass(frozen=True)
class _Component:
    """One component of an openSMILE configuration: its section (header line first) and the
    data-memory levels it reads and writes."""

    name: str
    kind: str
    lines: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]


def _expanded_lines(path: Path, declarations: dict[str, str]) -> list[str]:
    """Lines of an openSMILE configuration file with its file includes expanded in place and
    ``/* */`` comments dropped (both as openSMILE reads them). Include options keep their
    meaning outside the file's folder (a relative default path is made absolute), and every
    option declaration (``name{default}:description``) is recorded in ``declarations``."""
    text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8", errors="replace"), flags=re.S)
    out: list[str] = []
    for line in text.splitlines():
        include = _FILE_INCLUDE.match(line)
        if include:
            out += _expanded_lines((path.parent / include.group(1).strip()).resolve(), declarations)
            continue
        line = _OPTION_INCLUDE.sub(
            lambda m: m.group(1) + str((path.parent / m.group(2)).resolve()) + m.group(3), line)
        for declaration in _DECLARATION.finditer(line):
            declarations.setdefault(declaration.group(1), declaration.group(0))
        out.append(line)
    return out


def _levels(lines: list[str], pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The ``;``-separated level names of the lines matching ``pattern``."""
    found = (m.group(1) for m in map(pattern.match, lines) if m)
    return tuple(level.strip() for value in found for level in value.split(";") if level.strip())


def _components(config_path: str) -> list[_Component]:
    """The components of an openSMILE configuration, in instance (tick) order. A reference
    to an option declared in another section (``\\cm[name]``) gets the declaration written
    in, so any subset of the sections loads on its own."""
    declarations: dict[str, str] = {}
    lines = _expanded_lines(Path(config_path), declarations)
    kinds: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
            if current != "componentInstances":
                sections[current] = [line]
        elif current == "componentInstances":
            instance = _INSTANCE.match(line)
            if instance:
                kinds[instance.group(1)] = instance.group(2)
        elif current is not None:
            sections[current].append(line)

    def declared(line: str) -> str:
        return _REFERENCE.sub(
            lambda m: "\\cm[" + declarations.get(m.group(1), m.group(1)) + "]", line)

    return [
        _Component(name, kind, tuple(map(declared, sections[name])),
                   _levels(sections[name], _READS), _levels(sections[name], _WRITES))
        for name, kind in kinds.items() if name in sections
    ]


# ---------------------------------------------------------------- cutting it in two


@dataclass(frozen=True)
class _Split:
    """A functionals configuration cut where its whole-recording functionals begin.

    ``first``: the first pass (frame by frame, fed the streamed signal) in configuration
    order: its components and, where the first second-pass component reading a feed stood,
    the feed's index (a sink is put there). ``feeds``: the level lists second-pass
    components read from the first pass, each as one of them reads it (frames of the levels
    side by side, as many as the shortest has). ``groups``: the second pass; components
    that share no level but feeds run separately. ``outputs``: the levels whose one frame
    each, concatenated in this order, are the functionals row (the inputs of the
    configuration's final ``cVectorConcat``, a plain copy).
    """

    first: tuple[_Component | int, ...]
    feeds: tuple[tuple[str, ...], ...]
    groups: tuple[tuple[_Component, ...], ...]
    outputs: tuple[str, ...]


def _upstream(start: str, writer: dict[str, _Component]) -> set[str]:
    """Names of the components needed to write level ``start``."""
    needed: set[str] = set()
    todo = [writer[start]] if start in writer else []
    while todo:
        component = todo.pop()
        if component.name not in needed:
            needed.add(component.name)
            todo += [writer[level] for level in component.reads if level in writer]
    return needed


def _groups(members: list[_Component], inputs: set[str]) -> tuple[tuple[_Component, ...], ...]:
    """``members`` in groups joined by any level one writes and another reads (levels in
    ``inputs`` join nothing: each run gets its own copy); each group in configuration order."""
    group_of: dict[str, int] = {}
    groups: list[list[_Component]] = []
    for component in members:
        levels = [lv for lv in component.reads + component.writes if lv not in inputs]
        touching = sorted({group_of[lv] for lv in levels if lv in group_of})
        merged = [component] + [c for i in touching for c in groups[i]]
        for i in reversed(touching):
            groups[i] = []
        groups.append(merged)
        for c in merged:
            for level in c.reads + c.writes:
                if level not in inputs:
                    group_of[level] = len(groups) - 1
    order = {c.name: i for i, c in enumerate(members)}
    return tuple(tuple(sorted(g, key=lambda c: order[c.name])) for g in groups if g)


def _downstream(names: set[str], candidates: list[_Component],
                writer: dict[str, _Component]) -> set[str]:
    """``names`` and the names of every candidate reading, directly or not, a level they write."""
    names = set(names)
    grew = True
    while grew:
        follow = {c.name for c in candidates if c.name not in names
                  and any(lv in writer and writer[lv].name in names for lv in c.reads)}
        names |= follow
        grew = bool(follow)
    return names


@functools.lru_cache(maxsize=8)
def _split(config_path: str, sink_level: str) -> _Split | None:
    """The two passes of the functionals configuration ``config_path`` (output level
    ``sink_level``), or None if it does not cut cleanly: no component includes
    ``frameModeFunctionalsConf`` (the shipped configurations' whole-recording functionals),
    a second-pass component reads first-pass levels other than through one ``reader``
    together with nothing else, or the row is not made of second-pass levels only."""
    components = _components(config_path)
    writer = {level: c for c in components for level in c.writes}
    upstream = _upstream(sink_level, writer)
    needed = [c for c in components if c.name in upstream]
    full = {c.name for c in needed if any(_FULL_INPUT_OPTION in line for line in c.lines)}
    if not full:
        return None
    second = _downstream(full, needed, writer)
    feeds: list[tuple[str, ...]] = []
    first: list[_Component | int] = []
    for c in needed:
        if c.name not in second:
            first.append(c)
            continue
        outside = tuple(lv for lv in c.reads
                        if writer.get(lv) is None or writer[lv].name not in second)
        if not outside:
            continue
        one_reader = outside == c.reads == _levels(list(c.lines), _READER)
        if not one_reader or any(lv not in writer for lv in outside):
            return None  # e.g. the wave level, or first- and second-pass levels in one reader
        if outside not in feeds:
            feeds.append(outside)
            first.append(len(feeds) - 1)
    final = writer[sink_level]
    if final.kind == "cVectorConcat" and final.name not in full:
        outputs, members = final.reads, [c for c in needed if c.name in second - {final.name}]
    else:
        outputs, members = (sink_level,), [c for c in needed if c.name in second]
    if not set(outputs) <= {lv for c in members for lv in c.writes}:
        return None
    fed = {lv for feed in feeds for lv in feed}
    return _Split(tuple(first), tuple(feeds), _groups(members, fed), tuple(outputs))


# ---------------------------------------------------------------- running the passes


@dataclass
class _Frames:
    """The frames a sink received: float32 blocks [shape=(n_i, n_values)] in order, the
    frame period of the (first) level it reads (s) and its value names."""

    names: list[str]
    blocks: deque[np.ndarray] = field(default_factory=deque)
    period: float = 0.0

    @property
    def n(self) -> int:
        """Number of frames."""
        return sum(block.shape[0] for block in self.blocks)


def _engine(smile: Any, config_path: str, options: dict[str, Any]) -> Any:
    """An initialised openSMILE engine for ``config_path`` with ``options``, logging like
    ``smile``."""
    from opensmile.core.lib import OpenSMILE

    engine = OpenSMILE()
    try:
        engine.initialize(config_file=config_path, options=options, loglevel=smile.loglevel,
                          log_file=smile.logfile, debug=smile.verbose)
    except Exception as e:  # opensmile's own exception carries only a code
        engine.free()
        raise FeatureError(f"openSMILE could not load {config_path}: {e}") from e
    return engine


def _declared(text: str, options: dict[str, Any]) -> dict[str, Any]:
    """The ``options`` a generated configuration ``text`` declares, directly or in the
    include files those options name (openSMILE rejects an option no ``\\cm`` names)."""
    used = set(_OPTION.findall(text))
    for name in list(used):
        value = options.get(name)
        if isinstance(value, str) and Path(value).is_file():
            used |= set(_OPTION.findall(Path(value).read_text(encoding="utf-8", errors="replace")))
    return {k: v for k, v in options.items() if k in used}


def _collect(engine: Any, sinks: list[str]) -> dict[str, _Frames]:
    """Frames of each external sink component in ``sinks``, filled while ``engine`` runs."""
    frames = {}
    for sink in sinks:
        n = engine.external_sink_get_num_elements(sink)
        frames[sink] = _Frames([engine.external_sink_get_element_name(sink, i) for i in range(n)])

        def keep(data: np.ndarray, meta: Any, into: _Frames = frames[sink]) -> None:
            into.blocks.append(np.array(data, np.float32))
            into.period = into.period or float(meta.period)

        engine.external_sink_set_callback_ex(sink, keep)
    return frames


def _stream(smile: Any, config_path: str, options: dict[str, Any], sinks: list[str],
            y: np.ndarray, sr: int) -> dict[str, _Frames]:
    """Frames of the external ``sinks`` of ``config_path``, with ``y [shape=(n,), float32]``
    (``sr`` Hz) streamed into the ring-buffered input that ``options`` name
    (:func:`_source_options`): ``run()`` in a thread, the signal written one block at a time
    as the ring frees space, each block clipped to [-1, 32767/32768] and cast to int16 as
    :meth:`opensmile.Smile._extract` does (no whole-signal copy)."""
    from opensmile.core.config import config as smile_config

    engine = _engine(smile, config_path, options)
    try:
        frames = _collect(engine, sinks)
    except BaseException:
        engine.free()
        raise
    failed: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            failed.append(e)

    worker = threading.Thread(target=run, name="opensmile-stream", daemon=True)
    worker.start()
    try:
        step = int(_BLOCK_S * sr)
        source = smile_config.EXTERNAL_SOURCE_COMPONENT
        for start in range(0, y.size, step):
            block = np.clip(y[start:start + step], np.float32(-1.0), np.float32(32767 / 32768))
            block = (block * np.float32(32768)).astype(np.int16).tobytes()
            while not engine.external_audio_source_write_data(source, block):
                if failed or not worker.is_alive():
                    break
                time.sleep(0.0005)  # the ring is full until openSMILE has read on
            if failed:
                break
        engine.external_audio_source_set_eoi(source)
        worker.join()
    finally:
        if worker.is_alive():
            engine.abort()
            worker.join()
        engine.free()
    if failed:
        raise FeatureError(f"openSMILE failed on a streamed recording: {failed[0]}")
    return frames


def _sink_block(n_samples: int, sr: int) -> int:
    """Frames per read of the first pass's sinks for an ``n_samples``-long signal at ``sr``
    Hz, chosen so that the last, partial block is about half full.

    A whole-recording functional reads, once, every frame there is when openSMILE first
    ticks it at the end of input; frames its inputs flush after that tick are not in the
    functionals. A sink reads a block once there are that many frames, and at the end of
    input whatever is there. It reads what the functional would have if, at that tick, the
    frames left over from the last whole block plus those just flushed fit in one block,
    and no later flush reaches the next block: with the leftover at about half a block of
    at least :data:`_SINK_BLOCK_MIN` frames (10 ms frames assumed), both hold with about
    1,000 frames to spare.
    """
    frames = int(np.ceil(n_samples / sr / _LLD_STEP_S))
    if frames < _SINK_BLOCK_MIN:
        return 2 * frames + _SINK_BLOCK_MIN
    return min(range(_SINK_BLOCK_MIN, 2 * _SINK_BLOCK_MIN), key=lambda b: abs(frames % b - b / 2))


def _source_options(sr: int) -> dict[str, Any]:
    """Options of the ring-buffered signal input at ``sr`` Hz, int16 samples."""
    return {"source": _ring_source(sr), "sampleRate": sr, "nBits": 16}


def _first_pass(split: _Split) -> str:
    """The first-pass configuration: the signal source, the low-level-descriptor components
    and, in place of the functionals, one external sink per feed (``vmsink{i}``, reading
    ``\\cm[vmBlock]`` frames a callback, see :func:`_sink_block`)."""
    lines = ["[componentInstances:cComponentManager]", "instance[dataMemory].type=cDataMemory",
             "\\{\\cm[source{?}:include external source]}",
             "[componentInstances:cComponentManager]"]
    lines += [f"instance[{c.name}].type={c.kind}" if isinstance(c, _Component)
              else f"instance[vmsink{c}].type=cExternalSink" for c in split.first]
    for c in split.first:
        lines += c.lines if isinstance(c, _Component) else [
            f"[vmsink{c}:cExternalSink]", f"reader.dmLevel = {';'.join(split.feeds[c])}",
            "blocksize = \\cm[vmBlock{2000}:frames a sink reads at once]"]
    return "\n".join(lines) + "\n"


def _feed_level(split: _Split, i: int) -> str:
    """The level that holds feed ``i`` in the second pass: its level, or ``vmfeed{i}`` for
    several levels side by side (what the reading component sees of them)."""
    return split.feeds[i][0] if len(split.feeds[i]) == 1 else f"vmfeed{i}"


def _reading(component: _Component, level: str) -> tuple[str, ...]:
    """``component``'s section with its ``reader.dmLevel`` set to ``level``."""
    return tuple(f"reader.dmLevel = {level}" if _READER.match(line) else line
                 for line in component.lines)


def _second_pass(split: _Split, group: tuple[_Component, ...], feeds: list[int],
                 names: list[list[str]], outputs: list[str]) -> str:
    """A second-pass configuration: one external source per feed (``vmsrc{j}``: a level of
    ``\\cm[vmFrames]`` frames without time records, frame period ``\\cm[vmPeriod{j}]`` s,
    the first pass's value names), the ``group``'s components (reading a joined feed's
    level), and one external sink per output level (``vmsink{j}``)."""
    lines = ["[componentInstances:cComponentManager]", "instance[dataMemory].type=cDataMemory"]
    lines += [f"instance[vmsrc{j}].type=cExternalSource" for j in range(len(feeds))]
    lines += [f"instance[{c.name}].type={c.kind}" for c in group]
    lines += [f"instance[vmsink{j}].type=cExternalSink" for j in range(len(outputs))]
    for j, (i, fields) in enumerate(zip(feeds, names, strict=True)):
        lines += [f"[vmsrc{j}:cExternalSource]", f"writer.dmLevel = {_feed_level(split, i)}",
                  "writer.levelconf.isRb = 0", "writer.levelconf.growDyn = 0",
                  "buffersize = \\cm[vmFrames{1}:frames of the longest feed]",
                  f"period = \\cm[vmPeriod{j}{{0.01}}:frame period of feed {j}]"]
        lines += [f"fieldNames[{k}] = {name}" for k, name in enumerate(fields)]
    for c in group:
        read = [i for i, feed in enumerate(split.feeds) if feed == c.reads]
        lines += _reading(c, _feed_level(split, read[0])) if read else c.lines
    for j, level in enumerate(outputs):
        lines += [f"[vmsink{j}:cExternalSink]", f"reader.dmLevel = {level}"]
    return "\n".join(lines) + "\n"


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` of this process, or None elsewhere (looked up once)."""
    import ctypes

    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def _trim() -> None:
    """Hand freed heap pages back to the system (glibc; elsewhere nothing). The first pass's
    frames are small blocks, whose freed pages the allocator would otherwise keep for small
    allocations, while what openSMILE allocates next (levels, copies) is large."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _drain(blocks: deque[np.ndarray]) -> Iterator[np.ndarray]:
    """The blocks, each removed from ``blocks`` as it is handed out."""
    while blocks:
        yield blocks.popleft()


def _write_frames(engine: Any, source: str, frames: _Frames, *, release: bool) -> None:
    """Hand ``frames`` to the external source component ``source``, dropping each block once
    written if ``release`` (the last run reading them). Calls the SMILEapi function itself:
    the package's wrapper passes the number of values as the number of frames, which is only
    right for one value a frame."""
    import ctypes

    from opensmile.core.lib import SMILE_SUCCESS, smileapi

    for block in _drain(frames.blocks) if release else list(frames.blocks):
        result = smileapi.smile_extsource_write_data(
            engine._smileobj, source.encode("ascii"),
            block.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), block.shape[0])
        if result != SMILE_SUCCESS:
            raise FeatureError(f"openSMILE refused frames for {source} (code {result})")


def _feeds_of(split: _Split, group: tuple[_Component, ...]) -> list[int]:
    """Indices of the feeds ``group``'s components read, in order."""
    return list(dict.fromkeys(
        i for c in group for i, feed in enumerate(split.feeds) if feed == c.reads))


def _run_group(smile: Any, options: dict[str, Any], split: _Split, group: tuple[_Component, ...],
               lld: dict[int, _Frames], *, last: set[int]) -> dict[str, _Frames]:
    """The frames of the output levels the ``group``'s components write, computed by
    openSMILE from the first pass's frames (``lld``, by feed; those in ``last``, read by no
    later run, are released as they are handed over)."""
    written = {lv for c in group for lv in c.writes}
    feeds = _feeds_of(split, group)
    mine = [lv for lv in split.outputs if lv in written]
    text = _second_pass(split, group, feeds, [lld[i].names for i in feeds], mine)
    run_options = {**options, "vmFrames": max(lld[i].n for i in feeds)}
    run_options.update({f"vmPeriod{j}": lld[i].period for j, i in enumerate(feeds)})
    engine = _engine(smile, _include_file(f"{group[0].name}.conf", text),
                     _declared(text, run_options))
    try:
        frames = _collect(engine, [f"vmsink{j}" for j in range(len(mine))])
        for j, i in enumerate(feeds):
            _write_frames(engine, f"vmsrc{j}", lld[i], release=i in last)
            engine.external_source_set_eoi(f"vmsrc{j}")
        _trim()
        try:
            engine.run()
        except Exception as e:  # opensmile's own exception carries only a code
            raise FeatureError(f"openSMILE failed on the functionals of a long recording: {e}") from e
    finally:
        engine.free()
    return {level: frames[f"vmsink{j}"] for j, level in enumerate(mine)}


def _group_bytes(split: _Split, group: tuple[_Component, ...], lld: dict[int, _Frames]) -> int:
    """Bytes per frame a second-pass ``group`` holds at its peak: its feeds (4 bytes a value)
    and, per component reading one, openSMILE's copy of it and of one row of it (each with
    a 64-byte time record a frame), kept until the run ends."""
    width = {i: len(lld[i].names) for i in _feeds_of(split, group)}
    readers = [i for c in group for i, feed in enumerate(split.feeds) if feed == c.reads]
    return 4 * sum(width.values()) + sum(4 * width[i] + 64 + 68 for i in readers)


def _row(frames: list[_Frames]) -> np.ndarray | None:
    """The functionals row: the one frame of each level in ``frames``, concatenated as
    float64; None if a level has no frame (signal too short)."""
    if any(f.n != 1 for f in frames):
        return None
    return np.concatenate([f.blocks[0].reshape(-1) for f in frames]).astype(np.float64)


def _streamed_functionals(smile: Any, y: np.ndarray, sr: int) -> np.ndarray | None:
    """Functionals of ``y [shape=(n,), float32]`` (``sr`` Hz) with openSMILE reading it as a
    stream. Where the configuration cuts in two (:func:`_split`), the first pass streams the
    signal through the low-level descriptors and keeps the frames the functionals read as
    float32 blocks; the second runs openSMILE's own functionals components on them from
    external sources, one group at a time. Otherwise the whole configuration is streamed in
    one pass. Returns None when openSMILE produced no row (signal too short)."""
    from opensmile.core.config import config as smile_config

    options = smile._options()
    split = _split(smile.config_path, str(options["sinkLevel"]))
    if split is None:
        sink = smile_config.EXTERNAL_OUTPUT_COMPONENT
        streamed = _stream(smile, smile.config_path, {**options, **_source_options(sr)},
                           [sink], y, sr)
        return _row([streamed[sink]])
    text = _first_pass(split)
    first_options = {**options, **_source_options(sr), "vmBlock": _sink_block(y.size, sr),
                     "bufferModeConf": _include_file("lld_ring.conf.inc", _LLD_RING)}
    received = _stream(smile, _include_file("lld.conf", text), _declared(text, first_options),
                       [f"vmsink{i}" for i in range(len(split.feeds))], y, sr)
    lld = {i: received[f"vmsink{i}"] for i in range(len(split.feeds))}
    if any(f.n == 0 for f in lld.values()):
        return None
    out: dict[str, _Frames] = {}
    # the first pass's frames are released after the last group reading them: costliest last
    groups = sorted(split.groups, key=lambda g: _group_bytes(split, g, lld))
    for k, group in enumerate(groups):
        later = {i for g in groups[k + 1:] for i in _feeds_of(split, g)}
        out.update(_run_group(smile, options, split, group, lld, last=set(lld) - later))
        for i in set(lld) - later:
            del lld[i]
        _trim()
    row = _row([out[level] for level in split.outputs])
    names = [name for level in split.outputs for name in out[level].names]
    if row is not None and names != list(smile.feature_names):
        raise FeatureError(f"{smile.config_name}: the two-pass run gave other feature names "
                           "than the configuration (a bug in the cut; report it)")
    return row


def _opensmile_version() -> str:
    import opensmile

    return str(opensmile.__version__)


class OpenSmileSet(FeatureSet):
    """Functionals of one openSMILE configuration.

    Parameters
    ----------
    config : str
        A member name of :class:`opensmile.FeatureSet` (``"eGeMAPSv02"``, ``"IS09"`` ...) or
        the path of a custom openSMILE configuration file with external source and sink.

    Raises
    ------
    ConfigError
        If ``config`` is neither a known openSMILE set nor an existing ``.conf`` file.

    Examples
    --------
    >>> import numpy as np
    >>> fs = OpenSmileSet(config="eGeMAPSv02")
    >>> y = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype("float32")
    >>> fs.process_signal(y, 16000).shape
    (88,)
    """

    def __init__(self, *, config: str) -> None:
        import opensmile

        config = str(config)
        if config not in opensmile.FeatureSet.__members__:
            path = Path(config).expanduser().resolve()
            if not path.is_file():
                known = ", ".join(opensmile.FeatureSet.__members__)
                raise ConfigError(
                    f"openSMILE config {config!r} is neither a built-in set ({known}) "
                    "nor an existing .conf file"
                )
            config = str(path)
        super().__init__(config=config)
        self._config = config

    def settings(self) -> dict[str, Any]:
        """Settings keying the cache: the config (and its content hash) and openSMILE's version."""
        out: dict[str, Any] = {**super().settings(), "opensmile": _opensmile_version()}
        path = Path(self._config)
        if path.is_file():
            # a custom config is keyed by content: editing it must invalidate cached features
            out["config_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    def names(self) -> list[str]:
        """Feature names as openSMILE reports them (e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``)."""
        return list(_smile(self._config).feature_names)

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Functionals of one signal.

        Parameters
        ----------
        y : np.ndarray [shape=(n,), dtype=float32], mono signal in [-1, 1]
        sr : int, sample rate in Hz; must be 16000

        Returns
        -------
        np.ndarray [shape=(n_features,), dtype=float64]

        Raises
        ------
        FeatureError
            If ``y`` is not 1-D, ``sr`` is not 16 kHz, or the signal is too short for
            openSMILE to produce a frame.
        """
        y = np.asarray(y)
        if y.ndim != 1:
            raise FeatureError(f"{self.name}: expected a mono signal of shape (n,), got {y.shape}")
        if sr != self.sample_rate:
            raise FeatureError(f"{self.name}: expected {self.sample_rate} Hz, got {sr} Hz; resample first")
        if y.size == 0:
            raise FeatureError(f"{self.name}: empty signal")
        # opensmile scales by 32768 and casts to int16: a sample at +1.0 would wrap to -32768
        # (the streamed path clips block by block: no whole-signal copy)
        y = y.astype(np.float32, copy=False)
        if y.size > STREAM_ABOVE_S * sr:  # bounded copies of a long recording
            streamed = _streamed_functionals(_smile(self._config), y, sr)
            out = (np.full(len(self.names()), np.nan) if streamed is None else streamed)
        else:
            y = np.clip(y, -1.0, 32767 / 32768)
            with warnings.catch_warnings():
                # "Segment too short, filling with NaN" is turned into a FeatureError below
                warnings.simplefilter("ignore", UserWarning)
                df = _smile(self._config).process_signal(y, sr)
            out = df.to_numpy(dtype=np.float64).reshape(-1)
        if np.isnan(out).all():
            raise FeatureError(
                f"{self.name}: signal of {y.size / sr:.3f} s is too short for openSMILE "
                f"(every feature undefined)"
            )
        return out


@register("opensmile")
class _GenericOpenSmile(OpenSmileSet):
    """Any openSMILE configuration by name or path (see :class:`OpenSmileSet`)."""


@register("egemaps")
class EGeMAPS(OpenSmileSet):
    """eGeMAPS v02: 88 functionals of pitch, loudness, voice quality, formants and spectrum."""

    def __init__(self) -> None:
        super().__init__(config="eGeMAPSv02")


@register("compare")
class ComParE(OpenSmileSet):
    """ComParE 2016: 6,373 brute-force functionals of 65 LLDs and their deltas."""

    def __init__(self) -> None:
        super().__init__(config="ComParE_2016")


@register("is09")
class IS09(OpenSmileSet):
    """INTERSPEECH 2009 Emotion Challenge: 16 LLDs + deltas x 12 functionals = 384."""

    def __init__(self) -> None:
        super().__init__(config="IS09")
