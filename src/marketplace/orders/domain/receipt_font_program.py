"""The font programs embedded in the documents: each subset built once per process per
(font file, glyph set, subsetting options) and reused by every document that embeds it.

fpdf2's `output()` embeds a TTF font by subsetting the document's own fontTools font in
place (`fpdf/output.py`, `OutputProducer._add_fonts`, as of 2.8):

    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=font.subset.get_all_glyph_names())
    subsetter.subset(font.ttfont)
    ... font.ttfont.getGlyphID(name) for each glyph the document used ...
    font.ttfont.save(output)
    ... "CFF " in font.ttfont (CFF fonts only) ... font.close()

That is three quarters of a receipt's CPU, and its result depends only on the font file, the
glyphs asked for and the options. So a document's `font.ttfont` is a `FontProgram`, which
answers exactly those calls from a subset built once (`Programs`), and `fpdf.output.ftsubset`
(fpdf2's module-level `from fontTools import subset as ftsubset`) is replaced, once, by a
namespace that is fontTools' module but for `Subsetter`: its `subset(font)` hands a
`FontProgram` the glyphs and options it was given, and subsets any other font as fontTools
does, so nothing else in the process changes. The subset is built exactly as fpdf2 builds
it, from the same bytes, so a document's bytes are the ones fpdf2 alone would give.

If fpdf2 stops importing `ftsubset` that way, the replacement is not installed and
`installed()` says so: documents then get fontTools fonts and fpdf2 subsets them itself.

The embedded program is then compressed (`PDFFontStream`, zlib at fpdf2's level) for every
document, although documents in the same scripts embed the same subset: a sixth of a
document's CPU. `fpdf.output.PDFFontStream` is replaced, once, by `SharedFontStream`, which
keeps the compressed stream of the programs embedded lately and hands it to the next
document embedding the same bytes. zlib gives the same output for the same input at the same
level, so a document's bytes do not change; if this fpdf2's stream does not keep its parts
where the replacement expects them, it is not installed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from io import BytesIO
from os import PathLike
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Final

import fpdf.output
import fpdf.syntax
from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

# Per font file: enough for every combination of Unicode blocks a shop's documents touch
# (see `receipt_font`), a few hundred kilobytes each at most.
PROGRAMS_PER_FONT: Final = 32


@dataclass(frozen=True, slots=True)
class Program:
    """A subset font as embedded: its file, its glyphs' ids and its tables' tags."""

    data: bytes
    glyph_ids: Mapping[str, int]
    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Request:
    """What a subsetter was asked to keep (`Subsetter.populate`)."""

    glyph_names: frozenset[str]
    glyph_ids: frozenset[int]
    unicodes: frozenset[int]


class Programs:
    """One font file's programs built lately, the least recently used evicted first.
    Thread-safe: documents render in worker threads."""

    def __init__(self, data: bytes, size: int = PROGRAMS_PER_FONT) -> None:
        self.data = data
        self.size = size
        self.builds = 0  # programs built (a miss), since the last `clear()`
        self.hits = 0  # programs found built
        self._lock = threading.Lock()
        self._built: OrderedDict[Hashable, Program] = OrderedDict()

    def get(self, request: Request, options: Any) -> Program:
        """The font file subset to `request` with `options`, built if not found."""
        options_key = _options_key(options)
        if options_key is None:  # options this cache cannot tell apart: build, keep nothing
            with self._lock:
                self.builds += 1
            return _build(self.data, request, options)
        key = (request, options_key)
        with self._lock:
            program = self._built.get(key)
            if program is not None:
                self._built.move_to_end(key)
                self.hits += 1
                return program
            self.builds += 1
        # Built outside the lock: threads embedding other glyph sets do not wait for this
        # one, and two threads building the same one build the same bytes.
        program = _build(self.data, request, options)
        with self._lock:
            self._built[key] = program
            self._built.move_to_end(key)
            while len(self._built) > self.size:
                self._built.popitem(last=False)
        return program

    def clear(self) -> None:
        with self._lock:
            self._built.clear()
            self.builds = self.hits = 0

    def __len__(self) -> int:
        return len(self._built)


def _build(data: bytes, request: Request, options: Any) -> Program:
    """What fpdf2's `output()` does to a document's font, done to a font read from `data`."""
    font = TTFont(BytesIO(data), recalcTimestamp=False, lazy=True)
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(
        glyphs=request.glyph_names, gids=request.glyph_ids, unicodes=request.unicodes
    )
    subsetter.subset(font)
    glyph_ids = dict(font.getReverseGlyphMap())
    output = BytesIO()
    font.save(output)
    tags = frozenset(font.keys())
    font.close()
    return Program(output.getvalue(), glyph_ids, tags)


def _options_key(options: Any) -> Hashable | None:
    """The subsetting options' values, hashable; None if one of them is not."""
    try:
        key = tuple(sorted((name, _frozen(value)) for name, value in vars(options).items()))
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: object) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(_frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    return value  # hashed by the caller, who gives up on a TypeError


class FontProgram:
    """A document's font as fpdf2's `output()` uses it (`font.ttfont`): subset once, by
    `Programs`. Before that it is the font file itself, afterwards the subset; anything other
    than the calls `output()` makes is answered by a fontTools font read from those bytes."""

    def __init__(self, programs: Programs, tags: frozenset[str]) -> None:
        self._programs = programs
        self._tags = tags
        self._program: Program | None = None
        self._font: TTFont | None = None

    def embed(self, request: Request, options: Any) -> None:
        """`Subsetter(options).subset(self)` after it was populated with `request`."""
        program = self._programs.get(request, options)
        self._program = program
        self._tags = program.tags
        self.close()  # a font read before the subset would not be this one any longer

    def getGlyphID(self, name: str) -> int:  # fontTools' name for it
        if self._program is not None:
            glyph_id = self._program.glyph_ids.get(name)
            if glyph_id is not None:
                return glyph_id
        return int(self._read().getGlyphID(name))

    def save(self, file: IO[bytes] | str | PathLike[str]) -> None:
        if self._program is None:
            self._read().save(file)
        elif isinstance(file, str | PathLike):
            Path(file).write_bytes(self._program.data)
        else:
            file.write(self._program.data)

    def close(self) -> None:
        if self._font is not None:
            self._font.close()
            self._font = None

    def __contains__(self, tag: str) -> bool:
        return tag in self._tags

    def __getitem__(self, tag: str) -> Any:
        return self._read()[tag]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy, pickle and our own slots: not the font's
            raise AttributeError(name)
        return getattr(self._read(), name)

    def _read(self) -> TTFont:
        if self._font is None:
            data = self._programs.data if self._program is None else self._program.data
            self._font = TTFont(BytesIO(data), recalcTimestamp=False, lazy=True)
        return self._font


class _Subsetter(ftsubset.Subsetter):  # type: ignore[misc]
    """fontTools' subsetter, which lets a `FontProgram` subset itself from its cache."""

    def subset(self, font: Any) -> None:
        if isinstance(font, FontProgram):
            request = Request(
                frozenset(self.glyph_names_requested),
                frozenset(self.glyph_ids_requested),
                frozenset(self.unicodes_requested),
            )
            font.embed(request, self.options)
        else:
            super().subset(font)


class _SubsetModule(ModuleType):
    """`fontTools.subset` as fpdf2's `output()` sees it: the same but for `Subsetter`."""

    Subsetter = _Subsetter

    def __getattr__(self, name: str) -> Any:
        return getattr(ftsubset, name)

    def __dir__(self) -> Iterable[str]:
        return dir(ftsubset)


def installed() -> bool:
    """Whether `output()` subsets through `_Subsetter`, so that a `FontProgram` works."""
    return isinstance(getattr(fpdf.output, "ftsubset", None), _SubsetModule)


# Once, at import (under Python's import lock); only over fontTools' own module, so that an
# fpdf2 which no longer imports it that way is left alone and `installed()` is False.
if getattr(fpdf.output, "ftsubset", None) is ftsubset:
    fpdf.output.ftsubset = _SubsetModule(  # type: ignore[attr-defined]
        f"{__name__}.ftsubset", _SubsetModule.__doc__
    )


# Per process: the compressed streams of the programs embedded lately (a few per font and
# set of scripts; an old layout's documents each embed their own, hence the bound).
STREAMS_KEPT: Final = 64
_streams_lock = threading.Lock()
_streams: OrderedDict[bytes, bytes] = OrderedDict()
_original_font_stream: Final = fpdf.output.PDFFontStream


class SharedFontStream(_original_font_stream):  # type: ignore[misc,valid-type]
    """fpdf2's font stream, compressed once per program embedded (see the module)."""

    _contents: bytes

    def __init__(self, contents: bytes) -> None:
        contents = bytes(contents)
        with _streams_lock:
            compressed = _streams.get(contents)
            if compressed is not None:
                _streams.move_to_end(contents)
        if compressed is None:
            super().__init__(contents)
            with _streams_lock:
                _streams[contents] = self._contents
                while len(_streams) > STREAMS_KEPT:
                    _streams.popitem(last=False)
            return
        super().__init__(b"")  # the stream's other parts, as fpdf2 sets them
        self._contents = compressed
        self.length = len(compressed)
        self.length1 = len(contents)


def streams_kept() -> int:
    with _streams_lock:
        return len(_streams)


def clear_streams() -> None:
    with _streams_lock:
        _streams.clear()


def _stream_parts_known() -> bool:
    """Whether fpdf2's stream keeps its compressed bytes and lengths where the replacement
    sets them."""
    import zlib

    probe = _original_font_stream(b"probe")
    return (
        getattr(probe, "_contents", None) == zlib.compress(b"probe", _COMPRESSION_LEVEL)
        and getattr(probe, "length", None) == len(probe._contents)
        and getattr(probe, "length1", None) == len(b"probe")
    )


_COMPRESSION_LEVEL: Final = getattr(fpdf.syntax.PDFContentStream, "_COMPRESSION_LEVEL", -1)

if _stream_parts_known():
    fpdf.output.PDFFontStream = SharedFontStream  # type: ignore[misc]
